#!/usr/bin/env bash
# Load comparison under wrk: our session layer (every store) side by side
# with peer libraries, relative to the same axum app with no session at all
# (`noop-axum`, the floor). Three scenarios:
#
#   counter       the tutorial counter (`serve`, SCENARIO=counter, `GET /`): every
#                 request reads and writes the session
#   readonly      the login app (`serve`, SCENARIO=login): one `GET /login/hong/`, then
#                 wrk on `GET /get/`, which only reads the session and answers
#                 the profile. "ours redis" runs without and with
#                 SESSION_CACHE=1 (the local read cache)
#   twoinstances  two `serve` counter instances on one Redis, one session
#                 cookie driven against both at once (two wrk processes in
#                 parallel, one per instance, half the connections each), with
#                 SESSION_SERIALIZE=1 and, for contrast, 0; the counter is read
#                 back and the lost updates reported
#
#   benches/load.sh                                   # 10 s per run, three interleaved rounds
#   LOAD_SECONDS=2 LOAD_ROUNDS=1 benches/load.sh      # a quick smoke run
#   LOAD_SCENARIOS=readonly LOAD_ONLY="noop-axum ours-memory" benches/load.sh
#
# Each server runs pinned to CPU 0 (`taskset -c 0`, both instances of the
# two-instance runs too), wrk to CPU 1, with 32 connections, one wrk thread
# and ONE session cookie (fetched first with curl), so every request uses the
# same session. The whole list of runs (every scenario) goes once per round
# (A B C ... A B C ...), so a slow drift of the machine hits every app alike.
# Reported per app: mean requests/s over the rounds, the median over the
# rounds of the throughput relative to noop-axum of the same scenario and
# round, server CPU time (utime + stime
# from /proc/PID/stat) per request, Redis CPU time per request for the runs
# that use Redis, wrk's non-2xx/3xx count and socket errors, and a check read
# back after the run: the counter must have advanced, `/get/` must still
# answer the logged-in profile (checked before measuring too), so an app that
# answers errors or "Login first" fast cannot look good.
#
# Environment:
#   LOAD_SCENARIOS    space-separated scenarios to run (default: "counter
#                     readonly twoinstances")
#   LOAD_SECONDS      seconds per measured run (default 10)
#   LOAD_WARMUP       seconds of unmeasured warm-up per run (default 1; 0: none)
#   LOAD_ROUNDS       rounds (default 3; the tables give the median)
#   LOAD_CONNECTIONS  wrk connections (default 32; two-instance runs: half
#                     of them on each instance)
#   LOAD_SERIALIZED   1 (default): also run ours (memory) with per-session
#                     serialization on in the counter, labelled; 0: skip that run
#   LOAD_ONLY         space-separated apps to run in every scenario selected,
#                     spaces and commas in labels as '-' (e.g. "noop-axum
#                     ours-memory ours-redis-cached ours-redis-x2"; default: all)
#   REDIS_URL         Redis to use; unset: a throwaway redis-server on a free
#                     loopback port (pinned to CPU 0 with the servers: the
#                     store is part of the server side), stopped at exit.
#                     Redis CPU is read from /proc/PID/stat of the throwaway
#                     server, or from `INFO cpu` (used_cpu_sys + used_cpu_user)
#                     of a given REDIS_URL (which counts whatever else that
#                     server serves meanwhile)
#   SERVER_CPU / CLIENT_CPU   the CPUs to pin to (default 0 / 1)
#
# Writes the tables to benches/load-results.md as well as stdout. Loopback
# only; every wait is bounded; every process it starts is stopped at exit.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LOAD_SCENARIOS=${LOAD_SCENARIOS:-counter readonly twoinstances}
LOAD_SECONDS=${LOAD_SECONDS:-10}
LOAD_WARMUP=${LOAD_WARMUP:-1}
LOAD_ROUNDS=${LOAD_ROUNDS:-3}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-32}
LOAD_SERIALIZED=${LOAD_SERIALIZED:-1}
LOAD_ONLY=${LOAD_ONLY:-}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS="$ROOT/benches/load-results.md"
# A fixed 32-byte key (hex) for our apps: a benchmark, not a secret.
SECRET=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
# The user the read-only scenario logs in.
LOGIN_USER=hong

for n in LOAD_SECONDS LOAD_WARMUP LOAD_ROUNDS LOAD_CONNECTIONS; do
    [[ ${!n} =~ ^[0-9]+$ ]] || { echo "$n must be a whole number, not '${!n}'" >&2; exit 2; }
done
((LOAD_SECONDS > 0 && LOAD_ROUNDS > 0 && LOAD_CONNECTIONS > 0)) ||
    { echo "LOAD_SECONDS, LOAD_ROUNDS and LOAD_CONNECTIONS must be positive" >&2; exit 2; }
SCENARIOS=()
for want in $LOAD_SCENARIOS; do
    case $want in
    counter | readonly | twoinstances) SCENARIOS+=("$want") ;;
    *) echo "unknown scenario '$want' in LOAD_SCENARIOS (counter, readonly, twoinstances)" >&2; exit 2 ;;
    esac
done
((${#SCENARIOS[@]} > 0)) || { echo "LOAD_SCENARIOS names no scenario" >&2; exit 2; }
want_scenario() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }
# Half the connections on each of the two instances (at least one each).
PAIR_CONNECTIONS=$(((LOAD_CONNECTIONS + 1) / 2))

log() { printf '==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- cleanup ---
TMP=$(mktemp -d "${TMPDIR:-/tmp}/session-load.XXXXXX")
SERVER_PIDS=()
REDIS_PID=

stop_pid() { # PID: TERM, wait up to 5 s, then KILL
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_servers() { # every app server started so far
    local pid
    for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
    SERVER_PIDS=()
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_servers
    stop_pid "$REDIS_PID"
    REDIS_PID=
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools ---
need() { command -v "$1" >/dev/null || { echo "missing '$1' (Debian package: $2)" >&2; exit 1; }; }
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt-get install -y wrk)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
need wrk wrk
need curl curl
need taskset util-linux
need awk gawk
need redis-cli redis-tools
if [[ -z ${REDIS_URL:-} ]]; then need redis-server redis-server; fi

# ------------------------------------------------------------------ build ---
log "building the serve playground (release)"
cargo build --release --quiet -p examples --bin serve
log "building the peers (release, benches/peers)"
cargo build --release --quiet --manifest-path benches/peers/Cargo.toml

target_dir() { # MANIFEST -> the target directory cargo uses for it
    cargo metadata --format-version 1 --no-deps --manifest-path "$1" |
        grep -o '"target_directory":"[^"]*"' | head -n1 | sed 's/^"target_directory":"//; s/"$//'
}
OURS_DIR="$(target_dir Cargo.toml)/release"
COUNTER_BIN="$OURS_DIR/serve"
LOGIN_BIN="$OURS_DIR/serve"
PEERS_DIR="$(target_dir benches/peers/Cargo.toml)/release"
for bin in "$COUNTER_BIN" "$LOGIN_BIN" "$PEERS_DIR"/{noop-axum,tower-sessions-memory,actix-cookie,actix-redis}; do
    [[ -x $bin ]] || { echo "built binary not found: $bin" >&2; exit 1; }
done
# Whether this build of the login app reads SESSION_CACHE at all (the name
# is in the binary only if the code looks the variable up): said in the table,
# so a "cached" run of a build without the cache is not taken for one.
CACHE_READ=0
grep -qa SESSION_CACHE "$LOGIN_BIN" && CACHE_READ=1

# ------------------------------------------------------------------ redis ---
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

REDIS_NOTE="REDIS_URL as given (Redis CPU from its INFO cpu: used_cpu_sys + used_cpu_user, which counts anything else that server did meanwhile)"
if [[ -z ${REDIS_URL:-} ]]; then
    redis_port=
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + RANDOM % 30000))
        if port_free "$p"; then redis_port=$p; break; fi
    done
    [[ -n $redis_port ]] || { echo "no free loopback port for redis-server" >&2; exit 1; }
    mkdir -p "$TMP/redis"
    taskset -c "$SERVER_CPU" redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
        --appendonly no --dir "$TMP/redis" --logfile "$TMP/redis/log" &
    REDIS_PID=$!
    REDIS_URL="redis://127.0.0.1:$redis_port"
    ok=
    for ((i = 0; i < 100; i++)); do
        if [[ $(redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]]; then ok=1; break; fi
        kill -0 "$REDIS_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $ok ]] || { echo "redis-server did not start:" >&2; cat "$TMP/redis/log" >&2 || true; exit 1; }
    REDIS_NOTE="throwaway redis-server on CPU $SERVER_CPU (Redis CPU: utime + stime from its /proc/PID/stat)"
    log "redis-server on $REDIS_URL (pid $REDIS_PID)"
fi
export REDIS_URL

# ------------------------------------------------------------------- apps ---
# scenario | label | kind (floor, ours, peer, pair) | binary | environment (space-separated K=V)
SQLITE_DB="$TMP/sessions.db"
APPS=()
if want_scenario counter; then
    APPS+=(
        "counter|noop-axum|floor|$PEERS_DIR/noop-axum|"
        "counter|ours memory|ours|$COUNTER_BIN|SCENARIO=counter SESSION_STORE=memory SESSION_SERIALIZE=0"
        "counter|ours cookie|ours|$COUNTER_BIN|SCENARIO=counter SESSION_STORE=cookie SESSION_SERIALIZE=0"
        "counter|ours redis|ours|$COUNTER_BIN|SCENARIO=counter SESSION_STORE=$REDIS_URL SESSION_SERIALIZE=0"
        "counter|ours sqlite|ours|$COUNTER_BIN|SCENARIO=counter SESSION_STORE=sqlite://$SQLITE_DB SESSION_SERIALIZE=0"
        "counter|tower-sessions-memory|peer|$PEERS_DIR/tower-sessions-memory|"
        "counter|actix-cookie|peer|$PEERS_DIR/actix-cookie|"
        "counter|actix-redis|peer|$PEERS_DIR/actix-redis|REDIS_URL=$REDIS_URL"
    )
    if [[ $LOAD_SERIALIZED == 1 ]]; then
        APPS+=("counter|ours memory, serialized|ours|$COUNTER_BIN|SCENARIO=counter SESSION_STORE=memory SESSION_SERIALIZE=1")
    fi
fi
if want_scenario readonly; then
    APPS+=(
        "readonly|noop-axum|floor|$PEERS_DIR/noop-axum|"
        "readonly|ours memory|ours|$LOGIN_BIN|SCENARIO=login SESSION_STORE=memory SESSION_SERIALIZE=0"
        "readonly|ours cookie|ours|$LOGIN_BIN|SCENARIO=login SESSION_STORE=cookie SESSION_SERIALIZE=0"
        "readonly|ours redis|ours|$LOGIN_BIN|SCENARIO=login SESSION_STORE=$REDIS_URL SESSION_SERIALIZE=0 SESSION_CACHE=0"
        "readonly|ours redis, cached|ours|$LOGIN_BIN|SCENARIO=login SESSION_STORE=$REDIS_URL SESSION_SERIALIZE=0 SESSION_CACHE=1"
        "readonly|tower-sessions-memory|peer|$PEERS_DIR/tower-sessions-memory|"
        "readonly|actix-cookie|peer|$PEERS_DIR/actix-cookie|"
        "readonly|actix-redis|peer|$PEERS_DIR/actix-redis|REDIS_URL=$REDIS_URL"
    )
fi
if want_scenario twoinstances; then
    APPS+=(
        "twoinstances|ours redis x2, serialized|pair|$COUNTER_BIN|SCENARIO=counter SESSION_STORE=$REDIS_URL SESSION_SERIALIZE=1"
        "twoinstances|ours redis x2|pair|$COUNTER_BIN|SCENARIO=counter SESSION_STORE=$REDIS_URL SESSION_SERIALIZE=0"
    )
fi
if [[ -n $LOAD_ONLY ]]; then
    kept=()
    for entry in "${APPS[@]}"; do
        IFS='|' read -r _ label _ <<<"$entry"
        for want in $LOAD_ONLY; do
            # labels with spaces are matched with '-' or '_' for the space
            slug=$(tr -s ' ,' '-' <<<"$label")
            if [[ $slug == "$want" || $label == "$want" ]]; then kept+=("$entry"); fi
        done
    done
    APPS=("${kept[@]}")
fi
((${#APPS[@]} > 0)) || { echo "LOAD_ONLY matched no app of the scenarios $LOAD_SCENARIOS" >&2; exit 2; }

# ---------------------------------------------------------------- helpers ---
CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { # PID -> utime + stime in clock ticks
    local stat
    stat=$(<"/proc/$1/stat") || return 1
    stat=${stat##*) } # the command name may hold spaces and parentheses
    # after "pid (comm) " the fields start at #3 (state): utime is #14, stime #15
    awk '{ print $12 + $13 }' <<<"$stat"
}

servers_ticks() { # PID... -> the sum of their utime + stime in clock ticks
    local pid sum=0 t
    for pid in "$@"; do
        t=$(cpu_ticks "$pid") || t=0
        sum=$((sum + t))
    done
    echo "$sum"
}

redis_cpu_us() { # -> Redis CPU time so far in µs: /proc of the throwaway server, else INFO cpu
    if [[ -n $REDIS_PID ]]; then
        local t
        t=$(cpu_ticks "$REDIS_PID") || return 1
        awk -v t="$t" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", t * 1e6 / hz }'
    else
        timeout 5 redis-cli -u "$REDIS_URL" INFO cpu 2>/dev/null | tr -d '\r' |
            awk -F: '/^used_cpu_(sys|user):/ { s += $2; n++ } END { if (n == 2) printf "%.0f", s * 1e6; else exit 1 }'
    fi
}

uses_redis() { [[ $1 == *"$REDIS_URL"* ]]; } # ENVS

start_server() { # SLOT BIN ENV... -> sets SERVER_PID, SERVER_ADDR; 1 if it refused to start
    local slot=$1 bin=$2 i
    shift 2
    : >"$TMP/out-$slot"
    : >"$TMP/err-$slot"
    env PORT=0 SESSION_SECRET="$SECRET" RUST_LOG=warn "$@" \
        taskset -c "$SERVER_CPU" "$bin" >"$TMP/out-$slot" 2>"$TMP/err-$slot" &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    SERVER_ADDR=
    for ((i = 0; i < 150; i++)); do # 15 s
        SERVER_ADDR=$(grep -o 'listening on http://[0-9.:]*' "$TMP/out-$slot" | head -n1 | sed 's/^listening on http:\/\///') || true
        [[ -n $SERVER_ADDR ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_servers
    return 1
}

first_error_line() { # SLOT -> the server's stderr, one line, without ANSI colours
    { sed 's/\x1b\[[0-9;]*m//g' "$TMP/err-$1" | grep -v '^[[:space:]]*$' | tail -n 3 | tr '\n' ' ' | cut -c1-200; } || true
}

fetch() { # URL [COOKIE] -> sets BODY and SET_COOKIE (the cookie(s) the answer set); 1 on failure
    local url=$1 cookie=${2:-}
    BODY=$(curl -sS --max-time 5 -D "$TMP/headers" ${cookie:+-H "Cookie: $cookie"} "$url" 2>&1) || return 1
    SET_COOKIE=$(tr -d '\r' <"$TMP/headers" | sed -n 's/^[Ss]et-[Cc]ookie:[[:space:]]*\([^;]*\).*/\1/p' | paste -sd ';' - | sed 's/;/; /g')
}

user_count() { # BODY -> the number in {"user_count": N}, or nothing
    grep -o '"user_count"[[:space:]]*:[[:space:]]*[0-9]*' <<<"$1" | grep -o '[0-9]*$' || true
}

is_profile() { # BODY -> 0 if it is {"session_info": {... "user_id": LOGIN_USER ...}}
    grep -q '"session_info"' <<<"$1" &&
        grep -q "\"user_id\"[[:space:]]*:[[:space:]]*\"$LOGIN_USER\"" <<<"$1"
}

wrk_at() { # SECONDS CONNECTIONS URL COOKIE -> wrk's report on stdout (bounded)
    local secs=$1 conns=$2 url=$3 cookie=$4
    local -a hdr=()
    [[ -n $cookie ]] && hdr=(-H "Cookie: $cookie")
    timeout $((secs + 30)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$conns" -d"${secs}s" "${hdr[@]}" "$url" 2>&1 || true
}

parse_wrk() { # FILE -> sets W_RPS, W_REQS, W_NON2XX, W_SOCKERR (empty W_RPS: no figures)
    W_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
    W_REQS=$(awk '/ requests in / { print $1 }' "$1")
    W_NON2XX=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$1")
    W_NON2XX=${W_NON2XX:-0}
    W_SOCKERR=$(sed -n 's/.*Socket errors: \(.*\)/\1/p' "$1")
    [[ -n $W_RPS && -n $W_REQS ]]
}

declare -A RPS REQS TICKS RCPU NON2XX SOCKERR AFTER OK2XX ADVANCE LOST STATUS
SKIPPED=()

fail() { # ID MESSAGE: marks the app failed (its later rounds are skipped) and says so
    STATUS[$1]="failed: $2"
    printf 'FAILED: %-40s %s\n' "${1/|/: }" "$2"
}

refused() { # ID KIND SLOT: the app did not start
    local id=$1 kind=$2 why
    why=$(first_error_line "$3")
    if [[ $kind == ours || $kind == pair ]]; then
        STATUS[$id]="unavailable: the app refused to start: ${why:-no message}"
        SKIPPED+=("${id/|/: }")
        printf 'not available: %-40s the app refused to start (%s)\n' "${id/|/: }" "${why:-no message}"
    else
        fail "$id" "did not start: ${why:-no message}"
    fi
}

warm_up() { # COOKIE URL...: LOAD_WARMUP seconds of unmeasured load, split as in `measure`
    local cookie=$1 url
    shift
    local conns=$(((LOAD_CONNECTIONS + $# - 1) / $#))
    local -a pids=()
    ((LOAD_WARMUP > 0)) || return 0
    for url; do
        wrk_at "$LOAD_WARMUP" "$conns" "$url" "$cookie" >/dev/null &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    sleep 0.2 # requests cut off when wrk stopped may still be saving
}

# ID ROUND COOKIE ENVS URL...: the measured run against SERVER_PIDS: one
# wrk per URL, in parallel, the connections split between them; their
# figures summed. Sets W_OK (the 2xx/3xx responses wrk counted); 1 if wrk
# gave no figures.
measure() {
    local id=$1 round=$2 cookie=$3 envs=$4 key="$1#$2"
    shift 4
    local conns=$(((LOAD_CONNECTIONS + $# - 1) / $#)) url f i=0 t0 t1 r0= r1=
    local -a pids=() files=()
    t0=$(servers_ticks "${SERVER_PIDS[@]}")
    if uses_redis "$envs"; then r0=$(redis_cpu_us) || r0=; fi
    for url; do
        f="$TMP/wrk-${id//[^a-zA-Z0-9-]/_}-$round-$i.txt"
        files+=("$f")
        i=$((i + 1))
        wrk_at "$LOAD_SECONDS" "$conns" "$url" "$cookie" >"$f" &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    t1=$(servers_ticks "${SERVER_PIDS[@]}")
    if uses_redis "$envs"; then r1=$(redis_cpu_us) || r1=; fi
    local rps=0 reqs=0 non2xx=0 sock=
    for f in "${files[@]}"; do
        parse_wrk "$f" || { fail "$id" "wrk gave no figures: $(tr '\n' ' ' <"$f" | cut -c1-200)"; return 1; }
        rps=$(awk -v a="$rps" -v b="$W_RPS" 'BEGIN { print a + b }')
        reqs=$((reqs + W_REQS))
        non2xx=$((non2xx + W_NON2XX))
        [[ -n $W_SOCKERR ]] && sock+="${sock:+; }$W_SOCKERR"
    done
    RPS[$key]=$rps
    REQS[$key]=$reqs
    TICKS[$key]=$((t1 - t0))
    RCPU[$key]=
    [[ -n $r0 && -n $r1 ]] && RCPU[$key]=$((r1 - r0))
    NON2XX[$key]=$non2xx
    SOCKERR[$key]=$sock
    W_OK=$((reqs - non2xx))
}

report_line() { # ID ROUND CHECK
    local key="$1#$2"
    printf 'round %d  %-40s %10s req/s  %8s requests  cpu %5s ticks  non-2xx %s%s  %s\n' \
        "$2" "${1/|/: }" "${RPS[$key]}" "${REQS[$key]}" "${TICKS[$key]}" "${NON2XX[$key]}" \
        "${SOCKERR[$key]:+  socket errors: ${SOCKERR[$key]}}" "$3"
}

# ID KIND URL WHAT: the session's cookie(s) from a first request to URL (WHAT
# names it in messages), in COOKIE; 1 (the app marked failed) when the
# request fails or, but for the floor, sets no cookie.
open_session() {
    local id=$1 kind=$2 url=$3 what=$4
    fetch "$url" || { fail "$id" "$what: $BODY"; return 1; }
    COOKIE=$SET_COOKIE
    if [[ $kind != floor && -z $COOKIE ]]; then
        fail "$id" "no Set-Cookie on the $what (body: ${BODY:0:100})"
        return 1
    fi
}

# counter: one session from the first visit, wrk on `/`, the counter read back.
run_counter() { # ID ROUND KIND ENVS
    local id=$1 round=$2 kind=$3 envs=$4 url="http://$SERVER_ADDR/" cookie
    open_session "$id" "$kind" "$url" "first visit" || return 0
    cookie=$COOKIE
    warm_up "$cookie" "$url"
    measure "$id" "$round" "$cookie" "$envs" "$url" || return 0
    # The counter must have advanced (the floor has none).
    local after= count check=ok key="$id#$round"
    fetch "$url" "$cookie" && after=$BODY
    count=$(user_count "$after")
    AFTER[$key]=${count:-?}
    if [[ $kind == floor ]]; then
        [[ $count == 0 ]] || check="unexpected body: ${after:0:80}"
    elif [[ -z $count || $count -le 0 ]]; then
        check="COUNTER DID NOT ADVANCE (after: ${after:0:80})"
        STATUS[$id]="failed: counter did not advance"
    fi
    report_line "$id" "$round" "count after ${AFTER[$key]}  $check"
}

# readonly: one login, the profile checked, wrk on `/get/`, the profile checked again.
run_readonly() { # ID ROUND KIND ENVS
    local id=$1 round=$2 kind=$3 envs=$4 base="http://$SERVER_ADDR" cookie
    open_session "$id" "$kind" "$base/login/$LOGIN_USER/" login || return 0
    cookie=$COOKIE
    fetch "$base/get/" "$cookie" || { fail "$id" "/get/ after login: $BODY"; return 0; }
    is_profile "$BODY" || { fail "$id" "/get/ after login answers ${BODY:0:100}, not the profile"; return 0; }
    warm_up "$cookie" "$base/get/"
    measure "$id" "$round" "$cookie" "$envs" "$base/get/" || return 0
    local key="$id#$round" check=ok
    AFTER[$key]=profile
    if ! fetch "$base/get/" "$cookie" || ! is_profile "$BODY"; then
        AFTER[$key]="not the profile"
        check="NOT THE PROFILE AFTER THE RUN (${BODY:0:80})"
        STATUS[$id]="failed: /get/ no longer answers the profile"
    fi
    report_line "$id" "$round" "/get/ after: ${AFTER[$key]}  $check"
}

# twoinstances: two servers on one Redis, one session cookie, one wrk per
# instance in parallel (half the connections each), the counter read back.
run_pair() { # ID ROUND BIN ENVS
    local id=$1 round=$2 bin=$3 envs=$4 a b cookie key="$1#$2"
    a="http://$SERVER_ADDR/"
    # shellcheck disable=SC2086 # envs is a list of K=V words
    start_server b "$bin" $envs || { refused "$id" pair b; return 0; }
    b="http://$SERVER_ADDR/"
    open_session "$id" pair "$a" "first visit (instance A)" || return 0
    cookie=$COOKIE
    # Instance B takes A's cookie and sees A's count: one session in one Redis.
    fetch "$b" "$cookie" || { fail "$id" "first request (instance B): $BODY"; return 0; }
    [[ $(user_count "$BODY") == 1 ]] || { fail "$id" "instance B does not see A's session (${BODY:0:100})"; return 0; }
    warm_up "$cookie" "$a" "$b"
    # The count before the measured run (this visit counts too: +1).
    local before after
    fetch "$a" "$cookie" || { fail "$id" "count before the run: $BODY"; return 0; }
    before=$(user_count "$BODY")
    [[ -n $before ]] || { fail "$id" "no count before the run (${BODY:0:100})"; return 0; }
    before=$((before + 1))
    measure "$id" "$round" "$cookie" "$envs" "$a" "$b" || return 0
    sleep 0.2 # as in warm_up: let the requests in flight at the end settle
    fetch "$b" "$cookie" || { fail "$id" "count after the run: $BODY"; return 0; }
    after=$(user_count "$BODY")
    [[ -n $after ]] || { fail "$id" "no count after the run (${BODY:0:100})"; return 0; }
    OK2XX[$key]=$W_OK
    ADVANCE[$key]=$((after - before))
    LOST[$key]=$((W_OK - (after - before)))
    local check=ok
    if ((after - before <= 0)); then
        check="COUNTER DID NOT ADVANCE"
        STATUS[$id]="failed: counter did not advance"
    fi
    report_line "$id" "$round" "2xx $W_OK  advance $((after - before))  lost ${LOST[$key]}  $check"
}

run_one() { # ROUND ENTRY
    local round=$1 entry=$2 scenario label kind bin envs
    IFS='|' read -r scenario label kind bin envs <<<"$entry"
    local id="$scenario|$label"
    if [[ ${STATUS[$id]:-} == unavailable* || ${STATUS[$id]:-} == failed* ]]; then
        return 0
    fi
    # shellcheck disable=SC2086 # envs is a list of K=V words
    if ! start_server a "$bin" $envs; then
        refused "$id" "$kind" a
        return 0
    fi
    case $scenario in
    counter) run_counter "$id" "$round" "$kind" "$envs" ;;
    readonly) run_readonly "$id" "$round" "$kind" "$envs" ;;
    twoinstances) run_pair "$id" "$round" "$bin" "$envs" ;;
    esac
    stop_servers
}

# -------------------------------------------------------------------- run ---
started=$(date +%s)
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOADAVG%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average $LOADAVG: the machine is not quiet, figures will be noisy"
fi
log "${#APPS[@]} runs (${SCENARIOS[*]}) x $LOAD_ROUNDS rounds, ${LOAD_SECONDS}s each (+${LOAD_WARMUP}s warm-up), $LOAD_CONNECTIONS connections, server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
for ((round = 1; round <= LOAD_ROUNDS; round++)); do
    for entry in "${APPS[@]}"; do
        run_one "$round" "$entry"
    done
done
elapsed=$(($(date +%s) - started))

# ----------------------------------------------------------------- report ---
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { printf f, x }'; }

median() { # NUMBERS... -> their median, two decimals (an even count: the mean of the middle two)
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'
}

# Over the rounds of one app (ID), sets S_N (rounds with figures), S_MEAN,
# S_PER (req/s per round), S_REL (the median over the rounds of the ratio to
# noop-axum of the same scenario and round), S_RELMEM (the median ratio to
# "ours memory" likewise), S_CPU and S_RCPU
# (µs per request, server and Redis), S_NON2XX, S_SOCK and S_STATUS.
summarize() { # ID
    local id=$1 scenario=${1%%|*} r key sum=0 rels= relm= ticks=0 rcpu=0 nrcpu=0 reqs=0 rreqs=0
    S_N=0 S_PER= S_NON2XX=0 S_SOCK=
    for ((r = 1; r <= LOAD_ROUNDS; r++)); do
        key="$id#$r"
        [[ -n ${RPS[$key]:-} ]] || continue
        sum=$(awk -v a="$sum" -v b="${RPS[$key]}" 'BEGIN { print a + b }')
        S_N=$((S_N + 1))
        S_PER+="${S_PER:+ / }$(fmt "${RPS[$key]}" '%.0f')"
        ticks=$((ticks + TICKS[$key]))
        reqs=$((reqs + REQS[$key]))
        if [[ -n ${RCPU[$key]} ]]; then
            rcpu=$((rcpu + RCPU[$key]))
            rreqs=$((rreqs + REQS[$key]))
            nrcpu=$((nrcpu + 1))
        fi
        S_NON2XX=$((S_NON2XX + NON2XX[$key]))
        [[ -n ${SOCKERR[$key]} ]] && S_SOCK+=" socket errors (round $r): ${SOCKERR[$key]};"
        if [[ -n ${RPS["$scenario|noop-axum#$r"]:-} ]]; then
            rels+=" $(awk -v b="${RPS[$key]}" -v c="${RPS["$scenario|noop-axum#$r"]}" 'BEGIN { print b / c }')"
        fi
        if [[ -n ${RPS["$scenario|ours memory#$r"]:-} ]]; then
            relm+=" $(awk -v b="${RPS[$key]}" -v c="${RPS["$scenario|ours memory#$r"]}" 'BEGIN { print b / c }')"
        fi
    done
    S_STATUS=${STATUS[$id]:-ok}
    [[ -n $S_SOCK ]] && S_STATUS+=";$S_SOCK"
    S_MEAN=– S_REL=– S_RELMEM=– S_CPU=– S_RCPU=–
    ((S_N > 0)) || return 0
    S_MEAN=$(awk -v s="$sum" -v n="$S_N" 'BEGIN { printf "%.0f", s / n }')
    [[ -n $rels ]] && S_REL=$(median $rels)
    [[ -n $relm ]] && S_RELMEM=$(median $relm)
    S_CPU=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v q="$reqs" 'BEGIN { printf "%.1f", q ? t * 1e6 / hz / q : 0 }')
    ((nrcpu > 0)) && S_RCPU=$(awk -v t="$rcpu" -v q="$rreqs" 'BEGIN { printf "%.1f", q ? t / q : 0 }')
    return 0
}

per_round() { # ID ARRAY-NAME -> the array's values over the rounds, " / "-separated
    local -n values=$2
    local r out=
    for ((r = 1; r <= LOAD_ROUNDS; r++)); do
        [[ -n ${values["$1#$r"]:-} ]] && out+="${out:+ / }${values["$1#$r"]}"
    done
    echo "${out:-–}"
}

app_ids() { # SCENARIO -> the ids of its apps, one a line
    local entry scenario label
    for entry in "${APPS[@]}"; do
        IFS='|' read -r scenario label _ <<<"$entry"
        [[ $scenario == "$1" ]] && echo "$scenario|$label"
    done
    return 0
}

cpu_note() {
    echo "Server CPU is utime + stime of the server process(es) (clock ticks of 1/${CLK_TCK} s) over the"
    echo "measured run, divided by the requests wrk completed; Redis CPU likewise for the runs that use"
    echo "Redis (–: the run does not use Redis)."
}

table() {
    local ncpu kernel rev id
    ncpu=$(nproc 2>/dev/null || echo '?')
    kernel=$(uname -r)
    rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
    echo "# Load under wrk"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $rev, $ncpu CPUs, Linux $kernel."
    echo "Server pinned to CPU $SERVER_CPU, wrk (1 thread, $LOAD_CONNECTIONS connections) to CPU $CLIENT_CPU;"
    echo "one session cookie for all requests; $LOAD_ROUNDS interleaved rounds of ${LOAD_SECONDS}s per app"
    echo "(after ${LOAD_WARMUP}s of warm-up); Redis: $REDIS_NOTE. Ours run with SESSION_SERIALIZE=0"
    echo "(the peers do not serialize requests of one session) unless labelled *serialized*."
    echo "Load average when the runs began: $LOADAVG (a busy machine makes every figure noisy)."
    if want_scenario counter && [[ -n $(app_ids counter) ]]; then
        echo
        echo "## Counter: the tutorial counter, \`GET /\` (reads and writes the session)"
        echo
        echo "| app | req/s (mean) | req/s per round | relative to noop-axum (median) | server CPU µs/req | Redis CPU µs/req | non-2xx/3xx | counter after | status |"
        echo "|---|---:|---|---:|---:|---:|---:|---|---|"
        while read -r id; do
            summarize "$id"
            echo "| ${id#*|} | $S_MEAN | ${S_PER:-–} | $S_REL | $S_CPU | $S_RCPU | $S_NON2XX | $(per_round "$id" AFTER) | $S_STATUS |"
        done < <(app_ids counter)
        echo
        cpu_note
        echo "\"counter after\" is what one more request with the session cookie read back (it must be above"
        echo "0; cookie stores stay at 1 because wrk never sends the updated cookie back, and concurrent"
        echo "server-side writes without serialization lose updates)."
    fi
    if want_scenario readonly && [[ -n $(app_ids readonly) ]]; then
        echo
        echo "## Read-only: the login app's \`GET /get/\` after one \`GET /login/$LOGIN_USER/\`"
        echo
        echo "| app | req/s (mean) | req/s per round | relative to noop-axum (median) | relative to ours memory (median) | server CPU µs/req | Redis CPU µs/req | non-2xx/3xx | /get/ after | status |"
        echo "|---|---:|---|---:|---:|---:|---:|---:|---|---|"
        while read -r id; do
            summarize "$id"
            local label=${id#*|}
            if [[ $label == "ours redis, cached" && $CACHE_READ == 0 ]]; then
                label+=" (this build does not read SESSION_CACHE)"
            fi
            echo "| $label | $S_MEAN | ${S_PER:-–} | $S_REL | $S_RELMEM | $S_CPU | $S_RCPU | $S_NON2XX | $(per_round "$id" AFTER) | $S_STATUS |"
        done < <(app_ids readonly)
        echo
        echo "Ours is \`serve\` (SCENARIO=login); \"cached\" runs it with SESSION_CACHE=1 (the local read cache), the"
        echo "other with SESSION_CACHE=0. noop-axum answers the same profile JSON without a session. Each"
        echo "app's \`/get/\` must answer the logged-in profile before the run and after it (\"/get/ after\")."
        cpu_note
    fi
    if want_scenario twoinstances && [[ -n $(app_ids twoinstances) ]]; then
        echo
        echo "## Two instances on one Redis: the counter, one session cookie on both"
        echo
        echo "| app | req/s (mean, both) | req/s per round | server CPU µs/req | Redis CPU µs/req | non-2xx/3xx | 2xx counted by wrk | counter advance | lost updates | status |"
        echo "|---|---:|---|---:|---:|---:|---|---|---|---|"
        while read -r id; do
            summarize "$id"
            echo "| ${id#*|} | $S_MEAN | ${S_PER:-–} | $S_CPU | $S_RCPU | $S_NON2XX | $(per_round "$id" OK2XX) | $(per_round "$id" ADVANCE) | $(per_round "$id" LOST) | $S_STATUS |"
        done < <(app_ids twoinstances)
        echo
        echo "Two \`serve\` counter processes, both pinned to CPU $SERVER_CPU, on the same Redis; two wrk processes"
        echo "in parallel on CPU $CLIENT_CPU, one per instance with $PAIR_CONNECTIONS connections each, all with the same"
        echo "session cookie. Per round: the 2xx responses both wrk counted, the counter's advance over the"
        echo "run (read before and after it with curl), and lost updates = 2xx − advance. wrk does not count"
        echo "the responses still in flight when it stops, and the server may have counted them: a figure"
        echo "between −$((2 * PAIR_CONNECTIONS)) and 0 means nothing was lost. Server CPU is that of both instances."
    fi
    if ((${#SKIPPED[@]} > 0)); then
        echo
        local joined
        joined=$(printf '%s; ' "${SKIPPED[@]}")
        echo "Not available in this build (the app refused the store at start): ${joined%; }."
    fi
}

echo
table | tee "$RESULTS"
echo
log "wrote $RESULTS; the runs took ${elapsed}s"
failed=0
for entry in "${APPS[@]}"; do
    IFS='|' read -r scenario label _ <<<"$entry"
    [[ ${STATUS["$scenario|$label"]:-ok} == failed* ]] && failed=1
done
exit "$failed"
