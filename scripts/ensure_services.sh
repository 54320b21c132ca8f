#!/usr/bin/env bash
# Make sure Redis and PostgreSQL answer where the project expects them, starting (and,
# as root on Debian, installing) local ones if they do not. A no-op when both answer.
# Also installs pgbouncer (not started: the tests that use it start their own).
#
#   REDIS_URL     redis://127.0.0.1:6379/0 by default
#   DATABASE_URL  host/port (and role/password/database, if given) of PostgreSQL;
#                 without it PGHOST/PGPORT, else 127.0.0.1:5432
#
# It also makes sure a role exists that tests can use over TCP without a password
# prompt: the one in DATABASE_URL, else skyroute/skyroute with database skyroute (a fresh
# Debian cluster asks host connections for a password, so the postgres role is no use
# there). Also makes sure Debian's chromium is there for the dashboard's browser test.
# Prints one line per service. Needs only bash and Debian's tools.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${SKYROUTE_STATE_DIR:-$ROOT/.run}
WAIT_SECONDS=${SERVICES_WAIT_SECONDS:-30}

REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}

die() { echo "ensure_services: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [ "$(id -u)" = 0 ]; }
is_local() { case "$1" in 127.*|localhost|::1|'') return 0 ;; *) return 1 ;; esac; }

# url_part URL -> prints "user password host port dbname" (empty fields as "-").
url_parts() {
    local rest=${1#*://} userinfo="" hostport path user="-" password="-" host port="-" db="-"
    rest=${rest%%\?*}
    if [[ $rest == */* ]]; then path=${rest#*/}; rest=${rest%%/*}; else path=""; fi
    if [[ $rest == *@* ]]; then userinfo=${rest%@*}; hostport=${rest##*@}; else hostport=$rest; fi
    if [ -n "$userinfo" ]; then
        user=${userinfo%%:*}
        [[ $userinfo == *:* ]] && password=${userinfo#*:}
    fi
    if [[ $hostport == \[*\]* ]]; then          # [::1]:5432
        host=${hostport#\[}; host=${host%%\]*}
        [[ $hostport == *\]:* ]] && port=${hostport##*\]:}
    elif [[ $hostport == *:* ]]; then
        host=${hostport%:*}; port=${hostport##*:}
    else
        host=$hostport
    fi
    [ -n "$path" ] && db=$path
    echo "${user:--} ${password:--} ${host:-127.0.0.1} ${port:--} ${db:--}"
}

tcp_open() {  # host port
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

redis_ping() {  # host port
    if have redis-cli; then
        local out
        out=$(timeout 3 redis-cli -u "$REDIS_URL" ping 2>&1) || true
        # A server that wants another password still answers: it is up.
        [[ $out == *PONG* || $out == *NOAUTH* || $out == *WRONGPASS* ]]
        return
    fi
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "PING\r\n" >&3
        read -r -t 2 line <&3 || exit 1
        [[ $line == "+PONG"* || $line == "-NOAUTH"* ]]' "$1" "$2" 2>/dev/null
}

pg_ready() {  # host port
    if have pg_isready; then
        timeout 5 pg_isready -q -h "$1" -p "$2" -t 2
    else
        tcp_open "$1" "$2"
    fi
}

wait_for() {  # name check-fn host port hint
    local deadline=$((SECONDS + WAIT_SECONDS))
    until "$2" "$3" "$4"; do
        [ "$SECONDS" -ge "$deadline" ] &&
            die "$1 did not answer on $3:$4 within ${WAIT_SECONDS}s ($5)"
        sleep 0.5
    done
}

INSTALLED=""
apt_install() {  # packages...
    is_root && have apt-get || die "cannot install $* (need root and apt-get); install it yourself"
    echo "ensure_services: installing $* with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "$@" >&2
    INSTALLED="$INSTALLED $*"
}

# ---------------------------------------------------------------------------- Redis

read -r _ _ REDIS_HOST REDIS_PORT _ < <(url_parts "$REDIS_URL")
[ "$REDIS_PORT" = - ] && REDIS_PORT=6379

ensure_redis() {
    local host=$REDIS_HOST port=$REDIS_PORT

    if redis_ping "$host" "$port"; then
        echo "redis: already running at $host:$port"
        return
    fi
    is_local "$host" || die "redis at $host:$port does not answer, and it is not local to start"

    if ! have redis-server; then
        apt_install redis-server
    fi
    # Debian's package starts its own server (port 6379) where init scripts may run.
    if [ -n "$INSTALLED" ] && redis_ping "$host" "$port"; then
        echo "redis: installed redis-server, whose package started it at $host:$port"
        return
    fi

    local dir=$STATE_DIR/redis
    mkdir -p "$dir"
    # No persistence: it is a cache for development and tests.
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir "$dir" --logfile "$dir/redis.log" --pidfile "$dir/redis.pid" >/dev/null ||
        die "redis-server failed to start (see $dir/redis.log)"
    wait_for redis redis_ping "$host" "$port" "see $dir/redis.log"
    echo "redis: started redis-server at 127.0.0.1:$port (log $dir/redis.log)"
}

# ----------------------------------------------------------------------- PostgreSQL

PG_USER=skyroute PG_PASSWORD=skyroute PG_DB=skyroute PG_HOST=127.0.0.1 PG_PORT=5432
if [ -n "${DATABASE_URL:-}" ]; then
    read -r u p h port d < <(url_parts "$DATABASE_URL")
    [ "$u" != - ] && PG_USER=$u
    [ "$p" != - ] && PG_PASSWORD=$p
    [ "$d" != - ] && PG_DB=$d
    PG_HOST=$h
    [ "$port" != - ] && PG_PORT=$port
    unset u p h port d
else
    PG_HOST=${PGHOST:-$PG_HOST}
    PG_PORT=${PGPORT:-$PG_PORT}
fi

as_postgres() {  # command... (run as the postgres OS user)
    if [ "$(id -un)" = postgres ]; then
        "$@"
    elif is_root && have runuser; then
        (cd / && runuser -u postgres -- "$@")
    elif is_root; then
        (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
    else
        return 1
    fi
}

pg_server_installed() {
    have pg_ctlcluster && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# Start a local cluster listening on $PG_PORT; create one if the machine has none.
# Sets PG_DID to what it did.
start_postgres() {
    pg_server_installed || apt_install postgresql
    if [ -n "$INSTALLED" ] && pg_ready "$PG_HOST" "$PG_PORT"; then
        PG_DID="installed; its package started it"   # where init scripts may run
        return
    fi

    local version="" name="" line
    # pg_lsclusters -h: "version cluster port status owner datadir logfile"
    while read -r -a line; do
        if [ "${line[2]:-}" = "$PG_PORT" ]; then version=${line[0]}; name=${line[1]}; fi
    done < <(pg_lsclusters -h 2>/dev/null)

    if [ -z "$version" ]; then
        if [ -d /etc/postgresql ] && [ -n "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
            version=$(ls /etc/postgresql | sort -V | tail -n 1)
        else
            version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
        fi
        [ -n "$version" ] || die "no PostgreSQL server found under /usr/lib/postgresql"
        name=main
        [ -d "/etc/postgresql/$version/$name" ] &&
            die "cluster $version/$name exists but not on port $PG_PORT (see pg_lsclusters);" \
                "set DATABASE_URL to its port"
        is_root || die "no PostgreSQL cluster exists; run as root to create one"
        pg_createcluster -p "$PG_PORT" "$version" "$name" >/dev/null
        echo "ensure_services: created cluster $version/$name on port $PG_PORT" >&2
    fi

    # Where systemd does not run (containers, CI) pg_ctlcluster must not hand over to it.
    local redirect=()
    [ -d /run/systemd/system ] || redirect=(--skip-systemctl-redirect)
    if is_root || [ "$(id -un)" = postgres ]; then
        pg_ctlcluster "${redirect[@]}" "$version" "$name" start ||
            die "pg_ctlcluster $version $name start failed (see /var/log/postgresql/)"
    else
        die "postgresql at $PG_HOST:$PG_PORT does not answer; start it (needs root)"
    fi
    wait_for postgresql pg_ready "$PG_HOST" "$PG_PORT" "see /var/log/postgresql/"
    PG_DID="started cluster $version/$name"
}

pg_login_ok() {  # user password database
    PGPASSWORD=$2 PGCONNECT_TIMEOUT=3 psql -X -q -w -h "$PG_HOST" -p "$PG_PORT" -U "$1" -d "$3" \
        -Atc 'select 1' >/dev/null 2>&1
}

# Create (or fix the password of) the role and its database, as the postgres OS user
# over the local socket, where Debian's peer authentication lets it in.
provision_role() {
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres \
        -v role="$PG_USER" -v pw="$PG_PASSWORD" -v db="$PG_DB" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

ensure_postgres() {
    PG_DID="already running"
    if ! pg_ready "$PG_HOST" "$PG_PORT"; then
        is_local "$PG_HOST" ||
            die "postgresql at $PG_HOST:$PG_PORT does not answer, and it is not local to start"
        start_postgres
    fi
    local did=$PG_DID

    if ! have psql; then
        echo "postgresql: $did at $PG_HOST:$PG_PORT (psql missing: role $PG_USER not checked)"
        return
    fi
    if pg_login_ok "$PG_USER" "$PG_PASSWORD" "$PG_DB"; then
        echo "postgresql: $did at $PG_HOST:$PG_PORT; role $PG_USER can log in to $PG_DB"
        return
    fi
    is_local "$PG_HOST" && provision_role ||
        die "postgresql at $PG_HOST:$PG_PORT: role $PG_USER cannot log in to $PG_DB, and" \
            "it could not be created (needs root or the postgres user on this machine)"
    pg_login_ok "$PG_USER" "$PG_PASSWORD" "$PG_DB" ||
        die "postgresql: created role $PG_USER, but it still cannot log in over TCP" \
            "to $PG_HOST:$PG_PORT/$PG_DB (check pg_hba.conf)"
    echo "postgresql: $did at $PG_HOST:$PG_PORT; created role $PG_USER and database $PG_DB"
}

# When both servers are missing locally and neither answers, install them with one
# apt-get run rather than two.
if ! have redis-server && ! pg_server_installed && is_root && have apt-get \
    && is_local "$REDIS_HOST" && is_local "$PG_HOST" \
    && ! redis_ping "$REDIS_HOST" "$REDIS_PORT" && ! pg_ready "$PG_HOST" "$PG_PORT"; then
    apt_install redis-server postgresql
fi

# ------------------------------------------------------------------------ PgBouncer

# Only installed: the tests that run the services through PgBouncer start their own
# (tests/utils/pgbouncer.py). Without it only those tests fail, so no root: a warning.
ensure_pgbouncer() {
    if have pgbouncer || [ -x /usr/sbin/pgbouncer ]; then
        echo "pgbouncer: installed (tests start their own)"
    elif is_root && have apt-get; then
        apt_install pgbouncer
        echo "pgbouncer: installed pgbouncer (tests start their own)"
    else
        echo "pgbouncer: not installed, and cannot install it (need root and apt-get);" \
            "the tests through PgBouncer will fail" >&2
    fi
}

ensure_redis
ensure_postgres
ensure_pgbouncer

# The browser the dashboard's system test drives (tests/system/test_dashboard.py):
# installed as root when missing; otherwise that test is skipped.
if [ -x /usr/bin/chromium ]; then
    echo "chromium: present"
elif is_root && have apt-get; then
    apt_install chromium
    echo "chromium: installed"
else
    echo "chromium: missing (the dashboard's browser test will be skipped)"
fi
