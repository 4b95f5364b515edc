"""scripts/offline-images.sh as a new user meets it: what is missing is named before any work,
and a failing step leaves no temporary folder behind. Docker, debootstrap and Go are stand-ins
here (small scripts on PATH), so nothing is built or installed."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE_DOCKER = """#!/bin/sh
case "$1 $2" in
  "info "*|"compose version") exit 0 ;;
  "image inspect") case "$3" in *present*) exit 0 ;; *) exit 1 ;; esac ;;
esac
exit 1
"""
FAILING = "#!/bin/sh\necho 'simulated failure' >&2\nexit 1\n"


def _bin(tmp_path: Path, **tools: str) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, body in tools.items():
        (folder / name).write_text(body)
        (folder / name).chmod(0o755)
    return folder


def _run(tmp_path: Path, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {"PATH": f"{folder}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
            "DOCKER": str(folder / "docker"), "SKIP_APP_BUILD": "1",
            "OFFLINE_BASE_IMAGE": "taskq-test/absent-base:1", "OFFLINE_TOXIPROXY_IMAGE": "taskq-test/absent-toxi:1",
            **env}
    return subprocess.run(["bash", str(ROOT / "scripts" / "offline-images.sh")], env=full,
                          capture_output=True, text=True, timeout=60)


def test_missing_docker_is_named_with_the_fix(tmp_path: Path) -> None:
    proc = _run(tmp_path, _bin(tmp_path), DOCKER=str(tmp_path / "no-docker"))
    assert proc.returncode == 1
    assert "docker CLI is missing: run scripts/install-docker.sh" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="building the base image needs root; the check says so first")
def test_missing_go_is_named_before_any_work(tmp_path: Path) -> None:
    proc = _run(tmp_path, _bin(tmp_path, docker=FAKE_DOCKER, debootstrap=FAILING))
    assert proc.returncode == 1
    assert "Go is missing" in proc.stderr and "debootstrap bookworm" not in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="building the base image needs root")
def test_a_failed_debootstrap_leaves_no_temporary_folder(tmp_path: Path) -> None:
    before = set(glob.glob("/var/tmp/taskq-base.*"))
    proc = _run(tmp_path, _bin(tmp_path, docker=FAKE_DOCKER, debootstrap=FAILING, go=FAILING))
    assert proc.returncode == 1 and "simulated failure" in proc.stderr
    assert set(glob.glob("/var/tmp/taskq-base.*")) <= before


def test_a_failed_go_install_leaves_no_temporary_folder(tmp_path: Path) -> None:
    proc = _run(tmp_path, _bin(tmp_path, docker=FAKE_DOCKER, go=FAILING),
                OFFLINE_BASE_IMAGE="taskq-test/present-base:1")
    assert proc.returncode != 0 and "simulated failure" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["bin"], "a temporary folder was left behind"
