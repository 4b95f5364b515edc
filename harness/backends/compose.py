"""The compose CLI side of the Docker backend: project files, `up`, `down`, leftovers.

The stack is docker-compose.yml (owned by the system) plus a generated override that passes
the scenario's settings to the gateway and workers (the base file only forwards a few). Images:
docker/offline.env (written by scripts/offline-images.sh) when present, else the public ones.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OFFLINE_ENV = ROOT / "docker" / "offline.env"
PROJECT_LABEL = "com.docker.compose.project"


def env_file_values(path: Path = OFFLINE_ENV) -> dict[str, str]:
    """KEY=value lines (quotes stripped); empty when the file is absent."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip().strip('"')
    return out


def write_override(path: Path, config: Mapping[str, str]) -> Path:
    """A compose override giving gateway and worker every scenario setting."""
    env = {k: str(v) for k, v in config.items()}
    doc = {"services": {"gateway": {"environment": env}, "worker": {"environment": env}}}
    path.write_text(yaml.safe_dump(doc, sort_keys=True))
    return path


class Compose:
    """`docker compose -p <project> -f base [-f override]` with a fixed environment."""

    def __init__(self, project: str, *, files: list[Path], env: Mapping[str, str]) -> None:
        self.project = project
        self.files = files
        self.env = {**os.environ, **{k: v for k, v in env_file_values().items()
                                     if k not in os.environ}, **env}

    def argv(self, *args: str) -> list[str]:
        out = ["docker", "compose", "-p", self.project, "--project-directory", str(ROOT)]
        for f in self.files:
            out += ["-f", str(f)]
        return out + list(args)

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = self.argv(*args)
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"`{' '.join(cmd[:8])} ... {' '.join(args)}` failed "
                               f"({proc.returncode}):\n{proc.stderr.strip()[-2000:]}")
        return proc


APP_IMAGE_LABEL = "org.taskq.image=app"  # set by docker-compose.yml's build section


def prune_old_app_images() -> None:
    """Remove untagged app images no container uses; never raises.

    Compose labels what it builds with the project name, so a build under a new project (each
    harness run, each e2e session) is a new image and the previous one loses its tag (~190 MB).
    """
    try:
        subprocess.run(["docker", "image", "prune", "-f", "--filter", f"label={APP_IMAGE_LABEL}"],
                       capture_output=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError):
        pass


def compose_down(project: str, rec: Mapping[str, object] | None = None) -> list[str]:
    """Remove a project's containers, networks and volumes; never raises. Returns problems."""
    problems: list[str] = []
    try:
        proc = Compose(project, files=[COMPOSE_FILE], env={}).run(
            "down", "-v", "--remove-orphans", "-t", "3", timeout=180, check=False)
        if proc.returncode != 0:
            problems.append(f"compose down {project}: {proc.stderr.strip()[-500:]}")
    except (OSError, subprocess.SubprocessError) as exc:
        problems.append(f"compose down {project}: {exc}")
    problems = remove_by_label(project) if problems else []
    return problems


def remove_by_label(project: str) -> list[str]:
    """Fallback when compose cannot: force-remove everything labelled with the project."""
    problems: list[str] = []
    try:
        import docker
        client = docker.from_env(timeout=30)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001
        return [f"no Docker engine to remove {project}: {exc}"]
    label = f"{PROJECT_LABEL}={project}"
    for getter in (lambda: client.containers.list(all=True, filters={"label": label}),
                   lambda: client.networks.list(filters={"label": label}),
                   lambda: client.volumes.list(filters={"label": label})):
        try:
            for obj in getter():
                try:
                    obj.remove(force=True) if hasattr(obj, "attrs") and "State" in obj.attrs \
                        else obj.remove()
                except Exception as exc:  # noqa: BLE001
                    problems.append(f"{project}: cannot remove {obj.name}: {exc}")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{project}: {exc}")
    client.close()
    return problems


def leftovers(project: str) -> list[str]:
    """Names of containers, networks and volumes of the project that still exist."""
    import docker
    client = docker.from_env(timeout=30)  # type: ignore[attr-defined]
    label = f"{PROJECT_LABEL}={project}"
    try:
        return ([c.name for c in client.containers.list(all=True, filters={"label": label})]
                + [n.name for n in client.networks.list(filters={"label": label})]
                + [v.name for v in client.volumes.list(filters={"label": label})])
    finally:
        client.close()
