# Shared by redis.sh, sentinel.sh and health.sh (sourced).

# secret NAME: $NAME, else the content of the file named by $NAME_FILE (a Docker secret, so the
# value is in neither the environment nor `docker inspect`).
secret() {
    eval "value=\${$1:-}"
    eval "file=\${$1_FILE:-}"
    if [ -z "$value" ] && [ -n "$file" ]; then
        value="$(cat "$file")"
    fi
    [ -n "$value" ] || { echo "$1 or $1_FILE must be set (docker-compose.yml sets the secrets)" >&2; exit 1; }
    printf '%s' "$value"
}

# as_redis DIR PROGRAM ARGS...: give DIR to the `redis` user and run PROGRAM as that user, never as
# root (the redis:7 image and the local Debian base both have the user and setpriv).
as_redis() {
    dir="$1"; shift
    if [ "$(id -u)" = 0 ]; then
        chown -R redis:redis "$dir"
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
    exec "$@"
}
