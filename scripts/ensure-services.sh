#!/usr/bin/env bash
# Makes sure Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432) answer before the tests run.
# A fresh Debian machine has neither: install them from Debian's packages and start them.
# Tests then use them for real (their own Redis db number and their own PostgreSQL database).
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
APT_UPDATED=0

apt_install() {
    if [ "$APT_UPDATED" = "0" ]; then
        $SUDO apt-get update -qq >/dev/null
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

port_open() {  # host port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-
}

wait_port() {  # host port name
    for _ in $(seq 1 60); do
        if port_open "$1" "$2"; then return 0; fi
        sleep 0.5
    done
    echo "ensure-services: $3 did not start on $1:$2" >&2
    return 1
}

ensure_redis() {
    if port_open 127.0.0.1 6379; then return 0; fi
    echo "ensure-services: Redis is not reachable on 127.0.0.1:6379; starting one" >&2
    command -v redis-server >/dev/null || apt_install redis-server
    mkdir -p /tmp/solbot-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp/solbot-redis --logfile /tmp/solbot-redis/redis.log
    wait_port 127.0.0.1 6379 Redis
}

ensure_postgres() {
    if port_open 127.0.0.1 5432; then return 0; fi
    echo "ensure-services: PostgreSQL is not reachable on 127.0.0.1:5432; starting one" >&2
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        apt_install postgresql
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    # A test machine's local server: trust connections from this host only.
    if ! grep -q "solbot-test" "$hba"; then
        $SUDO sed -i '1i host all all 127.0.0.1/32 trust # solbot-test\nhost all all ::1/128 trust # solbot-test' "$hba"
    fi
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
    wait_port 127.0.0.1 5432 PostgreSQL
}

ensure_redis
ensure_postgres
echo "ensure-services: Redis and PostgreSQL are reachable"
