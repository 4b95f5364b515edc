#!/bin/sh
# Start dockerd inside a node container. The container is not --privileged (this machine's
# Docker lacks CAP_SYS_RESOURCE, so --privileged fails: docs/swarm.md); it has every other
# capability, so it can make its cgroup mounts writable and nest containers under its own cgroup.
set -eu
mount -o remount,rw /sys 2>/dev/null || true
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    # cgroup v2 (as moby's dind script): move ourselves into a child group, then delegate.
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
    mkdir -p /sys/fs/cgroup/init
    xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers \
        > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
else
    for d in /sys/fs/cgroup/*; do
        [ -L "$d" ] || mount -o remount,rw,bind "$d" 2>/dev/null || true
    done
fi
# A node stopped by `docker kill` (node_kill) leaves its pid files in the container's /var/run:
# dockerd would refuse to start ("pid file found, ensure docker is not running").
rm -f /var/run/docker.pid
find /var/run/docker -name '*.pid' -delete 2>/dev/null || true
exec dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false \
    --cgroup-parent=/taskq-swarm "$@"
