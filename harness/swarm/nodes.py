"""A multi-node Docker Swarm on one machine: Docker-in-Docker node containers.

Each node is a container running its own dockerd (image `taskq-swarm/node`, built offline from
the project's Debian base plus the host's Debian Docker packages: deploy/swarm/node/). Node 1
runs `docker swarm init`, the others join; each node gets the labels the stack's placement
constraints ask for (harness.swarm.stack.PLACEMENT) and the images, loaded from the host
(`docker save` once, `docker load` on every node). The host talks to each node's engine at
tcp://<node address>:2375 on a private bridge network. Everything carries the label
`org.taskq.swarm=<cluster>` so `remove_cluster` finds it after a killed run.
Usage: python3 -m harness.swarm.nodes up [--nodes 3] [--name taskq-swarm-dev] | down --name N
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "deploy" / "swarm" / "node"
def _node_image_tag() -> str:
    """taskq-swarm/node:<hash of deploy/swarm/node/>: a changed entry script rebuilds it."""
    import hashlib
    digest = hashlib.sha256()
    for name in ("Dockerfile", "entry.sh"):
        digest.update((NODE_DIR / name).read_bytes())
    return f"taskq-swarm/node:{digest.hexdigest()[:12]}"


NODE_IMAGE = _node_image_tag()
BASE_IMAGE = "taskq-local/debian-base:bookworm"
LABEL = "org.taskq.swarm"
API_PORT = 2375
PACKAGES = ("docker.io", "containerd", "runc", "tini", "iptables", "libip4tc2", "libip6tc2",
            "libxtables12", "libnftnl11", "libmnl0", "libnetfilter-conntrack3", "libnfnetlink0",
            "libdevmapper1.02.1", "libseccomp2")
SKIP_DOCS = ("/usr/share/doc", "/usr/share/man", "/usr/share/zsh", "/usr/share/bash-completion",
             "/usr/share/fish", "/usr/share/lintian")
# Not --privileged: this machine's dockerd lacks CAP_SYS_RESOURCE in its bounding set, and
# --privileged then fails with "unable to apply caps: operation not permitted" (docs/swarm.md).
NODE_SECURITY = ("--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
                 "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                 "--security-opt", "systempaths=unconfined")


class SwarmError(RuntimeError):
    """The swarm could not be formed or changed; the message says which step and why."""


def node_labels(index: int) -> dict[str, str]:
    """Labels of node `index` (1-based) for the stack's placement (pure).

    node-1: manager, Redis primary, Sentinel 1, Toxiproxy, a gateway; node-2: replica,
    Sentinel 2, a gateway; node-3: Sentinel 3; workers spread over every node.
    """
    labels = {f"taskq.sentinel-{index}": "true"} if index <= 3 else {}
    if index == 1:
        labels.update({"taskq.redis": "primary", "taskq.toxiproxy": "true", "taskq.gateway": "true"})
    elif index == 2:
        labels.update({"taskq.redis": "replica", "taskq.gateway": "true"})
    return labels


def run(argv: Sequence[str], *, timeout: float = 120, check: bool = True,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """A command; raises SwarmError with its stderr when it fails and `check`."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, timeout=timeout, input=stdin)
    except subprocess.TimeoutExpired as exc:
        raise SwarmError(f"`{' '.join(argv[:6])}` timed out after {timeout:.0f}s") from exc
    out = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                      proc.stderr.decode(errors="replace"))
    if check and proc.returncode != 0:
        raise SwarmError(f"`{' '.join(argv[:8])}` failed ({proc.returncode}): {out.stderr.strip()[-800:]}")
    return out


def package_files(packages: Sequence[str] = PACKAGES) -> list[str]:
    """Files (not folders, not docs) of the host's installed Debian packages."""
    if shutil.which("dpkg") is None:
        raise SwarmError("dpkg not found: the swarm node image is made from the host's Debian "
                         "Docker packages (scripts/install-docker.sh installs them)")
    proc = run(["dpkg", "-L", *packages], check=False)
    if proc.returncode != 0:
        raise SwarmError(f"missing host packages ({proc.stderr.strip()[-300:]}); install them: "
                         f"apt-get install {' '.join(packages)}")
    paths = [Path(line) for line in proc.stdout.splitlines() if line.startswith("/")]
    return sorted({str(p) for p in paths if not str(p).startswith(SKIP_DOCS)
                   and (p.is_symlink() or p.is_file())})


def image_exists(image: str) -> bool:
    return run(["docker", "image", "inspect", image], check=False).returncode == 0


def build_node_image(*, image: str = NODE_IMAGE, base: str = BASE_IMAGE, force: bool = False) -> float:
    """Build the node image unless present; returns seconds taken (0 when it existed)."""
    if image_exists(image) and not force:
        return 0.0
    if not image_exists(base):
        raise SwarmError(f"base image {base} missing: run scripts/offline-images.sh first")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="taskq-swarm-node-") as ctx:
        files = Path(ctx) / "files.txt"
        files.write_text("\n".join(package_files()) + "\n")
        run(["tar", "-cf", f"{ctx}/rootfs.tar", "-T", str(files)], timeout=300)
        for name in ("Dockerfile", "entry.sh"):
            shutil.copy(NODE_DIR / name, Path(ctx) / name)
        run(["docker", "build", "-q", "--build-arg", f"BASE_IMAGE={base}", "-t", image, ctx],
            timeout=600)
    return time.monotonic() - t0


@dataclass(frozen=True)
class Node:
    """One node container: `node-3` is container `<cluster>-node-3`."""

    name: str
    container: str
    ip: str

    def docker(self, *args: str) -> list[str]:
        """argv of the docker CLI talking to this node's engine."""
        return ["docker", "-H", f"tcp://{self.ip}:{API_PORT}", *args]


class Cluster:
    """The node containers of one swarm, their network and volumes (all labelled)."""

    def __init__(self, name: str, *, count: int = 3, image: str = NODE_IMAGE) -> None:
        if count < 1:
            raise SwarmError(f"a swarm needs at least 1 node, not {count}")
        self.name = name
        self.count = count
        self.image = image
        self.network = f"{name}-net"
        self.nodes: list[Node] = []

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def up(self, images: Sequence[str]) -> dict[str, float]:
        """Start the nodes, form the swarm, label the nodes, load `images`; returns timings."""
        times: dict[str, float] = {"build_node_image_s": build_node_image(image=self.image)}
        t0 = time.monotonic()
        run(["docker", "network", "create", "--label", f"{LABEL}={self.name}", self.network])
        for i in range(1, self.count + 1):
            self._start_node(i)
        for node in self.nodes:
            self.wait_engine(node)
        times["nodes_up_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        self._form()
        times["swarm_formed_s"] = time.monotonic() - t0
        t0 = time.monotonic()
        self.load_images(images)
        times["images_loaded_s"] = time.monotonic() - t0
        return {k: round(v, 1) for k, v in times.items()}

    def _start_node(self, i: int) -> None:
        container = f"{self.name}-node-{i}"
        run(["docker", "volume", "create", "--label", f"{LABEL}={self.name}", f"{container}-data"])
        run(["docker", "run", "-d", *NODE_SECURITY, "--name", container, "--hostname", f"node-{i}",
             "--label", f"{LABEL}={self.name}", "--network", self.network,
             "-v", f"{container}-data:/var/lib/docker", self.image])
        ip = run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  container]).stdout.strip()
        self.nodes.append(Node(f"node-{i}", container, ip))

    def answers(self, node: Node) -> bool:
        try:
            return run(node.docker("version", "-f", "{{.Server.Version}}"), check=False,
                       timeout=10).returncode == 0
        except SwarmError:  # timed out: a stopped or cut-off node
            return False

    def restart_node(self, node: Node) -> Node:
        """`docker start` a stopped node; its address may change, so it is read again."""
        run(["docker", "start", node.container])
        ip = run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                  node.container]).stdout.strip()
        fresh = Node(node.name, node.container, ip)
        self.nodes = [fresh if n.name == node.name else n for n in self.nodes]
        self.wait_engine(fresh)
        return fresh

    def wait_engine(self, node: Node, *, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.answers(node):
            if time.monotonic() > deadline:
                logs = run(["docker", "logs", "--tail", "20", node.container], check=False)
                raise SwarmError(f"dockerd in {node.container} did not answer within {timeout:.0f}s:"
                                 f"\n{logs.stderr.strip()[-1500:]}")
            time.sleep(0.3)

    def _form(self) -> None:
        m = self.manager
        run(m.docker("swarm", "init", "--advertise-addr", m.ip))
        token = run(m.docker("swarm", "join-token", "-q", "worker")).stdout.strip()
        for node in self.nodes[1:]:
            run(node.docker("swarm", "join", "--token", token, f"{m.ip}:2377"), timeout=60)
        for i, node in enumerate(self.nodes, start=1):
            args = [a for k, v in node_labels(i).items() for a in ("--label-add", f"{k}={v}")]
            run(m.docker("node", "update", *args, node.name))

    def load_images(self, images: Sequence[str]) -> None:
        """`docker save` once, `docker load` into every node at once."""
        if not images:
            return
        with tempfile.TemporaryDirectory(prefix="taskq-swarm-images-") as tmp:
            archive = f"{tmp}/images.tar"
            run(["docker", "save", "-o", archive, *images], timeout=600)
            errors: list[str] = []

            def load(node: Node) -> None:
                try:
                    run(node.docker("load", "-q", "-i", archive), timeout=900)
                except SwarmError as exc:
                    errors.append(f"{node.name}: {exc}")
            threads = [threading.Thread(target=load, args=(n,)) for n in self.nodes]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            if errors:
                raise SwarmError("loading images failed: " + "; ".join(errors))

    def down(self) -> list[str]:
        return remove_cluster(self.name)


def remove_cluster(name: str) -> list[str]:
    """Remove every container, volume and network labelled with the cluster; never raises."""
    problems: list[str] = []
    label = f"label={LABEL}={name}"
    for kind, ls, rm in (("container", ["ps", "-aq"], ["rm", "-f", "-v"]),
                         ("volume", ["volume", "ls", "-q"], ["volume", "rm", "-f"]),
                         ("network", ["network", "ls", "-q"], ["network", "rm"])):
        try:
            ids = run(["docker", *ls, "--filter", label], timeout=60).stdout.split()
            if ids:
                run(["docker", *rm, *ids], timeout=180)
        except SwarmError as exc:
            problems.append(f"{name}: removing {kind}s: {exc}")
    return problems


def leftovers(name: str) -> list[str]:
    label = f"label={LABEL}={name}"
    out: list[str] = []
    for ls in (["ps", "-a", "--format", "{{.Names}}"], ["volume", "ls", "--format", "{{.Name}}"],
               ["network", "ls", "--format", "{{.Name}}"]):
        out += run(["docker", *ls, "--filter", label], check=False).stdout.split()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m harness.swarm.nodes",
                                description="A multi-node Docker Swarm of dind containers")
    p.add_argument("action", choices=("up", "down", "build"))
    p.add_argument("--name", default="taskq-swarm-dev", help="cluster name (prefix of everything)")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--image", action="append", default=[], help="image to load into every node")
    args = p.parse_args(argv)
    try:
        if args.action == "build":
            print(f"built in {build_node_image(force=True):.1f}s")
        elif args.action == "up":
            cluster = Cluster(args.name, count=args.nodes)
            try:
                print(cluster.up(args.image))
            except BaseException:
                cluster.down()
                raise
            for n in cluster.nodes:
                print(f"{n.name} {n.container} DOCKER_HOST=tcp://{n.ip}:{API_PORT}")
        else:
            problems = remove_cluster(args.name)
            for line in problems:
                print(line, file=sys.stderr)
            return 1 if problems else 0
    except SwarmError as exc:
        print(f"swarm: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
