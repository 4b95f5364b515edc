#!/usr/bin/env bash
# Sourced by the install scripts: wait (bounded, with a message) for the dpkg/apt locks, which
# a fresh VM's unattended-upgrades or cloud-init often holds for minutes, then run apt-get.
# dpkg and apt take POSIX (fcntl) locks, which `flock` cannot see: a held lock shows up in
# /proc/locks under the file's inode.
# Settings (env): APT_LOCK_TIMEOUT_S (600), APT_LOCK_FILES (the four dpkg/apt lock files).

APT_LOCK_FILES="${APT_LOCK_FILES:-/var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock}"

# The first lock file some process holds, or nothing.
apt_held_lock() {
    local f id
    for f in $APT_LOCK_FILES; do
        [ -e "$f" ] || continue
        # /proc/locks names a file as major:minor:inode, the device numbers in hex.
        id="$(stat -c '%Hd %Ld %i' "$f" | { read -r ma mi ino; printf '%02x:%02x:%s' "$ma" "$mi" "$ino"; })"
        if grep -qE "^[0-9]+: +(POSIX|OFDLCK|FLOCK) .* $id " /proc/locks; then
            echo "$f"
            return
        fi
    done
}

# Wait until no dpkg/apt lock is held; fail after APT_LOCK_TIMEOUT_S with what holds it.
apt_wait_for_lock() {
    local timeout="${APT_LOCK_TIMEOUT_S:-600}" start held said=0
    start=$(date +%s)
    while held="$(apt_held_lock)" && [ -n "$held" ]; do
        if [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
            printf 'apt: %s is still locked after %s s (another apt/dpkg, e.g. unattended-upgrades, is running: ps -ef | grep -E "apt|dpkg"); wait for it and re-run, or set APT_LOCK_TIMEOUT_S\n' \
                "$held" "$timeout" >&2
            return 1
        fi
        if [ "$said" = 0 ]; then
            printf 'apt: %s is locked by another apt/dpkg; waiting up to %s s\n' "$held" "$timeout" >&2
            said=1
        fi
        sleep 2
    done
}

# apt-get after the wait; apt itself also waits for the dpkg lock (races with a late starter).
apt_get() {
    apt_wait_for_lock || return 1
    DEBIAN_FRONTEND=noninteractive apt-get -o "DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_S:-600}" "$@"
}
