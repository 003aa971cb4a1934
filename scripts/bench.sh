#!/usr/bin/env bash
# The benchmarks behind `make bench` (which builds build/release first):
#   1. a private, durable MariaDB under var/bench/ (scripts/db.sh, without --fast), the
#      migrations, and seed data created through the REST API (bench/seed.py);
#   2. chat-push, chat-api (FastCGI) behind nginx with the production location blocks
#      (etc/nginx/chat-locations.conf.in), and chat-httpd, on their own ports;
#   3. "rest": wrk (bench/rest.lua) against three endpoints through both front ends,
#      checking that every response was 2xx and that every POST created its message in
#      MariaDB; beside each figure the database floor measured in the same run (durable
#      one-row inserts from as many mariadb-slap clients as wrk connections, before and
#      after the runs), the share of it, CPU per request of each process, and the API's
#      round trips to MariaDB per request from the server's own counters;
#   4. "cgi": the cost of one request with chat-api as a CGI program, beside FastCGI;
#   5. the real-time scenarios, each with build/release/chat-loadgen (bench/loadgen*.c)
#      against a freshly started chat-push, POSTs going through nginx+FastCGI:
#        "1"  500 direct conversations (1,000 sockets) at 500 messages/s;
#        "2"  one group of 2,000 members (2,000 sockets) at 50 messages/s;
#        "3"  10,000 idle sockets in 5,000 direct conversations, for memory;
#        "ceiling"  the 2,000-member group at rising rates: the highest rate delivered
#             with no loss and p99 under 100 ms, and chat-push's CPU per delivery there;
#        "storm" the same 10,000 users: 20 probe sockets connect first and send `ping`
#             every 100 ms while the other 9,980 connect at once (the connect storm: its
#             time, and the probes' round trips); then BENCH_STORM_RATE messages/s are
#             sent, chat-push is killed with SIGKILL after 2 s and started again, and the
#             time until every client has reconnected with ?last_event_id and received
#             every message sent until then is measured (nothing may be lost).
#      Their users, sessions, conversations and participants are inserted with SQL
#      (bench_setup_sql below): one password hash copied from a seeded user, bearer
#      tokens "<random run prefix><user id>" stored as their SHA-256 like real sessions;
#      the 2,000-member group is created through the API in one request, and a second
#      one by adding 1,999 people in one request (both timed: "large groups");
#   6. tables; then everything it started is stopped (also on failure or Ctrl-C), and
#      pgrep must find nothing of it left.
# Exits non-zero when a request failed, a socket could not be opened, a delivery was
# lost, or a process could not be started or stopped.
#
# Environment (all optional):
#   BENCH_SECONDS       duration of each wrk run (default 10; six runs)
#   BENCH_THREADS       wrk threads (default 2)
#   BENCH_CONNECTIONS   wrk connections (default 16)
#   BENCH_PORT_BASE     chat-httpd port; chat-push uses +1, nginx +80 (default 28000)
#   BENCH_FCGI_WORKERS  chat-api worker processes (default 4, the fcgi_workers default)
#   BENCH_HTTPD_THREADS chat-httpd threads (default 4, the shipped default)
#   BENCH_HISTORY       messages in the benchmarked conversation before the runs (200)
#   BENCH_RATE_LIMIT    rate_limit_enabled for the run (default true)
#   BIN                 directory of the programs (default build/release)
#   BENCH_SCENARIOS     which parts to run, comma-separated (default rest,cgi,1,2,3,ceiling,storm)
#   BENCH_CEILING_RATES the rates (msg/s) "ceiling" tries in turn (default 25 50 75 100 150 200 300)
#   BENCH_CEILING_SECONDS how long each of them sends (default 10)
#   BENCH_CGI_REQUESTS  sequential CGI executions of chat-api in "cgi" (default 200)
#   BENCH_WS_SECONDS    how long scenarios 1 and 2 send (default 20)
#   BENCH_IDLE_SECONDS  how long scenario 3 holds its sockets (default 10)
#   BENCH_STORM_RATE    messages/s during "storm" (default 100)
#   BENCH_STORM_SECONDS how long "storm" sends, the restart included (default 10)
#   BENCH_CONNECT_WINDOW WebSocket handshakes chat-loadgen keeps in flight (default 300)
#   BENCH_VAR           the var directory, relative to the repository (default var/bench)
#   BENCH_FLOOR_QUERIES durable inserts of each database-floor measurement (default 20000)
#   BENCH_SERVER_CPUS   a CPU list (taskset -c) for everything server-side: bench.sh runs
#                       itself there, so MariaDB, nginx, chat-api, chat-httpd and chat-push
#                       inherit it (default: unset, no pinning)
#   BENCH_CLIENT_CPUS   a CPU list for the load: wrk, mariadb-slap and chat-loadgen run
#                       there (default: unset). Issue 11's real-time targets are stated for
#                       BENCH_SERVER_CPUS=0 BENCH_CLIENT_CPUS=1 on a 2-core machine.
# Caller CHAT_* variables are ignored, so the programs see only var/bench/chat.conf.
set -euo pipefail

if [ -n "${BENCH_SERVER_CPUS:-}" ] && [ -z "${BENCH_PINNED_TO:-}" ]; then
    command -v taskset >/dev/null || { echo "bench.sh: BENCH_SERVER_CPUS needs taskset (util-linux)" >&2; exit 1; }
    BENCH_PINNED_TO=$BENCH_SERVER_CPUS exec taskset -c "$BENCH_SERVER_CPUS" "$0" "$@"
fi
# The prefix of every load-generating command: it runs on BENCH_CLIENT_CPUS when set.
CLIENT=()
[ -z "${BENCH_CLIENT_CPUS:-}" ] || CLIENT=(taskset -c "$BENCH_CLIENT_CPUS")

cd "$(dirname "$0")/.."
REPO=$PWD
BIN=${BIN:-build/release}
VAR=$REPO/${BENCH_VAR:-var/bench}
VAR_REL=${VAR#"$REPO"/}
SCENARIOS=,${BENCH_SCENARIOS:-rest,cgi,1,2,3,ceiling,storm},
CGI_REQUESTS=${BENCH_CGI_REQUESTS:-200}
WS_SECONDS=${BENCH_WS_SECONDS:-20}
CEILING_SECONDS=${BENCH_CEILING_SECONDS:-10}
FLOOR_QUERIES=${BENCH_FLOOR_QUERIES:-20000}
IDLE_SECONDS=${BENCH_IDLE_SECONDS:-10}
STORM_RATE=${BENCH_STORM_RATE:-100}
STORM_SECONDS=${BENCH_STORM_SECONDS:-10}
CONNECT_WINDOW=${BENCH_CONNECT_WINDOW:-300}
RUN_SECONDS=${BENCH_SECONDS:-10}
WRK_THREADS=${BENCH_THREADS:-2}
WRK_CONNECTIONS=${BENCH_CONNECTIONS:-16}
PORT_BASE=${BENCH_PORT_BASE:-28000}
FCGI_WORKERS=${BENCH_FCGI_WORKERS:-4}
HTTPD_THREADS=${BENCH_HTTPD_THREADS:-4}
HISTORY=${BENCH_HISTORY:-200}
PYTHON=/usr/bin/python3
HOST=127.0.0.1
HTTPD_PORT=$PORT_BASE
PUSH_PORT=$((PORT_BASE + 1))
NGINX_PORT=$((PORT_BASE + 80))
STARTUP_TIMEOUT=30
STOP_TIMEOUT=30
own_var=0        # set once var/bench is ours (after the preflight checks)

say() { printf 'bench.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for v in RUN_SECONDS WRK_THREADS WRK_CONNECTIONS PORT_BASE FCGI_WORKERS HTTPD_THREADS HISTORY \
    CGI_REQUESTS WS_SECONDS IDLE_SECONDS CEILING_SECONDS FLOOR_QUERIES STORM_RATE STORM_SECONDS \
    CONNECT_WINDOW; do
    if ! [[ "${!v}" =~ ^[0-9]+$ ]] || [ "${!v}" -eq 0 ]; then
        die "$v must be a positive integer, not '${!v}'"
    fi
done
[ "$WRK_CONNECTIONS" -ge "$WRK_THREADS" ] || die "BENCH_CONNECTIONS must be at least BENCH_THREADS"
[[ "$SCENARIOS" =~ ^,((rest|cgi|1|2|3|ceiling|storm),)+$ ]] ||
    die "BENCH_SCENARIOS must list some of rest,cgi,1,2,3,ceiling,storm (comma-separated), not '${BENCH_SCENARIOS}'"
[[ "$VAR_REL" =~ ^[A-Za-z0-9_./-]+$ && "$VAR_REL" != *..* && "$VAR" != "$REPO" ]] ||
    die "BENCH_VAR must be a plain directory inside the repository, not '${BENCH_VAR}'"
# want PART: true when PART (rest, 1, 2 or 3) was selected.
want() { [[ "$SCENARIOS" == *",$1,"* ]]; }
want_ws() { want 1 || want 2 || want 3 || want ceiling || want storm; }

# ---- preflight -------------------------------------------------------------------
for prog in chatctl chat-api chat-httpd chat-push; do
    [ -x "$BIN/$prog" ] || die "$BIN/$prog is missing; build it with: make BUILD=release all"
done
if want_ws && [ ! -x "$BIN/chat-loadgen" ]; then
    die "$BIN/chat-loadgen is missing; build it with: make BUILD=release $BIN/chat-loadgen"
fi
for tool in wrk nginx mariadb "$PYTHON"; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh installs it)"
done

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

for port in "$HTTPD_PORT" "$PUSH_PORT" "$NGINX_PORT"; do
    if port_open "$HOST" "$port"; then
        die "port $port is already in use (another bench.sh running? set BENCH_PORT_BASE)"
    fi
done
if scripts/db.sh status "$VAR" >/dev/null 2>&1; then
    die "a MariaDB is still running in $VAR (another bench.sh?); stop it with: scripts/db.sh stop $VAR_REL"
fi

# Only var/bench/chat.conf counts: drop every CHAT_* the caller has set.
while IFS= read -r name; do
    case "$name" in CHAT_*) unset "$name" ;; esac
done < <(compgen -e)

own_var=1
rm -rf "$VAR"
mkdir -p "$VAR/run" "$VAR/log" "$VAR/nginx/tmp"
DB_SOCKET=$VAR/run/mysqld.sock
FCGI_SOCKET=$VAR/run/chat-api.sock
WAKE_SOCKET=$VAR/run/chat-push.sock
CONF=$VAR/chat.conf
cat >"$CONF" <<EOF
# Written by scripts/bench.sh for the benchmark; recreated on each run.
listen_host = $HOST
http_port = $HTTPD_PORT
push_port = $PUSH_PORT
push_public_url = :$PUSH_PORT/ws/
allowed_origins = http://$HOST:$HTTPD_PORT http://$HOST:$NGINX_PORT
push_wake_sockets = $WAKE_SOCKET
fcgi_socket = $FCGI_SOCKET
fcgi_workers = $FCGI_WORKERS
httpd_threads = $HTTPD_THREADS
db_socket = $DB_SOCKET
db_user = chat
db_password = chat
db_name = chat
db_migrate_user = chat_owner
db_migrate_password = chat_owner
static_dir = $REPO/static
templates_dir = $REPO/templates
i18n_dir = $REPO/i18n
sql_dir = $REPO/sql
log_level = info
data_dir = $VAR/data
# The limiter runs on every request (its cost is part of the figures) but never refuses:
# wrk is one client. BENCH_RATE_LIMIT=false measures without it.
rate_limit_enabled = ${BENCH_RATE_LIMIT:-true}
rate_read_per_minute = 100000000
rate_read_burst = 100000000
rate_write_per_minute = 100000000
rate_write_burst = 100000000
rate_auth_per_minute = 100000000
rate_auth_burst = 100000000
# The large groups are built through the API: one creator invites 4,000 people.
rate_invitations_per_hour = 100000000
EOF
export CHAT_CONFIG=$CONF

# ---- process bookkeeping ---------------------------------------------------------
pids=()          # programs we started, in start order
declare -A names=()
watched=()       # every pid that must be gone at the end
problems=()      # why the run fails, found while stopping
db_started=0
wrk_pid=
loadgen_pid=
push_pid=
stopping=0

alive() {
    kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# Stops one program with SIGTERM (SIGKILL after STOP_TIMEOUT) and reaps it. Its
# children (chat-api's workers, nginx's worker) are recorded first so the final check
# can see whether they outlived it.
stop_pid() {
    local pid=$1 deadline
    local children
    mapfile -t children < <(pgrep -P "$pid" || true)
    watched+=("${children[@]}")
    alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while alive "$pid" && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if alive "$pid"; then
        say "${names[$pid]:-process} (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        problems+=("${names[$pid]:-process} (pid $pid) did not stop on SIGTERM")
    fi
    wait "$pid" 2>/dev/null || true
}

stop_all() {
    local i pid stray
    [ $stopping -eq 0 ] && [ $own_var -eq 1 ] || return 0
    stopping=1
    [ -n "$wrk_pid" ] && stop_pid "$wrk_pid"
    [ -n "$loadgen_pid" ] && stop_pid "$loadgen_pid"
    # nginx first (it fronts chat-api), then the app servers, chat-push, the database.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        watched+=("${pids[i]}")
        stop_pid "${pids[i]}"
    done
    if [ $db_started -eq 1 ]; then
        scripts/db.sh stop "$VAR" 2>>"$VAR/log/db.sh.log" ||
            problems+=("scripts/db.sh stop $VAR failed")
    fi
    # Nothing of ours may be left: the recorded pids, and anything whose command line
    # names var/bench (mariadbd, nginx's master, the programs run with --config).
    stray=()
    for pid in "${watched[@]}"; do alive "$pid" && stray+=("$pid"); done
    while read -r pid; do
        [ "$pid" = $$ ] || stray+=("$pid")
    done < <(pgrep -f -- "$VAR/" || true)
    if [ ${#stray[@]} -gt 0 ]; then
        for pid in $(printf '%s\n' "${stray[@]}" | sort -u); do
            problems+=("stray process left running, killed: $(ps -o pid=,args= -p "$pid" 2>/dev/null || echo "$pid")")
            kill -KILL "$pid" 2>/dev/null || true
        done
    fi
}

on_exit() {
    local rc=$? p
    trap - EXIT INT TERM
    stop_all
    for p in "${problems[@]}"; do say "error: $p"; done
    [ ${#problems[@]} -eq 0 ] || rc=1
    if [ $rc -eq 0 ]; then
        say "all processes stopped; logs in $VAR_REL/log/"
    else
        say "FAILED (logs in $VAR_REL/log/)"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# Starts a program in the background in its own session (the terminal's Ctrl-C reaches
# this script only, which then stops everything in order), logging to var/bench/log.
start_child() {
    local name=$1
    shift
    setsid "$@" </dev/null >>"$VAR/log/$name.log" 2>&1 &
    pids+=($!)
    names[$!]=$name
}

# Waits until `check ARGS...` succeeds; fails if the child exits or the timeout passes.
wait_for() {
    local pid=$1 deadline=$((SECONDS + STARTUP_TIMEOUT))
    shift
    until "$@"; do
        if ! alive "$pid"; then
            tail -n 20 "$VAR/log/${names[$pid]}.log" >&2 || true
            die "${names[$pid]} exited during startup (log: $VAR_REL/log/${names[$pid]}.log)"
        fi
        [ $SECONDS -lt $deadline ] || die "${names[$pid]} not ready after ${STARTUP_TIMEOUT}s"
        sleep 0.1
    done
}

# Prints the HTTP status of GET PATH on HOST:PORT (empty if there is no answer). Bash's
# /dev/tcp, so the check needs no HTTP client.
http_status() {
    local line=
    { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 0
    printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\n\r\n' "$3" "$1" "$2" >&3
    IFS= read -r -t 5 line <&3 || true
    exec 3<&- 3>&-
    line=${line#HTTP/1.? }
    printf '%s\n' "${line%% *}"
}
# A front end is ready when the API answers /api/auth/me with its own 401.
api_ready() { [ "$(http_status "$HOST" "$1" /api/auth/me)" = 401 ]; }
push_ready() { port_open "$HOST" "$PUSH_PORT" && [ -S "$WAKE_SOCKET" ]; }

sql() {
    mariadb --no-defaults --protocol=socket --socket="$DB_SOCKET" -uchat -pchat -Nse "$1" chat
}

# cpu_ms PID...: user + system CPU time in ms of these processes and their children
# (chat-api's FastCGI workers, nginx's workers), from /proc/PID/stat.
CLK_TCK=$(getconf CLK_TCK)
cpu_ms() {
    local ticks=0 pid t
    for pid in "$@" $(for p in "$@"; do pgrep -P "$p"; done); do
        t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || t=0
        ticks=$((ticks + ${t:-0}))
    done
    echo $((ticks * 1000 / CLK_TCK))
}

# Round trips the server has answered: prepared-statement executions plus BEGIN, COMMIT
# and ROLLBACK (MariaDB's own counters; the bench's text-protocol SELECTs and these SHOW
# STATUS reads are not among them).
db_round_trips() {
    sql "SELECT SUM(VARIABLE_VALUE) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME
         IN ('COM_STMT_EXECUTE', 'COM_BEGIN', 'COM_COMMIT', 'COM_ROLLBACK')"
}

# db_floor: the database's own durable commit rate at the benchmark's concurrency, the
# floor every REST figure is set beside: mariadb-slap running BENCH_CONNECTIONS clients
# that each insert one row per autocommit transaction into a scratch schema (durable:
# innodb_flush_log_at_trx_commit=1, like the REST runs). Prints inserts per second.
db_floor() {
    local out secs
    out=$("${CLIENT[@]}" mariadb-slap --no-defaults --socket="$DB_SOCKET" -uroot --create-schema=bench_floor \
        --concurrency="$WRK_CONNECTIONS" --number-of-queries="$FLOOR_QUERIES" --iterations=1 \
        --create="CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL) ENGINE=InnoDB" \
        --query="INSERT INTO t (v) VALUES ('a durable one-row commit')" 2>&1) ||
        die "mariadb-slap failed: $out"
    secs=$(sed -n 's/.*Average number of seconds to run all queries: \([0-9.]*\).*/\1/p' <<<"$out")
    [ -n "$secs" ] || die "no timing from mariadb-slap: $out"
    awk -v q="$FLOOR_QUERIES" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? q / s : 0) }'
}

# The push daemon's own statements (its tail; metrics are open to 127.0.0.1).
push_statements() {
    local line
    line=$(exec 3<>"/dev/tcp/$HOST/$PUSH_PORT" && printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3 &&
        grep -a -E '^chat_push_(tail_statements_total|db_conflicts_total) ' <&3 | awk '{ s += $2 } END { print s + 0 }')
    echo "${line:-0}"
}

# Prints the number of messages in the benchmarked conversation once it has stopped
# changing: requests still in flight when wrk stops (at most one per connection) are
# finished and committed by the server after wrk has exited.
settled_message_count() {
    local prev=-1 now i
    for ((i = 0; i < 50; i++)); do
        now=$(sql "SELECT COUNT(*) FROM messages WHERE conversation_id = $CONV")
        [ "$now" = "$prev" ] && break
        prev=$now
        sleep 0.2
    done
    printf '%s\n' "$now"
}

# ---- machine and build -----------------------------------------------------------
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- api httpd push shared ctl sql Makefile 2>/dev/null; then
    commit="$commit (plus uncommitted changes to the sources)"
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "== chat REST benchmark"
echo "commit:   $commit"
echo "machine:  $(nproc --all) CPUs, ${cpu:-unknown CPU}, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) before starting"
echo "cpus:     servers on ${BENCH_SERVER_CPUS:-any}, load generators on ${BENCH_CLIENT_CPUS:-any} (of $(nproc --all))"
if others=$(pgrep -f 'pytest|wrk ' | grep -v "^$$\$" || true) && [ -n "$others" ]; then
    echo "note:     other test or load processes are running; figures will be lower"
fi
echo "software: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), $(nginx -v 2>&1 | sed 's/.*: //'), $(mariadbd --version | sed 's/.*Ver \([^ ]*\).*/MariaDB \1/')"

# ---- database --------------------------------------------------------------------
say "starting a private MariaDB in $VAR_REL (durable: innodb_flush_log_at_trx_commit=1, doublewrite on)"
db_started=1
scripts/db.sh start "$VAR" 2>>"$VAR/log/db.sh.log" ||
    die "MariaDB did not start: $(tail -n 15 "$VAR/log/db.sh.log")"
"$BIN/chatctl" --config "$CONF" migrate >>"$VAR/log/chatctl.log" 2>&1 ||
    die "chatctl migrate failed: $(tail -n 5 "$VAR/log/chatctl.log")"

# ---- servers ---------------------------------------------------------------------
# chat-push first, so the API's wake-up datagrams after each commit have a receiver.
start_child chat-push "$BIN/chat-push" --config "$CONF"
push_pid=${pids[-1]}
wait_for "$push_pid" push_ready
start_child chat-api "$BIN/chat-api" --config "$CONF" --workers "$FCGI_WORKERS"
api_pid=${pids[-1]}
wait_for "$api_pid" test -S "$FCGI_SOCKET"
start_child chat-httpd "$BIN/chat-httpd" --config "$CONF"
httpd_pid=${pids[-1]}
wait_for "$httpd_pid" api_ready "$HTTPD_PORT"

# nginx with the production location blocks, rendered like tests/e2e/conftest.py does.
user_line=
[ "$(id -u)" -eq 0 ] && user_line='user root root;'
sed -e "s|@STATIC_DIR@|$REPO/static|g" -e "s|@FCGI_SOCKET@|$FCGI_SOCKET|g" \
    -e "s|@PUSH_ADDR@|$HOST:$PUSH_PORT|g" \
    etc/nginx/chat-locations.conf.in >"$VAR/nginx/chat-locations.conf"
mkdir -p "$VAR/nginx/snippets"
cp etc/nginx/chat-security-headers.conf "$VAR/nginx/snippets/"
sed -e "s|@VAR_DIR@|$VAR|g" -e "s|@USER@|$user_line|g" -e "s|@LISTEN@|$HOST:$NGINX_PORT|g" \
    etc/nginx/nginx-test.conf.in >"$VAR/nginx/nginx.conf"
if grep -n '@[A-Z_]*@' "$VAR/nginx/nginx.conf" "$VAR/nginx/chat-locations.conf"; then
    die "unrendered placeholders in the nginx config (above)"
fi
nginx_args=(-p "$VAR/nginx" -c "$VAR/nginx/nginx.conf" -e "$VAR/log/nginx-error.log")
nginx -t -q "${nginx_args[@]}" || die "nginx -t failed for $VAR_REL/nginx/nginx.conf"
start_child nginx nginx "${nginx_args[@]}"
nginx_pid=${pids[-1]}
wait_for "${pids[-1]}" api_ready "$NGINX_PORT"

echo "servers:  chat-api ($FCGI_WORKERS workers) behind nginx on :$NGINX_PORT," \
    "chat-httpd ($HTTPD_THREADS threads) on :$HTTPD_PORT, chat-push on :$PUSH_PORT"
echo "settings: nginx 1 worker, access log on; log_level info (one log line per request)"

# ---- seed data -------------------------------------------------------------------
say "creating 5 users, 5 conversations and $HISTORY messages of history through the API"
TOKEN=''
CONV=
while IFS='=' read -r key value; do
    case "$key" in
        TOKEN) TOKEN=$value ;;
        CONV) CONV=$value ;;
    esac
done < <("$PYTHON" bench/seed.py "http://$HOST:$HTTPD_PORT" bench "$HISTORY" ||
    echo "FAILED=1")
if [ -z "$TOKEN" ] || [ -z "$CONV" ]; then
    die "seeding failed (bench/seed.py, output above)"
fi

# ---- runs ------------------------------------------------------------------------
LIST_PATH=/api/chat/conversations/
HISTORY_PATH="/api/chat/conversations/$CONV/messages/?limit=50"
POST_PATH=/api/chat/conversations/$CONV/messages/
rows=()
failures=()
run_tag=$(date +%s)

# run FRONT ENDPOINT PORT PATH [post]: one wrk run; appends a table row, and a failure
# when any response was not 2xx or any socket error happened.
run() {
    local front=$1 endpoint=$2 port=$3 path=$4 mode=${5:-get} prefix out line
    local requests rps p50 p99 non2xx socket_errors first_bad before after created
    local -a extra=() kvs=()
    local -A r=()
    if [ "$mode" = post ]; then
        prefix="b$run_tag-${front%%+*}"
        extra=(post "$prefix")
        before=$(settled_message_count)
    fi
    out=$VAR/log/wrk-$front-${endpoint//[^a-z]/_}.txt
    local -a app=("$httpd_pid") web=()
    [ "$front" = "$FRONT_NGINX" ] && app=("$api_pid") web=("$nginx_pid")
    local db_pid cpu0_app cpu0_web cpu0_db cpu0_push trips0 push0
    db_pid=$(cat "$VAR/run/mysqld.pid")
    cpu0_app=$(cpu_ms "${app[@]}") cpu0_web=$(cpu_ms "${web[@]}") cpu0_db=$(cpu_ms "$db_pid")
    cpu0_push=$(cpu_ms "$push_pid") trips0=$(db_round_trips) push0=$(push_statements)
    say "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${RUN_SECONDS}s: $front $endpoint"
    "${CLIENT[@]}" wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"${RUN_SECONDS}s" --latency \
        -s bench/rest.lua "http://$HOST:$port$path" -- "$TOKEN" "${extra[@]}" >"$out" 2>&1 &
    wrk_pid=$!
    wait "$wrk_pid" || { wrk_pid=; cat "$out" >&2; die "wrk failed ($front $endpoint)"; }
    wrk_pid=
    line=$(grep '^BENCH ' "$out") || { cat "$out" >&2; die "no BENCH line from wrk ($front $endpoint)"; }
    read -ra kvs <<<"${line#BENCH }"
    for kv in "${kvs[@]}"; do r[${kv%%=*}]=${kv#*=}; done
    requests=${r[requests]} rps=${r[rps]} p50=${r[p50_ms]} p99=${r[p99_ms]}
    non2xx=${r[non2xx]} socket_errors=${r[socket_errors]}
    # Per request: CPU in µs of each process kind, and the API's round trips to MariaDB
    # (the server's counters minus the daemon's own tail statements).
    local per_app per_web per_db per_push trips
    per_req() { awk -v a="$1" -v b="$2" -v n="$requests" -v k="$3" 'BEGIN { printf "%.*f", k, n ? (b - a) / n : 0 }'; }
    per_app=$(per_req "$cpu0_app" "$(cpu_ms "${app[@]}")" 3) per_db=$(per_req "$cpu0_db" "$(cpu_ms "$db_pid")" 3)
    per_push=$(per_req "$cpu0_push" "$(cpu_ms "$push_pid")" 3)
    per_web=-
    [ ${#web[@]} -gt 0 ] && per_web=$(per_req "$cpu0_web" "$(cpu_ms "${web[@]}")" 3)
    # The server's counters count chat-push's statements too (reading the new events):
    # those are taken off, so this is the API's own.
    trips=$(per_req "$((trips0 - push0))" "$(( $(db_round_trips) - $(push_statements) ))" 1)
    # The counters above include the responses still in flight when wrk stopped (at most
    # one per connection), so each is high by up to BENCH_CONNECTIONS/requests.
    per_app=$(awk -v v="$per_app" 'BEGIN { printf "%.0f", v * 1000 }')
    per_db=$(awk -v v="$per_db" 'BEGIN { printf "%.0f", v * 1000 }')
    per_push=$(awk -v v="$per_push" 'BEGIN { printf "%.0f", v * 1000 }')
    [ "$per_web" != - ] && per_web=$(awk -v v="$per_web" 'BEGIN { printf "%.0f", v * 1000 }')
    if [ "$non2xx" != 0 ]; then
        first_bad=$(sed -n 's/^BENCH_FIRST_BAD //p' "$out")
        failures+=("$front $endpoint: $non2xx non-2xx responses; the first: $first_bad")
    fi
    if [ "$socket_errors" != 0 ]; then
        failures+=("$front $endpoint: $socket_errors socket errors (connect/read/write/timeout); see ${out#"$REPO"/}")
    fi
    if [ "$mode" = post ]; then
        # wrk counts completed responses only; requests still in flight when it stops
        # are committed too, at most one per connection.
        after=$(settled_message_count)
        created=$(sql "SELECT COUNT(*) FROM messages WHERE conversation_id = $CONV AND client_msg_id LIKE '$prefix-%'")
        if [ $((after - before)) -ne "$created" ] || [ "$created" -lt "$((requests - non2xx))" ] ||
            [ "$created" -gt "$((requests + WRK_CONNECTIONS))" ]; then
            failures+=("$front $endpoint: $requests responses ($non2xx non-2xx) but $created new messages in MariaDB ($before -> $after)")
        else
            say "MariaDB: $created new messages for $requests completed POSTs ($before -> $after)"
        fi
    fi
    rows+=("$front|$endpoint|$rps|$p50|$p99|$non2xx|$per_app|$per_web|$per_db|$per_push|$trips")
}

FRONT_NGINX=nginx+FastCGI
FRONT_HTTPD=chat-httpd
if want rest; then
    say "database floor: mariadb-slap, $WRK_CONNECTIONS clients, $FLOOR_QUERIES durable one-row inserts"
    floor_before=$(db_floor)
fi
# Endpoint by endpoint, both front ends in turn, so both read the same data; the POST
# runs come last because they grow the conversation.
for spec in "GET /api/chat/conversations/|$LIST_PATH|get" \
    "GET /api/chat/conversations/<pk>/messages/?limit=50|$HISTORY_PATH|get" \
    "POST /api/chat/conversations/<pk>/messages/|$POST_PATH|post"; do
    IFS='|' read -r endpoint path mode <<<"$spec"
    want rest || break
    run "$FRONT_NGINX" "$endpoint" "$NGINX_PORT" "$path" "$mode"
    run "$FRONT_HTTPD" "$endpoint" "$HTTPD_PORT" "$path" "$mode"
done

if want rest; then
    say "database floor again, after the REST runs"
    floor_after=$(db_floor)
    floor=$(((floor_before + floor_after) / 2))
    echo
    echo "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d${RUN_SECONDS}s --latency, one run each;" \
        "latency in ms; MariaDB durable; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "database floor (mariadb-slap, $WRK_CONNECTIONS clients, durable one-row inserts):" \
        "$floor_before/s before the runs, $floor_after/s after; 'of floor' is req/s over their mean ($floor/s)"
    echo
    echo "CPU columns: µs of CPU per request of the API process (chat-api's workers or"
    echo "chat-httpd), nginx, mariadbd and chat-push (no clients connected: what reading each"
    echo "new event costs a daemon); trips: the API's round trips to MariaDB per request."
    echo
    fmt='| %-13s | %-52s | %9s | %8s | %7s | %7s | %7s | %6s | %6s | %6s | %6s | %6s |\n'
    # shellcheck disable=SC2059
    printf "$fmt" "front end" endpoint "req/s" "of floor" p50 p99 non-2xx "api µs" "web µs" "db µs" "push µs" trips
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "---------------" "------------------------------------------------------" \
        "----------:" "---------:" "--------:" "--------:" "--------:" "-------:" "-------:" "-------:" "-------:" "-------:"
    for row in "${rows[@]}"; do
        IFS='|' read -r front endpoint rps p50 p99 non2xx per_app per_web per_db per_push trips <<<"$row"
        share=$(awk -v r="$rps" -v f="$floor" 'BEGIN { printf "%.1f%%", (f > 0 ? 100 * r / f : 0) }')
        # shellcheck disable=SC2059
        printf "$fmt" "$front" "$endpoint" "$rps" "$share" "$p50" "$p99" "$non2xx" "$per_app" "$per_web" \
            "$per_db" "$per_push" "$trips"
    done
    echo
fi

# ---- chat-api as a CGI program -----------------------------------------------------
# "cgi": what one request costs when chat-api runs as plain CGI (Apache mod_cgid, shared
# hosting): a process start, the config, a MariaDB connection and the request, each
# time. BENCH_CGI_REQUESTS sequential executions of GET /api/chat/conversations/ with
# the CGI environment a web server would set (no web server, so only chat-api's own
# cost is counted), beside one FastCGI connection doing the same requests through
# nginx (wrk -c1), where the process and its connection stay.
if want cgi; then
    say "CGI: $CGI_REQUESTS sequential executions of $BIN/chat-api"
    cgi_line=$(CHAT_CONFIG=$CONF "$PYTHON" - "$BIN/chat-api" "$TOKEN" "$LIST_PATH" "$CGI_REQUESTS" <<'PY'
import os, statistics, subprocess, sys, time
prog, token, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
env = dict(os.environ, GATEWAY_INTERFACE="CGI/1.1", REQUEST_METHOD="GET",
           REQUEST_URI=path, QUERY_STRING="", REMOTE_ADDR="127.0.0.1",
           HTTP_AUTHORIZATION="Bearer " + token, SERVER_PROTOCOL="HTTP/1.1")
times = []
for _ in range(n):
    t = time.perf_counter()
    r = subprocess.run([prog], env=env, stdin=subprocess.DEVNULL, capture_output=True)
    times.append((time.perf_counter() - t) * 1000)
    if r.returncode != 0 or not r.stdout.startswith(b"Status: 200"):
        sys.exit("CGI request failed: %r %r" % (r.stdout[:200], r.stderr[-300:]))
times.sort()
print("%.2f %.2f %.2f" % (statistics.mean(times), times[len(times) // 2],
                          times[int(len(times) * 0.99) - 1]))
PY
) || die "the CGI benchmark failed"
    read -r cgi_mean cgi_p50 cgi_p99 <<<"$cgi_line"
    out=$VAR/log/wrk-fcgi-c1.txt
    "${CLIENT[@]}" wrk -t1 -c1 -d5s --latency -s bench/rest.lua "http://$HOST:$NGINX_PORT$LIST_PATH" -- "$TOKEN" >"$out" 2>&1 ||
        die "wrk -c1 failed"
    line=$(grep '^BENCH ' "$out") || die "no BENCH line from wrk -c1"
    declare -A c1=()
    read -ra kvs <<<"${line#BENCH }"
    for kv in "${kvs[@]}"; do c1[${kv%%=*}]=${kv#*=}; done
    echo
    echo "GET /api/chat/conversations/, one request at a time; ms per request"
    echo
    printf '| %-44s | %8s | %8s | %8s |\n' "chat-api mode" mean p50 p99
    printf '|%s|%s|%s|%s|\n' "----------------------------------------------" "---------:" "---------:" "---------:"
    printf '| %-44s | %8s | %8s | %8s |\n' "CGI ($CGI_REQUESTS executions, no web server)" "$cgi_mean" "$cgi_p50" "$cgi_p99"
    printf '| %-44s | %8s | %8s | %8s |\n' "FastCGI through nginx (wrk -c1, 5 s)" \
        "$(awk -v r="${c1[rps]}" 'BEGIN { printf "%.2f", 1000 / r }')" "${c1[p50_ms]}" "${c1[p99_ms]}"
    echo
fi

# ---- real-time scenarios ---------------------------------------------------------
# The scenarios need up to 13,000 users with sessions. Registering them through the API
# would spend minutes in argon2id, so they are inserted with SQL: every user gets the
# password hash of the seeded user bench_a (nobody logs in as them), and a session whose
# token is LG_TOKEN_PREFIX followed by the user id, stored like a real one as
# SHA-256(token) (chat_session_lookup). chat-loadgen derives each token the same way.
# Each scenario has users of its own (1: lgu00001-01000, 2: lgu01001-03000, 3:
# lgu03001-13000), so that no scenario's sockets belong to another's conversations.
# Direct conversations pair consecutive users. The 2,000-member group is created through
# the API (nginx+FastCGI), in one request, and so is a second one of 2,000 by adding 1,999
# people in one request: both are timed (group_rows).
LG_TOKEN_PREFIX=lgt$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')u
ws_rows=()

# lg_range FIRST COUNT: the SQL condition for users lgu<FIRST> .. lgu<FIRST+COUNT-1>.
lg_range() {
    printf "username BETWEEN 'lgu%05d' AND 'lgu%05d'" "$1" $(($1 + $2 - 1))
}

# bench_users FIRST COUNT: the users and their sessions.
bench_users() {
    sql "SET @hash = (SELECT password_hash FROM users WHERE username = 'bench_a');
        INSERT INTO users (username, display_name, password_hash)
            SELECT CONCAT('lgu', LPAD(seq, 5, '0')), CONCAT('Load user ', seq), @hash
            FROM seq_${1}_to_$(($1 + $2 - 1));
        INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at)
            SELECT UNHEX(SHA2(CONCAT('$LG_TOKEN_PREFIX', id), 256)), id,
                   LEFT(SHA2(CONCAT('csrf', '$LG_TOKEN_PREFIX', id), 256), 43),
                   UTC_TIMESTAMP(6) + INTERVAL 1 DAY
            FROM users WHERE $(lg_range "$1" "$2");"
}

# bench_pairs FIRST COUNT: direct conversations between users FIRST+2i and FIRST+2i+1.
bench_pairs() {
    sql "INSERT INTO conversations (is_group, direct_key, created_by)
            SELECT 0, CONCAT(LEAST(a.id, b.id), ':', GREATEST(a.id, b.id)), a.id
            FROM seq_0_to_$(($2 / 2 - 1)) s
            JOIN users a ON a.username = CONCAT('lgu', LPAD($1 + 2 * s.seq, 5, '0'))
            JOIN users b ON b.username = CONCAT('lgu', LPAD($1 + 2 * s.seq + 1, 5, '0'))
            ORDER BY s.seq;
        INSERT INTO participants (conversation_id, user_id)
            SELECT c.id, u.id FROM conversations c
            JOIN users u ON u.id IN (CAST(SUBSTRING_INDEX(c.direct_key, ':', 1) AS UNSIGNED),
                                     CAST(SUBSTRING_INDEX(c.direct_key, ':', -1) AS UNSIGNED))
            WHERE c.is_group = 0 AND c.created_by IN
                (SELECT id FROM users WHERE $(lg_range "$1" "$2"));"
}

# api_post_timed PATH JSON USER_ID: POSTs JSON through nginx as lgu USER_ID's session;
# prints "STATUS SECONDS".
api_post_timed() {
    curl -s -o "$VAR/api-post.json" -w '%{http_code} %{time_total}' -X POST \
        -H "Authorization: Bearer $LG_TOKEN_PREFIX$3" -H 'Content-Type: application/json' \
        --data-binary "@$2" "http://$HOST:$NGINX_PORT$1"
}

# bench_group FIRST COUNT: the group "Load group" of these users, created by the first
# through POST /api/chat/conversations/, and "Bulk add group" of the same users, created
# with one other member and then given the rest by one POST .../participants/ (user_ids).
group_rows=()
bench_group() {
    local ids creator conv out
    ids=$(sql "SELECT GROUP_CONCAT(id ORDER BY id) FROM users WHERE $(lg_range "$1" "$2")")
    creator=${ids%%,*}
    printf '{"participant_ids": [%s], "name": "Load group", "is_group": true}' "${ids#*,}" \
        >"$VAR/group-create.json"
    out=($(api_post_timed /api/chat/conversations/ "$VAR/group-create.json" "$creator"))
    [ "${out[0]}" = 201 ] || die "creating the $2-member group answered ${out[0]}: $(head -c 300 "$VAR/api-post.json")"
    group_rows+=("$(printf '| create a group of %d (POST /api/chat/conversations/) | %d | %.0f |' \
        "$2" "${out[0]}" "$(awk -v t="${out[1]}" 'BEGIN { print t * 1000 }')")")
    local second=${ids#*,}
    second=${second%%,*}
    printf '{"participant_ids": [%s], "name": "Bulk add group", "is_group": true}' "$second" \
        >"$VAR/group-small.json"
    out=($(api_post_timed /api/chat/conversations/ "$VAR/group-small.json" "$creator"))
    [ "${out[0]}" = 201 ] || die "creating the bulk add group answered ${out[0]}"
    conv=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$VAR/api-post.json")
    printf '{"user_ids": [%s]}' "${ids#*,}" >"$VAR/group-add.json"
    out=($(api_post_timed "/api/chat/conversations/$conv/participants/" "$VAR/group-add.json" "$creator"))
    [ "${out[0]}" = 201 ] || die "adding $(($2 - 2)) people answered ${out[0]}: $(head -c 300 "$VAR/api-post.json")"
    group_rows+=("$(printf '| add %d people to a group (POST .../participants/ user_ids) | %d | %.0f |' \
        "$(($2 - 2))" "${out[0]}" "$(awk -v t="${out[1]}" 'BEGIN { print t * 1000 }')")")
}

# plan_direct FIRST COUNT FILE: the plan ("CONV USER USER" lines) of those users' pairs.
plan_direct() {
    sql "SELECT c.id, GROUP_CONCAT(p.user_id ORDER BY p.user_id SEPARATOR ' ')
        FROM conversations c JOIN participants p ON p.conversation_id = c.id
        WHERE c.is_group = 0 AND c.created_by IN (SELECT id FROM users WHERE $(lg_range "$1" "$2"))
        GROUP BY c.id ORDER BY c.id" | tr '\t' ' ' >"$3"
    [ "$(wc -l <"$3")" -eq $(($2 / 2)) ] || die "the plan $3 has $(wc -l <"$3") conversations, not $(($2 / 2))"
}

# plan_group COUNT FILE: the plan of the group.
plan_group() {
    sql "SELECT c.id, GROUP_CONCAT(p.user_id ORDER BY p.user_id SEPARATOR ' ')
        FROM conversations c JOIN participants p ON p.conversation_id = c.id
        WHERE c.name = 'Load group' GROUP BY c.id" | tr '\t' ' ' >"$2"
    [ "$(wc -w <"$2")" -eq $(($1 + 1)) ] || die "the group plan $2 does not have $1 members"
}

# A fresh chat-push for each scenario, so its RSS growth is the scenario's sockets only.
restart_push() {
    stop_pid "$push_pid"
    start_child chat-push "$BIN/chat-push" --config "$CONF"
    push_pid=${pids[-1]}
    wait_for "$push_pid" push_ready
}

# ws_run NAME PLAN RATE SECONDS [probe]: one chat-load run against a fresh chat-push;
# prints its report, appends a table row, and a failure when a socket or a POST failed or
# a delivery was lost. A probe (the fan-out ceiling) records no failure for lost
# deliveries: finding where they start is its purpose. LAST holds the run's LOADGEN keys.
declare -A LAST=()
ws_run() {
    local name=$1 plan=$2 rate=$3 seconds=$4 probe=${5:-} out line status=0
    local -a kvs=()
    local -A r=()
    restart_push
    out=$VAR/log/loadgen-$name.txt
    say "scenario $name: chat-loadgen, $(wc -w <"$plan") ids in $(wc -l <"$plan") conversations, $rate msg/s for ${seconds}s"
    "${CLIENT[@]}" "$BIN/chat-loadgen" --plan "$plan" --push "$HOST:$PUSH_PORT" --api "$HOST:$NGINX_PORT" \
        --token-prefix "$LG_TOKEN_PREFIX" --tag "lg$run_tag-$name" --rate "$rate" \
        --seconds "$seconds" --push-pid "$push_pid" --label "$name" \
        --connect-window "$CONNECT_WINDOW" >"$out" 2>&1 &
    loadgen_pid=$!
    wait "$loadgen_pid" || status=$?
    loadgen_pid=
    grep -v '^LOADGEN ' "$out" || true
    line=$(grep '^LOADGEN ' "$out") || die "no LOADGEN line from chat-loadgen (scenario $name)"
    read -ra kvs <<<"${line#LOADGEN }"
    for kv in "${kvs[@]}"; do r[${kv%%=*}]=${kv#*=}; done
    [ "$status" -eq 0 ] ||
        failures+=("scenario $name: chat-loadgen exited with $status (${r[failed_conns]} sockets failed, ${r[post_failed]} POSTs failed)")
    [ "${r[lost]}" = 0 ] || [ -n "$probe" ] ||
        failures+=("scenario $name: ${r[lost]} of ${r[expected]} deliveries lost")
    LAST=()
    for k in "${!r[@]}"; do LAST[$k]=${r[$k]}; done
    if [ "$rate" = 0 ]; then
        r[p50_ms]=- r[p99_ms]=- r[p999_ms]=- r[max_ms]=- r[dps]=-
    fi
    ws_rows+=("$(printf '| %-8s | %7s | %7s | %8s | %9s | %9s | %5s | %5s | %6s | %6s | %6s | %7s | %8s | %8s | %5s%% | %5s%% |' \
        "$name" "${r[conns]}" "${r[connect_s]}" "${r[created]}" "${r[expected]}" "${r[received]}" "${r[lost]}" \
        "${r[dup]}" "${r[p50_ms]}" "${r[p99_ms]}" "${r[p999_ms]}" "${r[max_ms]}" "${r[dps]}" \
        "${r[rss_per_conn_kib]}" "${r[gen_cpu_pct]}" "${r[push_cpu_pct]}")")
}

# storm_run PLAN: the connect storm with probes, then a SIGKILL and restart of chat-push
# while messages are sent; prints the report and appends a storm table row.
storm_run() {
    local plan=$1 out line status=0 deadline
    local -a kvs=()
    local -A r=()
    restart_push
    out=$VAR/log/loadgen-storm.txt
    say "scenario storm: chat-loadgen, $(wc -l <"$plan") conversations, 20 probes, then $STORM_RATE msg/s for ${STORM_SECONDS}s with a SIGKILL of chat-push after 2 s"
    "${CLIENT[@]}" "$BIN/chat-loadgen" --plan "$plan" --push "$HOST:$PUSH_PORT" --api "$HOST:$NGINX_PORT" \
        --token-prefix "$LG_TOKEN_PREFIX" --tag "lg$run_tag-storm" --rate "$STORM_RATE" \
        --seconds "$STORM_SECONDS" --push-pid "$push_pid" --label storm --probes 20 \
        --connect-window "$CONNECT_WINDOW" --restart >"$out" 2>&1 &
    loadgen_pid=$!
    deadline=$((SECONDS + 300))
    until grep -q '^LOADGEN_READY' "$out" 2>/dev/null; do
        alive "$loadgen_pid" || break
        [ $SECONDS -lt $deadline ] || die "chat-loadgen (storm) did not connect within 300 s"
        sleep 0.1
    done
    if alive "$loadgen_pid"; then
        sleep 2
        say "storm: SIGKILL to chat-push (pid $push_pid) with every client connected; starting it again"
        kill -KILL "$push_pid" 2>/dev/null || true
        wait "$push_pid" 2>/dev/null || true
        start_child chat-push "$BIN/chat-push" --config "$CONF"
        push_pid=${pids[-1]}
        wait_for "$push_pid" push_ready
    fi
    wait "$loadgen_pid" || status=$?
    loadgen_pid=
    grep -v '^LOADGEN' "$out" || true
    line=$(grep '^LOADGEN ' "$out") || die "no LOADGEN line from chat-loadgen (scenario storm)"
    read -ra kvs <<<"${line#LOADGEN }"
    for kv in "${kvs[@]}"; do r[${kv%%=*}]=${kv#*=}; done
    [ "$status" -eq 0 ] ||
        failures+=("scenario storm: chat-loadgen exited with $status (${r[failed_conns]} sockets failed, ${r[post_failed]} POSTs failed, resumed ${r[recovered_s]} s)")
    [ "${r[lost]}" = 0 ] || failures+=("scenario storm: ${r[lost]} of ${r[expected]} deliveries lost")
    storm_rows+=("$(printf '| %7s | %7s | %6s | %8s | %8s | %8s | %6s | %9s | %8s | %5s | %8s |' \
        "${r[conns]}" "${r[connect_s]}" "${r[ping_n]}" "${r[ping_p50_ms]}" "${r[ping_p99_ms]}" \
        "${r[ping_max_ms]}" "${r[reconnect_s]}" "${r[recovered_s]}" "${r[created]}" "${r[lost]}" \
        "${r[rss_per_conn_kib]}")")
}
storm_rows=()

if want_ws; then
    say "inserting the scenarios' users, sessions and conversations with SQL"
    if want 1; then
        bench_users 1 1000
        bench_pairs 1 1000
        plan_direct 1 1000 "$VAR/plan-1.txt"
    fi
    if want 2 || want ceiling; then
        bench_users 1001 2000
        bench_group 1001 2000
        plan_group 2000 "$VAR/plan-2.txt"
    fi
    if want 3 || want storm; then
        bench_users 3001 10000
        bench_pairs 3001 10000
        plan_direct 3001 10000 "$VAR/plan-3.txt"
    fi
    if want 1; then ws_run 1 "$VAR/plan-1.txt" 500 "$WS_SECONDS"; fi
    if want 2; then ws_run 2 "$VAR/plan-2.txt" 50 "$WS_SECONDS"; fi
    if want 3; then ws_run 3 "$VAR/plan-3.txt" 0 "$IDLE_SECONDS"; fi
    if want ceiling; then
        # The fan-out ceiling: rising rates into the 2,000-member group until a run loses
        # a delivery or its p99 passes 100 ms; the last clean rate is the ceiling.
        ceiling=none ceiling_us=-
        for rate in ${BENCH_CEILING_RATES:-25 50 75 100 150 200 300}; do
            ws_run "ceil-$rate" "$VAR/plan-2.txt" "$rate" "$CEILING_SECONDS" probe
            if [ "${LAST[lost]}" != 0 ] || awk -v p="${LAST[p99_ms]}" 'BEGIN { exit !(p > 100) }'; then
                break
            fi
            ceiling=$rate
            # chat-push CPU per delivery: its share of a core over the run, per delivery/s.
            ceiling_us=$(awk -v c="${LAST[push_cpu_pct]}" -v d="${LAST[dps]}" \
                'BEGIN { printf "%.1f", (d > 0 ? c * 10000 / d : 0) }')
        done
    fi
    if want storm; then storm_run "$VAR/plan-3.txt"; fi
    echo
    echo "chat-loadgen: WebSockets straight to chat-push, POSTs through nginx+FastCGI" \
        "($FCGI_WORKERS workers); latency from POST send to the frame on each socket, in ms;" \
        "MariaDB durable; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    printf '| %-8s | %7s | %7s | %8s | %9s | %9s | %5s | %5s | %6s | %6s | %6s | %7s | %8s | %8s | %6s | %6s |\n' \
        scenario sockets "conn s" messages expected received lost dup p50 p99 p99.9 max "deliv/s" \
        "KiB/sock" "gen CPU" "push CPU"
    printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "----------" "--------:" "--------:" "---------:" \
        "----------:" "----------:" "------:" "------:" "-------:" "-------:" "-------:" "--------:" \
        "---------:" "---------:" "-------:" "-------:"
    printf '%s\n' "${ws_rows[@]}"
    echo
    if [ ${#group_rows[@]} -gt 0 ]; then
        echo "large groups through the API (nginx+FastCGI, one request each; the first POST of"
        echo "a fresh server, so it includes connection and statement preparation):"
        echo
        echo "| request | status | ms |"
        echo "|---|--:|--:|"
        printf '%s\n' "${group_rows[@]}"
        echo
    fi
    if want ceiling; then
        echo "fan-out ceiling into the 2,000-member group (no loss, p99 <= 100 ms):" \
            "$ceiling msg/s ($( [ "$ceiling" = none ] && echo - || echo $((ceiling * 2000)) ) deliveries/s);" \
            "chat-push CPU per delivery there: $ceiling_us µs"
        echo
    fi
    if want storm; then
        echo "Connect storm and restart: sockets straight to chat-push; \"conn s\" is the storm of the"
        echo "sockets after the 20 probes; ping is the probes' round trip meanwhile; \"back s\" runs from"
        echo "the first socket dropped by the SIGKILL until every socket had its hello again, \"resumed s\""
        echo "until every message POSTed by then ($STORM_RATE msg/s) had reached every recipient."
        echo
        printf '| %7s | %7s | %6s | %8s | %8s | %8s | %6s | %9s | %8s | %5s | %8s |\n' sockets "conn s" \
            pings "ping p50" "ping p99" "ping max" "back s" "resumed s" messages lost "KiB/sock"
        printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' "--------:" "--------:" "-------:" "---------:" \
            "---------:" "---------:" "-------:" "----------:" "---------:" "------:" "---------:"
        printf '%s\n' "${storm_rows[@]}"
        echo
    fi
fi

if [ ${#failures[@]} -gt 0 ]; then
    for f in "${failures[@]}"; do say "FAILED: $f"; done
    exit 1
fi
