#!/usr/bin/env bash
# The development server behind `make run` (which builds build/release first):
#   1. unless CHAT_DB_HOST or CHAT_DB_SOCKET is set, a private MariaDB under var/
#      (scripts/db.sh), run as a child of this script;
#   2. chatctl migrate and chatctl demo (users alice, bob, carol / password123);
#   3. chat-push, chat-httpd and chat-notify in the background, logging to this terminal;
#   4. waits. Ctrl-C or SIGTERM stops everything this script started and exits 0; if any
#      of them dies on its own, the rest are stopped and the exit status is 1.
# Settings come from etc/chat.conf (or CHAT_CONFIG) and CHAT_* environment variables,
# as for the programs themselves. BIN=build/asan scripts/run.sh runs the sanitizer build.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-build/release}
STARTUP_TIMEOUT=${STARTUP_TIMEOUT:-30}

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Prints a setting the way the programs resolve it: the CHAT_<NAME> environment
# variable, else the last `name = value` line of the config file, else the default.
config_value() {
    local name=$1 default=$2 env_name file value
    env_name=CHAT_$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
    if [ -n "${!env_name+set}" ]; then
        printf '%s\n' "${!env_name}"
        return
    fi
    file=${CHAT_CONFIG:-etc/chat.conf}
    if [ -r "$file" ]; then
        value=$(sed -n -E "s/^[[:space:]]*$name[[:space:]]*=[[:space:]]*\"?([^\"]*)\"?[[:space:]]*\$/\\1/p" \
            "$file" | tail -n 1)
        if [ -n "$value" ]; then
            printf '%s\n' "$value"
            return
        fi
    fi
    printf '%s\n' "$default"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

for prog in chatctl chat-push chat-httpd chat-notify; do
    [ -x "$BIN/$prog" ] || die "$BIN/$prog is missing; build it with: make BUILD=${BIN#build/} all"
done

listen_host=$(config_value listen_host 127.0.0.1)
http_port=$(config_value http_port 8000)
push_port=$(config_value push_port 8001)
case "$listen_host" in
    0.0.0.0|::|'') connect_host=127.0.0.1 ;;
    *) connect_host=$listen_host ;;
esac
for port in "$http_port" "$push_port"; do
    if port_open "$connect_host" "$port"; then
        die "port $port on $connect_host is already in use (is another 'make run' running?)"
    fi
done

# ---- process bookkeeping ---------------------------------------------------------
pids=()       # every child we must stop, in start order (the database first)
declare -A names=()
db_pid=

stop_all() {
    local pid i deadline
    trap - INT TERM EXIT
    # Stop in reverse start order, so the database goes last.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        pid=${pids[i]}
        kill -0 "$pid" 2>/dev/null || continue
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 30))
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
            # `wait` would block; poll so a hung child cannot hang us.
            if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then break; fi
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; then
            say "${names[$pid]} (pid $pid) ignored SIGTERM for 30s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
}

on_exit() {
    local rc=$?
    stop_all
    if [ ${#pids[@]} -gt 0 ]; then say "stopped"; fi
    exit "$rc"
}
on_signal() {
    echo >&2
    say "received SIG$1, stopping"
    exit 0 # runs on_exit
}
trap on_exit EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

# Starts a program in the background and records it. stdin is /dev/null; stderr and
# stdout go to this terminal. setsid keeps the terminal's Ctrl-C away from the children:
# only this script gets it, and it stops them in order (otherwise a child that exits on
# the SIGINT first looks like a crash to `wait -n`).
start_child() {
    local name=$1
    shift
    setsid "$@" </dev/null &
    pids+=($!)
    names[$!]=$name
}

# Waits until `check` succeeds, or fails if child pid dies or the timeout passes.
wait_for() {
    local what=$1 pid=$2 deadline=$((SECONDS + STARTUP_TIMEOUT))
    shift 2
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || die "${names[$pid]} exited during startup"
        [ $SECONDS -lt $deadline ] || die "$what not ready after ${STARTUP_TIMEOUT}s"
        sleep 0.1
    done
}

# ---- database --------------------------------------------------------------------
mkdir -p var/run var/log
if [ -z "${CHAT_DB_HOST:-}" ] && [ -z "${CHAT_DB_SOCKET:-}" ]; then
    export CHAT_DB_HOST=
    export CHAT_DB_SOCKET=$PWD/var/run/mysqld.sock
    # The private database's schema owner (scripts/db.sh); the servers log in as `chat`,
    # which may only read and write rows.
    export CHAT_DB_MIGRATE_USER=${CHAT_DB_MIGRATE_USER:-chat_owner}
    export CHAT_DB_MIGRATE_PASSWORD=${CHAT_DB_MIGRATE_PASSWORD:-chat_owner}
    if scripts/db.sh status var >/dev/null 2>&1; then
        say "using the private MariaDB that is already running in var/ (left running)"
    else
        say "starting the private MariaDB in var/ (log: var/log/mariadb.log)"
        start_child mariadbd scripts/db.sh run var
        db_pid=$!
        scripts/db.sh wait var --pid="$db_pid" || exit 1
    fi
else
    say "using the database from CHAT_DB_HOST/CHAT_DB_SOCKET"
fi

# ---- schema and demo data --------------------------------------------------------
"$BIN/chatctl" migrate
"$BIN/chatctl" demo

# ---- servers ---------------------------------------------------------------------
start_child chat-push "$BIN/chat-push"
push_pid=$!
start_child chat-httpd "$BIN/chat-httpd"
httpd_pid=$!
# Offline notifications and bots' outgoing URLs; idle until `chatctl webhook add`.
start_child chat-notify "$BIN/chat-notify"
wait_for "chat-push on port $push_port" "$push_pid" port_open "$connect_host" "$push_port"
wait_for "chat-httpd on port $http_port" "$httpd_pid" port_open "$connect_host" "$http_port"

cat >&2 <<EOF

  Chat is running: open http://$connect_host:$http_port/chat/ and log in as
  alice / password123 (also bob and carol, same password).
  Press Ctrl-C to stop.

EOF

# ---- supervise -------------------------------------------------------------------
died=
rc=0
wait -n -p died "${pids[@]}" || rc=$?
# A signal would have run on_signal; getting here means a child ended by itself.
say "${names[$died]:-a child} (pid $died) exited with status $rc; stopping the rest"
exit 1
