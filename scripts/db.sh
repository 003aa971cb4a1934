#!/usr/bin/env bash
# A private MariaDB for development and tests, kept entirely under one directory
# (default var/): datadir VAR/mysql, socket VAR/run/mysqld.sock, pid file
# VAR/run/mysqld.pid, error log VAR/log/mariadb.log. It listens on the UNIX socket only
# (--skip-networking), reads no option files (--no-defaults, so /etc/mysql is never
# consulted) and is never a system service.
#
#   scripts/db.sh start  [VAR] [--fast]  start in the background; does nothing if running
#   scripts/db.sh run    [VAR] [--fast]  run in the foreground (exec); for a supervisor
#                                        that wants mariadbd as its own child
#   scripts/db.sh wait   [VAR] [--pid=N] wait until the chat user can connect (fail
#                                        early if process N, the `run`, exits)
#   scripts/db.sh stop   [VAR]           stop it (SIGTERM, then wait for the exit)
#   scripts/db.sh status [VAR]           exit 0 and say so when it is running
#
# --fast trades durability for speed (innodb_flush_log_at_trx_commit=2, no doublewrite
# buffer); the test harness uses it, `make run` does not.
#
# Every start runs VAR/mysql-init.sql through --init-file, which creates the database
# `chat` (utf8mb4) and two users, each identified by its own name: 'chat_owner'@'localhost'
# with all privileges on `chat` and `chat\_%` (for extra test databases), which
# `chatctl migrate` uses (setting db_migrate_user), and 'chat'@'localhost' with only
# SELECT, INSERT, UPDATE and DELETE there, which the servers use. The statements are
# idempotent (an older data directory's 'chat' loses its other rights), and no
# administrator login is needed afterwards.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

cmd=${1:-}
[ $# -gt 0 ] && shift
var=var
fast=0
watch_pid=
for arg in "$@"; do
    case "$arg" in
        --fast) fast=1 ;;
        --pid=*) watch_pid=${arg#--pid=} ;;
        -*) usage ;;
        *) var=$arg ;;
    esac
done
case "$cmd" in start|run|wait|stop|status) ;; *) usage ;; esac

mkdir -p "$var"
var=$(cd "$var" && pwd)
datadir=$var/mysql
socket=$var/run/mysqld.sock
pidfile=$var/run/mysqld.pid
logfile=$var/log/mariadb.log
initsql=$var/mysql-init.sql
START_TIMEOUT=${DB_START_TIMEOUT:-60}

die() {
    echo "db.sh: $*" >&2
    if [ -s "$logfile" ]; then
        echo "---- last lines of $logfile ----" >&2
        tail -n 25 "$logfile" >&2
        echo "----" >&2
    fi
    exit 1
}

# Prints the server's pid when the pid file names a live mariadbd, else fails.
server_pid() {
    local pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    # A zombie or a recycled pid that is not mariadbd does not count.
    [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != "Z" ] || return 1
    case "$(ps -o comm= -p "$pid" 2>/dev/null)" in
        mariadbd|mysqld) echo "$pid" ;;
        *) return 1 ;;
    esac
}

answers() {
    mariadb --no-defaults --protocol=socket --socket="$socket" -uchat -pchat \
        --connect-timeout=2 -Nse 'SELECT 1' chat >/dev/null 2>&1
}

initialize() {
    [ -d "$datadir/mysql" ] && return 0
    mkdir -p "$datadir" "$var/run" "$var/log" "$var/tmp"
    echo "db.sh: initializing a new data directory in $datadir" >&2
    local user_opt=()
    [ "$(id -u)" -eq 0 ] && user_opt=(--user=root)
    if ! mariadb-install-db --no-defaults "${user_opt[@]}" --datadir="$datadir" \
        --auth-root-authentication-method=socket --skip-test-db \
        --skip-name-resolve >"$var/log/mariadb-install.log" 2>&1; then
        tail -n 25 "$var/log/mariadb-install.log" >&2
        rm -rf "$datadir"
        die "mariadb-install-db failed (full output in $var/log/mariadb-install.log)"
    fi
}

write_init_sql() {
    cat >"$initsql" <<'EOF'
CREATE DATABASE IF NOT EXISTS `chat` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'chat_owner'@'localhost' IDENTIFIED BY 'chat_owner';
GRANT ALL PRIVILEGES ON `chat`.* TO 'chat_owner'@'localhost';
GRANT ALL PRIVILEGES ON `chat\_%`.* TO 'chat_owner'@'localhost';
CREATE USER IF NOT EXISTS 'chat'@'localhost' IDENTIFIED BY 'chat';
REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'chat'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON `chat`.* TO 'chat'@'localhost';
GRANT SELECT, INSERT, UPDATE, DELETE ON `chat\_%`.* TO 'chat'@'localhost';
EOF
}

server_args() {
    local args=(
        --no-defaults
        --datadir="$datadir"
        --socket="$socket"
        --pid-file="$pidfile"
        --log-error="$logfile"
        --tmpdir="$var/tmp"
        --init-file="$initsql"
        --skip-networking
        --skip-name-resolve
        --character-set-server=utf8mb4
        --collation-server=utf8mb4_unicode_ci
        --innodb-buffer-pool-size=64M
        --innodb-log-file-size=48M
        --performance-schema=OFF
        --max-connections=200
    )
    if [ "$fast" -eq 1 ]; then
        args+=(--innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0)
    else
        args+=(--innodb-flush-log-at-trx-commit=1)
    fi
    if [ "$(id -u)" -eq 0 ]; then
        args+=(--user=root)
    fi
    printf '%s\n' "${args[@]}"
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until answers; do
        if [ -n "${1:-}" ] && { ! kill -0 "$1" 2>/dev/null ||
            [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = "Z" ]; }; then
            die "mariadbd exited during startup"
        fi
        [ $SECONDS -lt $deadline ] || die "MariaDB did not answer on $socket within ${START_TIMEOUT}s"
        sleep 0.2
    done
}

prepare() {
    if pid=$(server_pid); then
        echo "db.sh: MariaDB is already running (pid $pid, socket $socket)" >&2
        return 1
    fi
    initialize
    mkdir -p "$var/run" "$var/log" "$var/tmp"
    rm -f "$pidfile" "$socket" "$socket.lock"
    write_init_sql
    return 0
}

case "$cmd" in
start)
    prepare || exit 0
    mapfile -t args < <(server_args)
    # setsid: the terminal's Ctrl-C must not reach the server; `stop` ends it.
    setsid mariadbd "${args[@]}" </dev/null >>"$logfile" 2>&1 &
    child=$!
    wait_ready "$child"
    echo "db.sh: MariaDB running (pid $child, socket $socket, log $logfile)" >&2
    ;;
run)
    prepare || exit 1
    mapfile -t args < <(server_args)
    exec mariadbd "${args[@]}" </dev/null >>"$logfile" 2>&1
    ;;
wait)
    wait_ready "$watch_pid"
    ;;
stop)
    if ! pid=$(server_pid); then
        echo "db.sh: MariaDB is not running ($var)" >&2
        rm -f "$pidfile"
        exit 0
    fi
    kill -TERM "$pid"
    deadline=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != "Z" ]; do
        if [ $SECONDS -ge $deadline ]; then
            echo "db.sh: mariadbd (pid $pid) ignored SIGTERM for 60s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    rm -f "$pidfile"
    echo "db.sh: MariaDB stopped ($var)" >&2
    ;;
status)
    if pid=$(server_pid); then
        if answers; then
            echo "MariaDB running (pid $pid, socket $socket)"
            exit 0
        fi
        echo "MariaDB process $pid exists but does not answer on $socket"
        exit 1
    fi
    echo "MariaDB not running ($var)"
    exit 3
    ;;
esac
