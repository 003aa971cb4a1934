#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on loopback for the cluster tests (tests/cluster/):
# no systemd, its own data directories and ports, every node stopped by its PID.
#
#   scripts/galera.sh start VAR PORT_BASE    initialize and start nodes 1-3 (node 1
#                                            bootstraps), create the database `chat` and
#                                            the users chat/chat (rows only) and
#                                            chat_owner/chat_owner (schema), wait until
#                                            all three are synced
#   scripts/galera.sh node VAR PORT_BASE N   start node N again (it rejoins by IST/SST)
#   scripts/galera.sh wait VAR N             wait until node N is synced
#   scripts/galera.sh kill VAR N             SIGKILL node N (a crash)
#   scripts/galera.sh stop VAR               SIGTERM every node and wait for it
#
# Node N lives in VAR/nodeN/ (data/, mysqld.sock, mysqld.pid, error.log). Ports on
# 127.0.0.1: SQL PORT_BASE+N, group communication PORT_BASE+10+N, IST PORT_BASE+20+N,
# SST (rsync) PORT_BASE+30+N. The nodes run as user mysql when started by root: the rsync
# state transfer drops root's rights and could not write a root-owned data directory.
# innodb_flush_log_at_trx_commit=2 as in the other test databases; Galera's own
# replication is what the tests exercise.
set -euo pipefail

die() { echo "galera.sh: $*" >&2; exit 1; }
cmd=${1:-}
var=${2:-}
[ -n "$cmd" ] && [ -n "$var" ] || { sed -n '2,20p' "$0" >&2; exit 2; }
mkdir -p "$var"
var=$(cd "$var" && pwd)
START_TIMEOUT=${GALERA_START_TIMEOUT:-120}
PROVIDER=/usr/lib/galera/libgalera_smm.so

node_dir() { echo "$var/node$1"; }
sock() { echo "$(node_dir "$1")/mysqld.sock"; }
sql() { mariadb --no-defaults -S "$(sock "$1")" -uroot -Nse "$2"; }
status_of() { sql "$1" "SHOW STATUS LIKE '$2'" 2>/dev/null | awk '{print $2}'; }

start_node() { # N PORT_BASE [extra args]
    local n=$1 base=$2 dir owner=()
    shift 2
    dir=$(node_dir "$n")
    mkdir -p "$dir/data" "$dir/tmp"
    [ "$(id -u)" -eq 0 ] && owner=(--user=mysql) && chown -R mysql:mysql "$dir"
    if [ ! -d "$dir/data/mysql" ]; then
        mariadb-install-db --no-defaults "${owner[@]}" --datadir="$dir/data" \
            --auth-root-authentication-method=socket --skip-test-db \
            >"$dir/install.log" 2>&1 || die "mariadb-install-db failed for node $n (see $dir/install.log)"
    fi
    local peers="127.0.0.1:$((base + 11)),127.0.0.1:$((base + 12)),127.0.0.1:$((base + 13))"
    rm -f "$dir/mysqld.pid" "$(sock "$n")"
    setsid mariadbd --no-defaults "${owner[@]}" --datadir="$dir/data" --socket="$(sock "$n")" \
        --pid-file="$dir/mysqld.pid" --port=$((base + n)) --bind-address=127.0.0.1 \
        --log-error="$dir/error.log" --tmpdir="$dir/tmp" --skip-name-resolve \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
        --innodb-flush-log-at-trx-commit=2 --innodb-buffer-pool-size=64M \
        --innodb-log-file-size=48M --performance-schema=OFF --max-connections=200 \
        --wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-name=chat-test \
        --wsrep-cluster-address="gcomm://$peers" --wsrep-node-name="node$n" \
        --wsrep-node-address="127.0.0.1:$((base + 10 + n))" \
        --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$((base + 10 + n));ist.recv_addr=127.0.0.1:$((base + 20 + n));gcache.size=64M" \
        --wsrep-sst-method=rsync --wsrep-sst-receive-address="127.0.0.1:$((base + 30 + n))" \
        "$@" </dev/null >>"$dir/mariadbd.out" 2>&1 &
}

wait_synced() { # N
    local deadline=$((SECONDS + START_TIMEOUT))
    until [ "$(status_of "$1" wsrep_local_state_comment)" = Synced ] &&
        [ "$(status_of "$1" wsrep_ready)" = ON ]; do
        [ $SECONDS -lt $deadline ] || die "node $1 not synced within ${START_TIMEOUT}s (see $(node_dir "$1")/error.log)"
        sleep 0.3
    done
}

node_pid() { cat "$(node_dir "$1")/mysqld.pid" 2>/dev/null; }
# A node started by this script is re-parented once the script exits, to init or to a
# subreaper (the test harness) that may reap it only later: a zombie counts as gone.
running() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }

case "$cmd" in
start)
    base=${3:?PORT_BASE}
    start_node 1 "$base" --wsrep-new-cluster
    wait_synced 1
    sql 1 "CREATE DATABASE IF NOT EXISTS chat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
           CREATE USER IF NOT EXISTS 'chat_owner'@'localhost' IDENTIFIED BY 'chat_owner';
           CREATE USER IF NOT EXISTS 'chat_owner'@'127.0.0.1' IDENTIFIED BY 'chat_owner';
           GRANT ALL PRIVILEGES ON chat.* TO 'chat_owner'@'localhost';
           GRANT ALL PRIVILEGES ON chat.* TO 'chat_owner'@'127.0.0.1';
           CREATE USER IF NOT EXISTS 'chat'@'localhost' IDENTIFIED BY 'chat';
           CREATE USER IF NOT EXISTS 'chat'@'127.0.0.1' IDENTIFIED BY 'chat';
           GRANT SELECT, INSERT, UPDATE, DELETE ON chat.* TO 'chat'@'localhost';
           GRANT SELECT, INSERT, UPDATE, DELETE ON chat.* TO 'chat'@'127.0.0.1';"
    start_node 2 "$base"
    start_node 3 "$base"
    wait_synced 2
    wait_synced 3
    [ "$(status_of 1 wsrep_cluster_size)" = 3 ] || die "cluster size is not 3"
    echo "galera.sh: 3 nodes synced in $var (SQL ports $((base + 1))-$((base + 3)))" >&2
    ;;
node)
    start_node "${4:?N}" "${3:?PORT_BASE}"
    ;;
wait)
    wait_synced "${3:?N}"
    ;;
kill)
    pid=$(node_pid "${3:?N}") || die "node $3 has no pid file"
    kill -KILL "$pid"
    while running "$pid"; do sleep 0.05; done
    ;;
stop)
    pids=()
    for n in 1 2 3; do
        if pid=$(node_pid "$n") && running "$pid"; then
            kill -TERM "$pid"
            pids+=("$pid")
        fi
    done
    deadline=$((SECONDS + 60))
    for pid in "${pids[@]}"; do
        while running "$pid"; do
            if [ $SECONDS -ge $deadline ]; then kill -KILL "$pid" 2>/dev/null || true; fi
            sleep 0.1
        done
    done
    ;;
*)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
