"""Fixtures for the Docker end-to-end tests: a fresh compose stack per test, always torn down."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from harness.backends.compose import prune_old_app_images
from tests.e2e.stack import Stack


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    for cmd in (["docker", "info"], ["docker", "compose", "version"]):
        if subprocess.run(cmd, capture_output=True, timeout=30).returncode != 0:
            return f"`{' '.join(cmd)}` fails"
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    problem = _docker_problem()
    if problem:
        message = (f"Docker is needed for tests/e2e but {problem}: run scripts/install-docker.sh "
                   "and scripts/offline-images.sh, or deselect these tests with -m 'not docker'")
        if os.environ.get("CI") == "true":  # CI provides an engine: its absence is a failure
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def app_image(docker_ready: None) -> None:
    """Build the app image once per session (from the current source), not once per test."""
    builder = Stack()
    try:
        builder.compose("build", "-q", timeout=900)
    finally:
        builder.remove_secrets()
    prune_old_app_images()  # the previous session's build, untagged now


@pytest.fixture
def make_stack(app_image: None, request: pytest.FixtureRequest) -> Iterator[Callable[..., Stack]]:
    """Build a Stack with extra environment and bring it up; `down -v` always runs afterwards."""
    stacks: list[Stack] = []

    def _make(env: dict[str, str] | None = None, *up_args: str) -> Stack:
        stack = Stack(env=env)
        stacks.append(stack)
        stack.up(*up_args)
        return stack

    try:
        yield _make
    finally:
        failed = getattr(request.node, "rep_call", None)
        for stack in stacks:
            if failed is not None and failed.failed:
                print(f"--- logs of {stack.project} ---\n{stack.logs()}")
            stack.down()


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
