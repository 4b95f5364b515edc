"""`docker pause` on a busy machine: runc's "unable to freeze" is retried, nothing else is.

The container is a stand-in: runc's freezer timeout cannot be provoked on demand, and what is
under test is the retry policy around the Docker API call, not Docker.
"""

from __future__ import annotations

import docker.errors
import pytest

from harness.backends.docker import freeze

FREEZE_ERROR = ("Cannot pause container be8f: OCI runtime pause failed: "
                "unable to freeze: unknown")


class Container:
    """Fails `pause` with the given errors, in order, then pauses."""

    def __init__(self, *errors: str, paused_after_error: bool = False) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.status = "running"
        self.paused_after_error = paused_after_error

    def pause(self) -> None:
        self.calls += 1
        if self.errors:
            if self.paused_after_error:
                self.status = "paused"
            raise docker.errors.APIError(self.errors.pop(0))
        self.status = "paused"

    def reload(self) -> None:
        """The status is kept up to date already."""


def test_unable_to_freeze_is_retried_until_the_pause_takes() -> None:
    c = Container(FREEZE_ERROR, FREEZE_ERROR)
    freeze(c)
    assert (c.calls, c.status) == (3, "paused")


def test_a_freeze_that_went_through_despite_the_error_is_not_repeated() -> None:
    c = Container(FREEZE_ERROR, paused_after_error=True)
    freeze(c)
    assert (c.calls, c.status) == (1, "paused")


def test_other_errors_are_raised_at_once() -> None:
    c = Container("Container be8f is not running")
    with pytest.raises(docker.errors.APIError, match="not running"):
        freeze(c)
    assert c.calls == 1


def test_the_last_attempt_s_error_is_raised() -> None:
    c = Container(*[FREEZE_ERROR] * 5)
    with pytest.raises(docker.errors.APIError, match="unable to freeze"):
        freeze(c, attempts=3)
    assert c.calls == 3
