#!/usr/bin/env bash
# Load comparison of the tutorial counter: our session layer (every store)
# side by side with peer libraries, relative to the same axum app with no
# session at all (`noop-axum`, the floor).
#
#   benches/load.sh                    # 10 s per run, two interleaved rounds
#   LOAD_SECONDS=2 benches/load.sh     # a quick smoke run
#
# Each server runs pinned to CPU 0 (`taskset -c 0`), wrk to CPU 1, with 32
# connections, one wrk thread and ONE session cookie (fetched first with
# curl), so every request reads and writes the same session. The whole list
# of apps runs once per round (A B C ... A B C ...), so a slow drift of the
# machine hits every app alike. Reported per app: mean requests/s over the
# rounds, throughput relative to noop-axum of the same round, server CPU time
# (utime + stime from /proc/PID/stat) per request, wrk's non-2xx/3xx count
# and socket errors, and the counter read back after the run (it must have
# advanced, so an app that answers errors fast cannot look good).
#
# Environment:
#   LOAD_SECONDS      seconds per measured run (default 10)
#   LOAD_WARMUP       seconds of unmeasured warm-up per run (default 1; 0: none)
#   LOAD_ROUNDS       rounds (default 2)
#   LOAD_CONNECTIONS  wrk connections (default 32)
#   LOAD_SERIALIZED   1 (default): also run ours (memory) with per-session
#                     serialization on, labelled; 0: skip that run
#   LOAD_ONLY         space-separated apps to run, spaces in labels as '-'
#                     (e.g. "noop-axum ours-memory actix-cookie"; default: all)
#   REDIS_URL         Redis to use; unset: a throwaway redis-server on a free
#                     loopback port (pinned to CPU 0 with the servers: the
#                     store is part of the server side), stopped at exit
#   SERVER_CPU / CLIENT_CPU   the CPUs to pin to (default 0 / 1)
#
# Writes the table to benches/load-results.md as well as stdout. Loopback
# only; every wait is bounded; every process it starts is stopped at exit.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LOAD_SECONDS=${LOAD_SECONDS:-10}
LOAD_WARMUP=${LOAD_WARMUP:-1}
LOAD_ROUNDS=${LOAD_ROUNDS:-2}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-32}
LOAD_SERIALIZED=${LOAD_SERIALIZED:-1}
LOAD_ONLY=${LOAD_ONLY:-}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS="$ROOT/benches/load-results.md"
# A fixed 32-byte key (hex) for our apps: a benchmark, not a secret.
SECRET=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f

for n in LOAD_SECONDS LOAD_WARMUP LOAD_ROUNDS LOAD_CONNECTIONS; do
    [[ ${!n} =~ ^[0-9]+$ ]] || { echo "$n must be a whole number, not '${!n}'" >&2; exit 2; }
done
((LOAD_SECONDS > 0 && LOAD_ROUNDS > 0 && LOAD_CONNECTIONS > 0)) ||
    { echo "LOAD_SECONDS, LOAD_ROUNDS and LOAD_CONNECTIONS must be positive" >&2; exit 2; }

log() { printf '==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- cleanup ---
TMP=$(mktemp -d "${TMPDIR:-/tmp}/session-load.XXXXXX")
SERVER_PID=
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

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    stop_pid "$SERVER_PID"
    SERVER_PID=
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
if [[ -z ${REDIS_URL:-} ]]; then need redis-server redis-server; fi

# ------------------------------------------------------------------ build ---
log "building axum-counter (release)"
cargo build --release --quiet -p examples --bin axum-counter
log "building the peers (release, benches/peers)"
cargo build --release --quiet --manifest-path benches/peers/Cargo.toml

target_dir() { # MANIFEST -> the target directory cargo uses for it
    cargo metadata --format-version 1 --no-deps --manifest-path "$1" |
        grep -o '"target_directory":"[^"]*"' | head -n1 | sed 's/^"target_directory":"//; s/"$//'
}
OURS_BIN="$(target_dir Cargo.toml)/release/axum-counter"
PEERS_DIR="$(target_dir benches/peers/Cargo.toml)/release"
for bin in "$OURS_BIN" "$PEERS_DIR"/{noop-axum,tower-sessions-memory,actix-cookie,actix-redis}; do
    [[ -x $bin ]] || { echo "built binary not found: $bin" >&2; exit 1; }
done

# ------------------------------------------------------------------ redis ---
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

REDIS_NOTE="REDIS_URL as given"
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
    REDIS_NOTE="throwaway redis-server on CPU $SERVER_CPU"
    log "redis-server on $REDIS_URL (pid $REDIS_PID)"
fi
export REDIS_URL

# ------------------------------------------------------------------- apps ---
# label | kind (floor, ours, peer) | binary | environment (space-separated K=V)
SQLITE_DB="$TMP/sessions.db"
APPS=(
    "noop-axum|floor|$PEERS_DIR/noop-axum|"
    "ours memory|ours|$OURS_BIN|SESSION_STORE=memory SESSION_SERIALIZE=0"
    "ours cookie|ours|$OURS_BIN|SESSION_STORE=cookie SESSION_SERIALIZE=0"
    "ours redis|ours|$OURS_BIN|SESSION_STORE=$REDIS_URL SESSION_SERIALIZE=0"
    "ours sqlite|ours|$OURS_BIN|SESSION_STORE=sqlite://$SQLITE_DB SESSION_SERIALIZE=0"
    "tower-sessions-memory|peer|$PEERS_DIR/tower-sessions-memory|"
    "actix-cookie|peer|$PEERS_DIR/actix-cookie|"
    "actix-redis|peer|$PEERS_DIR/actix-redis|REDIS_URL=$REDIS_URL"
)
if [[ $LOAD_SERIALIZED == 1 ]]; then
    APPS+=("ours memory, serialized|ours|$OURS_BIN|SESSION_STORE=memory SESSION_SERIALIZE=1")
fi
if [[ -n $LOAD_ONLY ]]; then
    kept=()
    for entry in "${APPS[@]}"; do
        label=${entry%%|*}
        for want in $LOAD_ONLY; do
            # labels with spaces are matched with '-' or '_' for the space
            slug=$(tr -s ' ,' '-' <<<"$label")
            if [[ $slug == "$want" || $label == "$want" ]]; then kept+=("$entry"); fi
        done
    done
    APPS=("${kept[@]}")
fi
((${#APPS[@]} > 0)) || { echo "LOAD_ONLY matched no app" >&2; exit 2; }

# ---------------------------------------------------------------- helpers ---
CLK_TCK=$(getconf CLK_TCK)

cpu_ticks() { # PID -> utime + stime in clock ticks
    local stat
    stat=$(<"/proc/$1/stat") || return 1
    stat=${stat##*) } # the command name may hold spaces and parentheses
    # after "pid (comm) " the fields start at #3 (state): utime is #14, stime #15
    awk '{ print $12 + $13 }' <<<"$stat"
}

start_server() { # BIN ENV... -> sets SERVER_PID, SERVER_ADDR; 1 if it refused to start
    local bin=$1 i
    shift
    : >"$TMP/out"
    : >"$TMP/err"
    env PORT=0 SESSION_SECRET="$SECRET" RUST_LOG=warn "$@" \
        taskset -c "$SERVER_CPU" "$bin" >"$TMP/out" 2>"$TMP/err" &
    SERVER_PID=$!
    SERVER_ADDR=
    for ((i = 0; i < 150; i++)); do # 15 s
        SERVER_ADDR=$(grep -o 'listening on http://[0-9.:]*' "$TMP/out" | head -n1 | sed 's/^listening on http:\/\///') || true
        [[ -n $SERVER_ADDR ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    stop_pid "$SERVER_PID"
    SERVER_PID=
    return 1
}

first_error_line() { # the server's stderr, one line, without ANSI colours
    { sed 's/\x1b\[[0-9;]*m//g' "$TMP/err" | grep -v '^[[:space:]]*$' | tail -n 3 | tr '\n' ' ' | cut -c1-200; } || true
}

user_count() { # BODY -> the number in {"user_count": N}, or nothing
    grep -o '"user_count"[[:space:]]*:[[:space:]]*[0-9]*' <<<"$1" | grep -o '[0-9]*$' || true
}

declare -A RPS REQS TICKS RTICKS NON2XX SOCKERR COUNT_AFTER STATUS
SKIPPED=()

run_one() { # ROUND ENTRY
    local round=$1 entry=$2 label kind bin envs
    IFS='|' read -r label kind bin envs <<<"$entry"
    local key="$label#$round"
    if [[ ${STATUS[$label]:-} == unavailable* || ${STATUS[$label]:-} == failed* ]]; then
        return 0
    fi
    # shellcheck disable=SC2086 # envs is a list of K=V words
    if ! start_server "$bin" $envs; then
        local why
        why=$(first_error_line)
        if [[ $kind == ours ]]; then
            STATUS[$label]="unavailable: the app refused to start: ${why:-no message}"
            SKIPPED+=("$label")
            printf 'not available: %-26s the app refused to start (%s)\n' "$label" "${why:-no message}"
        else
            STATUS[$label]="failed: did not start: ${why:-no message}"
            printf 'FAILED: %-26s did not start (%s)\n' "$label" "${why:-no message}"
        fi
        return 0
    fi
    local url="http://$SERVER_ADDR/"
    # One session: the cookie(s) set by the first visit.
    local body cookie
    body=$(curl -sS --max-time 5 -D "$TMP/headers" "$url" 2>&1) || {
        STATUS[$label]="failed: first request: $body"
        printf 'FAILED: %-26s first request failed (%s)\n' "$label" "$body"
        stop_pid "$SERVER_PID"; SERVER_PID=
        return 0
    }
    cookie=$(tr -d '\r' <"$TMP/headers" | sed -n 's/^[Ss]et-[Cc]ookie:[[:space:]]*\([^;]*\).*/\1/p' | paste -sd ';' - | sed 's/;/; /g')
    if [[ $kind != floor && -z $cookie ]]; then
        STATUS[$label]="failed: no Set-Cookie on the first visit (body: ${body:0:100})"
        printf 'FAILED: %-26s no session cookie on the first visit (%s)\n' "$label" "${body:0:100}"
        stop_pid "$SERVER_PID"; SERVER_PID=
        return 0
    fi
    local -a hdr=()
    [[ -n $cookie ]] && hdr=(-H "Cookie: $cookie")
    if ((LOAD_WARMUP > 0)); then
        timeout $((LOAD_WARMUP + 30)) taskset -c "$CLIENT_CPU" \
            wrk -t1 -c"$LOAD_CONNECTIONS" -d"${LOAD_WARMUP}s" "${hdr[@]}" "$url" >/dev/null 2>&1 || true
    fi
    local t0 t1 r0 r1 out
    t0=$(cpu_ticks "$SERVER_PID") || t0=0
    r0=0
    [[ -n $REDIS_PID ]] && { r0=$(cpu_ticks "$REDIS_PID") || r0=0; }
    out=$(timeout $((LOAD_SECONDS + 30)) taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$LOAD_CONNECTIONS" -d"${LOAD_SECONDS}s" "${hdr[@]}" "$url" 2>&1) || true
    t1=$(cpu_ticks "$SERVER_PID") || t1=$t0
    r1=0
    [[ -n $REDIS_PID ]] && { r1=$(cpu_ticks "$REDIS_PID") || r1=0; }
    # The counter must have advanced (the floor has none).
    local after
    after=$(curl -sS --max-time 5 ${cookie:+-H "Cookie: $cookie"} "$url" 2>/dev/null) || after=
    stop_pid "$SERVER_PID"
    SERVER_PID=
    printf '%s\n' "$out" >"$TMP/wrk-${label//[^a-zA-Z0-9-]/_}-$round.txt"

    local rps reqs non2xx sockerr count
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    reqs=$(awk '/ requests in / { print $1 }' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
    sockerr=$(sed -n 's/.*Socket errors: \(.*\)/\1/p' <<<"$out")
    count=$(user_count "$after")
    if [[ -z $rps || -z $reqs ]]; then
        STATUS[$label]="failed: wrk gave no figures: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
        printf 'FAILED: %-26s wrk gave no figures\n%s\n' "$label" "$out"
        return 0
    fi
    RPS[$key]=$rps
    REQS[$key]=$reqs
    TICKS[$key]=$((t1 - t0))
    RTICKS[$key]=$((r1 - r0))
    NON2XX[$key]=${non2xx:-0}
    SOCKERR[$key]=${sockerr:-}
    COUNT_AFTER[$key]=${count:-?}
    local check=ok
    if [[ $kind == floor ]]; then
        [[ $count == 0 ]] || check="unexpected body: ${after:0:80}"
    elif [[ -z $count || $count -le 0 ]]; then
        check="COUNTER DID NOT ADVANCE (after: ${after:0:80})"
        STATUS[$label]="failed: counter did not advance"
    fi
    printf 'round %d  %-26s %10s req/s  %8s requests  cpu %5s ticks  non-2xx %s%s  count after %s  %s\n' \
        "$round" "$label" "$rps" "$reqs" "$((t1 - t0))" "${non2xx:-0}" "${sockerr:+  socket errors: $sockerr}" \
        "${count:-?}" "$check"
}

# -------------------------------------------------------------------- run ---
started=$(date +%s)
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOADAVG%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    log "warning: load average $LOADAVG: the machine is not quiet, figures will be noisy"
fi
log "${#APPS[@]} apps x $LOAD_ROUNDS rounds, ${LOAD_SECONDS}s each (+${LOAD_WARMUP}s warm-up), $LOAD_CONNECTIONS connections, server on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
for ((round = 1; round <= LOAD_ROUNDS; round++)); do
    for entry in "${APPS[@]}"; do
        run_one "$round" "$entry"
    done
done
elapsed=$(($(date +%s) - started))

# ----------------------------------------------------------------- report ---
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { printf f, x }'; }

table() {
    local ncpu kernel rev
    ncpu=$(nproc 2>/dev/null || echo '?')
    kernel=$(uname -r)
    rev=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
    echo "# Load: the tutorial counter under wrk"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $rev, $ncpu CPUs, Linux $kernel."
    echo "Server pinned to CPU $SERVER_CPU, wrk (1 thread, $LOAD_CONNECTIONS connections) to CPU $CLIENT_CPU;"
    echo "one session cookie for all requests; $LOAD_ROUNDS interleaved rounds of ${LOAD_SECONDS}s per app"
    echo "(after ${LOAD_WARMUP}s of warm-up); Redis: $REDIS_NOTE. Ours run with SESSION_SERIALIZE=0"
    echo "(the peers do not serialize requests of one session) unless labelled *serialized*."
    echo "Load average when the runs began: $LOADAVG (a busy machine makes every figure noisy)."
    echo
    echo "| app | req/s (mean) | req/s per round | relative to noop-axum | server CPU µs/req | Redis CPU µs/req | non-2xx/3xx | counter after | status |"
    echo "|---|---:|---|---:|---:|---:|---:|---|---|"
    local entry label kind bin envs r key
    for entry in "${APPS[@]}"; do
        IFS='|' read -r label kind bin envs <<<"$entry"
        local sum=0 n=0 rels=0 nrel=0 ticks=0 rticks=0 reqs=0 non2xx=0 per="" counts="" sock=""
        for ((r = 1; r <= LOAD_ROUNDS; r++)); do
            key="$label#$r"
            [[ -n ${RPS[$key]:-} ]] || continue
            sum=$(awk -v a="$sum" -v b="${RPS[$key]}" 'BEGIN { print a + b }')
            n=$((n + 1))
            per+="${per:+ / }$(fmt "${RPS[$key]}" '%.0f')"
            counts+="${counts:+ / }${COUNT_AFTER[$key]}"
            ticks=$((ticks + TICKS[$key]))
            rticks=$((rticks + RTICKS[$key]))
            reqs=$((reqs + REQS[$key]))
            non2xx=$((non2xx + NON2XX[$key]))
            [[ -n ${SOCKERR[$key]} ]] && sock+=" socket errors (round $r): ${SOCKERR[$key]};"
            if [[ -n ${RPS["noop-axum#$r"]:-} ]]; then
                rels=$(awk -v a="$rels" -v b="${RPS[$key]}" -v c="${RPS["noop-axum#$r"]}" 'BEGIN { print a + b / c }')
                nrel=$((nrel + 1))
            fi
        done
        local status=${STATUS[$label]:-ok}
        [[ -n $sock ]] && status+=";$sock"
        if ((n == 0)); then
            echo "| $label | – | – | – | – | – | – | – | $status |"
            continue
        fi
        local mean rel cpu rcpu
        mean=$(awk -v s="$sum" -v n="$n" 'BEGIN { printf "%.0f", s / n }')
        rel=–
        ((nrel > 0)) && rel=$(awk -v s="$rels" -v n="$nrel" 'BEGIN { printf "%.2f", s / n }')
        cpu=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v q="$reqs" 'BEGIN { printf "%.1f", q ? t * 1e6 / hz / q : 0 }')
        rcpu=–
        if [[ -n $REDIS_PID && ($label == *redis*) ]]; then
            rcpu=$(awk -v t="$rticks" -v hz="$CLK_TCK" -v q="$reqs" 'BEGIN { printf "%.1f", q ? t * 1e6 / hz / q : 0 }')
        fi
        echo "| $label | $mean | $per | $rel | $cpu | $rcpu | $non2xx | $counts | $status |"
    done
    echo
    echo "CPU time is utime + stime of the server process (clock ticks of 1/${CLK_TCK} s) over the measured"
    echo "run, divided by the requests wrk completed. \"counter after\" is what one more request with the"
    echo "session cookie read back (it must be above 0; cookie stores stay at 1 because wrk never sends"
    echo "the updated cookie back, and concurrent server-side writes without serialization lose updates)."
    if ((${#SKIPPED[@]} > 0)); then
        echo
        local IFS=,
        echo "Not available in this build (the app refused the store at start): ${SKIPPED[*]}." | sed 's/,/, /g'
    fi
}

echo
table | tee "$RESULTS"
echo
log "wrote $RESULTS; the runs took ${elapsed}s"
failed=0
for entry in "${APPS[@]}"; do
    label=${entry%%|*}
    [[ ${STATUS[$label]:-ok} == failed* ]] && failed=1
done
exit "$failed"
