"""scripts/offline-images.sh writes the local image names into `.env`, which `docker compose` reads
by itself: a new shell needs no `source docker/offline.env` (issue 15, item 3)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "# >>> scripts/offline-images.sh"
OFFLINE = ('PYTHON_IMAGE=local/base:1\nREDIS_IMAGE=local/base:1\nTOXIPROXY_IMAGE=local/toxiproxy:1\n'
           'PIP_ARGS="--no-index --find-links /wheelhouse"\n')


def _write_dotenv(project: Path) -> str:
    """Run the script's write_dotenv step against `project` (sourcing the script runs no step)."""
    (project / "offline.env").write_text("# written by the script\n" + OFFLINE)
    script = (f'. "{ROOT}/scripts/offline-images.sh"; ENV_FILE="{project}/offline.env"; '
              f'DOTENV="{project}/.env"; ROOT="{project}"; write_dotenv')
    subprocess.run(["bash", "-c", script], check=True, capture_output=True, timeout=30)
    return (project / ".env").read_text()


def test_the_block_replaces_an_older_one_and_keeps_the_users_lines(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("REDIS_PASSWORD=mine\n" + BEGIN + " (old)\nREDIS_IMAGE=stale\n"
                                   "# <<< scripts/offline-images.sh\nGATEWAY_HOST_PORT=5001\n")
    text = _write_dotenv(tmp_path)
    assert "REDIS_PASSWORD=mine" in text and "GATEWAY_HOST_PORT=5001" in text
    assert "stale" not in text and text.count(BEGIN) == 1
    assert OFFLINE in text
    assert _write_dotenv(tmp_path) == text  # a second run changes nothing


def test_compose_takes_the_images_from_dotenv_without_sourcing(tmp_path: Path) -> None:
    if shutil.which("docker") is None or subprocess.run(["docker", "compose", "version"],
                                                        capture_output=True).returncode != 0:
        pytest.skip("the docker CLI with compose v2 is not installed (scripts/install-docker.sh)")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    _write_dotenv(tmp_path)
    names = ("PYTHON_IMAGE", "REDIS_IMAGE", "TOXIPROXY_IMAGE", "PIP_ARGS", "APP_IMAGE", "COMPOSE_FILE")
    env = {k: v for k, v in os.environ.items() if k not in names}  # a new shell: nothing sourced
    proc = subprocess.run(["docker", "compose", "config", "--format", "json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    assert services["redis"]["image"] == "local/base:1"
    assert services["sentinel-1"]["image"] == "local/base:1"
    assert services["toxiproxy"]["image"] == "local/toxiproxy:1"
    assert services["gateway"]["build"]["args"] == {"PYTHON_IMAGE": "local/base:1",
                                                    "PIP_ARGS": "--no-index --find-links /wheelhouse"}
    # the image is built once: only the gateway has a build section, the workers reuse its image
    assert "build" not in services["worker"] and services["worker"]["pull_policy"] == "never"
    assert services["worker"]["image"] == services["gateway"]["image"]
