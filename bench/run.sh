#!/usr/bin/env bash
# Fogbank benchmark: ceiling vs fogbank vs moto, same wrk settings.
#
#   bench/run.sh                 # all three: ceiling fogbank moto
#   bench/run.sh ceiling moto    # any subset, in the order given
#
# See bench/README.md for the scenarios and targets. Every server runs on its
# own free port on 127.0.0.1, one server at a time; all servers this script
# started are stopped on exit, also on failure or Ctrl-C.
#
# Knobs (environment):
#   DURATION=10s THREADS=2 CONNS=32          wrk settings (ceiling, fogbank)
#   MOTO_DURATION=10s MOTO_CONNS=8           wrk settings for moto (it is slow)
#   WRK_TIMEOUT=30s                          wrk --timeout (moto's 1,000-VPC listing takes seconds)
#   WARMUP=2s                                unrecorded wrk run before each scenario (0 = none)
#   FIRST_ANSWER_RUNS=5                      exec-to-first-200 runs (median reported)
#   SEED_COUNT=1000 SEED_WORKERS=8           VPCs seeded into fogbank and moto
#   SEED_TIME_CAP=300                        seconds; stop creating VPCs after this
#   FOGBANK_BIN=target/release/fogbank       Fogbank binary
#   FOGBANK_BUILD=1                          0: do not `cargo build --release` it when missing
#   MOTO_VERSION=5.2.5 BOTO3_VERSION=1.44.8  pins for bench/.venv
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
MOTO_DURATION=${MOTO_DURATION:-10s}
MOTO_CONNS=${MOTO_CONNS:-8}
WARMUP=${WARMUP:-2s}
WRK_TIMEOUT=${WRK_TIMEOUT:-30s}
FIRST_ANSWER_RUNS=${FIRST_ANSWER_RUNS:-5}
SEED_COUNT=${SEED_COUNT:-1000}
SEED_WORKERS=${SEED_WORKERS:-8}
SEED_TIME_CAP=${SEED_TIME_CAP:-300}
FOGBANK_BIN=${FOGBANK_BIN:-$ROOT/target/release/fogbank}
FOGBANK_BUILD=${FOGBANK_BUILD:-1}
MOTO_VERSION=${MOTO_VERSION:-5.2.5}
BOTO3_VERSION=${BOTO3_VERSION:-1.44.8}

VENV=$BENCH_DIR/.venv
CEILING_BIN=$BENCH_DIR/ceiling/target/release/ceiling
RESULTS_DIR=$BENCH_DIR/results
LOG_DIR=$RESULTS_DIR/logs
RESULTS_JSONL=$LOG_DIR/latest.jsonl
HOST=127.0.0.1

ALL_SERVERS=(ceiling fogbank moto)
if (($# == 0)); then
    SERVERS=("${ALL_SERVERS[@]}")
else
    SERVERS=("$@")
fi
for s in "${SERVERS[@]}"; do
    case $s in
        ceiling | fogbank | moto) ;;
        -h | --help)
            sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "run.sh: unknown server '$s' (expected: ${ALL_SERVERS[*]})" >&2
            exit 2
            ;;
    esac
done

# Messages go to fd 3, the script's own stderr, even from a trap that fires
# while a command's output is redirected to a log file.
exec 3>&2
log() { printf '\n==> %s\n' "$*" >&3; }
warn() { printf 'run.sh: %s\n' "$*" >&3; }

# ---------------------------------------------------------------- cleanup
SERVER_PIDS=()  # servers (each leads its own session/process group)
HELPER_PIDS=()  # wrk, first_answer.py, seeding: run in the background + wait

kill_tree() {  # pid: TERM its process group (or itself), KILL after 5 s
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
}

cleanup() {
    local pid
    for pid in "${HELPER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${SERVER_PIDS[@]}"; do kill_tree "$pid"; done
    for pid in "${HELPER_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    SERVER_PIDS=()
    HELPER_PIDS=()
}
trap cleanup EXIT
trap 'warn "interrupted"; exit 130' INT
trap 'warn "terminated"; exit 143' TERM

drop_pid() {  # array-name pid: remove pid from the named array
    local -n arr=$1
    local keep=() p
    for p in "${arr[@]}"; do [[ $p == "$2" ]] || keep+=("$p"); done
    arr=("${keep[@]}")
}

# Run a helper in the background and wait for it, so that a signal reaches our
# traps (and cleanup) right away instead of after the helper finishes.
run_helper() {
    "$@" &
    local pid=$!
    HELPER_PIDS+=("$pid")
    wait "$pid"
    local rc=$?
    drop_pid HELPER_PIDS "$pid"
    return $rc
}

# ---------------------------------------------------------------- records
record() {  # one JSON object per line, read by report.py
    printf '%s\n' "$1" >>"$RESULTS_JSONL"
}
record_error() {  # server stage message
    python3 -c 'import json,sys; print(json.dumps({"server":sys.argv[1],"kind":"error","stage":sys.argv[2],"message":sys.argv[3]}))' \
        "$1" "$2" "$3" >>"$RESULTS_JSONL"
    warn "$1: $2: $3"
}

# ---------------------------------------------------------------- setup
need_root_cmd() {
    if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        warn "need root for: $*"
        return 1
    fi
}

ensure_tools() {
    if ! command -v python3 >/dev/null; then
        log "installing python3"
        need_root_cmd apt-get install -y python3 python3-venv ||
            { need_root_cmd apt-get update && need_root_cmd apt-get install -y python3 python3-venv; } ||
            { warn "python3 is missing and could not be installed"; exit 1; }
    fi
    if ! command -v wrk >/dev/null; then
        log "installing wrk"
        need_root_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk ||
            { need_root_cmd apt-get update && need_root_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk; } ||
            { warn "wrk is missing and could not be installed"; exit 1; }
    fi
}

venv_ok() {
    [[ -x $VENV/bin/python && -x $VENV/bin/moto_server ]] &&
        "$VENV/bin/python" - "$MOTO_VERSION" "$BOTO3_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("moto"), version("boto3")) == tuple(sys.argv[1:3]) else 1)
EOF
}

ensure_venv() {
    venv_ok && return 0
    log "setting up $VENV (moto[server]==$MOTO_VERSION, boto3==$BOTO3_VERSION)"
    if [[ ! -x $VENV/bin/python ]]; then
        python3 -m venv "$VENV" || {
            need_root_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv &&
                python3 -m venv "$VENV"
        } || return 1
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" "boto3==$BOTO3_VERSION" || return 1
    venv_ok
}

build_ceiling() {
    if ! command -v cargo >/dev/null; then
        warn "cargo not found"
        return 1
    fi
    log "building the ceiling server (bench/ceiling, cargo build --release)"
    (cd "$BENCH_DIR/ceiling" && nice -n 10 cargo build --release --quiet) || return 1
    [[ -x $CEILING_BIN ]]
}

FOGBANK_WHY=
ensure_fogbank() {  # sets FOGBANK_WHY on failure
    [[ -x $FOGBANK_BIN ]] && return 0
    if [[ $FOGBANK_BUILD != 1 ]]; then
        FOGBANK_WHY="no Fogbank binary at $FOGBANK_BIN (FOGBANK_BUILD=$FOGBANK_BUILD: not building it)"
        return 1
    fi
    if ! command -v cargo >/dev/null; then
        FOGBANK_WHY="no Fogbank binary at $FOGBANK_BIN, and cargo is not installed to build it"
        return 1
    fi
    log "fogbank binary not found at $FOGBANK_BIN: running cargo build --release in $ROOT"
    if ! (cd "$ROOT" && cargo build --release); then
        FOGBANK_WHY="no Fogbank binary at $FOGBANK_BIN, and cargo build --release failed in $ROOT (errors above)"
        return 1
    fi
    if [[ ! -x $FOGBANK_BIN ]]; then
        FOGBANK_WHY="cargo build --release succeeded but $FOGBANK_BIN does not exist"
        return 1
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Command line for a server; {port} is replaced by the port.
server_cmd() {
    case $1 in
        ceiling) CMD=("$CEILING_BIN" --port '{port}') ;;
        fogbank) CMD=("$FOGBANK_BIN" serve --host "$HOST" --port '{port}' --ephemeral) ;;
        moto) CMD=("$VENV/bin/moto_server" -H "$HOST" -p '{port}') ;;
    esac
}

# ---------------------------------------------------------------- measuring
rss_kib() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null
}

# run_wrk server scenario port conns duration [env assignments...]
run_wrk() {
    local server=$1 scenario=$2 port=$3 conns=$4 duration=$5
    shift 5
    local script=$BENCH_DIR/wrk/$scenario.lua url="http://$HOST:$port/"
    local out=$LOG_DIR/$server.$scenario.wrk.txt
    if [[ $WARMUP != 0 ]]; then
        run_helper env "$@" wrk -t"$THREADS" -c"$conns" -d"$WARMUP" --timeout "$WRK_TIMEOUT" -s "$script" "$url" >/dev/null 2>&1
    fi
    log "$server: $scenario: wrk -t$THREADS -c$conns -d$duration --latency"
    if ! run_helper env "$@" wrk -t"$THREADS" -c"$conns" -d"$duration" --timeout "$WRK_TIMEOUT" --latency -s "$script" "$url" >"$out" 2>&1; then
        record_error "$server" "$scenario" "wrk failed: $(tail -c 300 "$out" | tr '\n' ' ')"
        return 1
    fi
    grep -v '^FOGBANK_BENCH' "$out" | sed 's/^/    /' >&2
    local data
    data=$(sed -n 's/^FOGBANK_BENCH //p' "$out" | tail -1)
    if [[ -z $data ]]; then
        record_error "$server" "$scenario" "no FOGBANK_BENCH line in wrk output ($out)"
        return 1
    fi
    record "{\"server\":\"$server\",\"kind\":\"wrk\",\"scenario\":\"$scenario\",\"threads\":$THREADS,\"conns\":$conns,\"duration\":\"$duration\",\"data\":$data}"
    local problems
    problems=$(python3 - "$data" "$WRK_TIMEOUT" <<'EOF'
import json, sys
d, timeout = json.loads(sys.argv[1]), sys.argv[2]
p = []
if d["non2xx"]:
    p.append(f"{d['non2xx']} non-2xx answers")
if d["timeouts"]:
    p.append(f"{d['timeouts']} answers slower than --timeout {timeout} (left out of the latencies)")
sock = d["connect_errors"] + d["read_errors"] + d["write_errors"]
if sock:
    p.append(f"{sock} socket errors (connect {d['connect_errors']}, read {d['read_errors']}, write {d['write_errors']})")
print("; ".join(p))
EOF
)
    [[ -n $problems ]] && record_error "$server" "$scenario" "wrk: $problems"
    return 0
}

bench_server() {
    local server=$1 port pid conns duration health=() seed_json
    case $server in
        ceiling) build_ceiling || { record_error ceiling build "could not build bench/ceiling"; return 1; } ;;
        fogbank)
            ensure_fogbank || { record_error fogbank build "$FOGBANK_WHY"; return 1; }
            ensure_venv || { record_error fogbank setup "could not set up $VENV (needed for seeding)"; return 1; }
            health=(--health-path /_fogbank/health)
            ;;
        moto) ensure_venv || { record_error moto setup "could not set up $VENV with moto[server]==$MOTO_VERSION"; return 1; } ;;
    esac
    if [[ $server == moto ]]; then
        conns=$MOTO_CONNS duration=$MOTO_DURATION
    else
        conns=$CONNS duration=$DURATION
    fi
    server_cmd "$server"

    # 1. exec -> first 200, median of N fresh starts.
    log "$server: time to first answer (${FIRST_ANSWER_RUNS} runs): ${CMD[*]}"
    local fa_out=$LOG_DIR/$server.first_answer.json
    run_helper python3 "$BENCH_DIR/first_answer.py" --json --runs "$FIRST_ANSWER_RUNS" \
        "${health[@]}" -- "${CMD[@]}" >"$fa_out" || {
        local why
        why=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["error"])' "$(tail -1 "$fa_out")" 2>/dev/null)
        record_error "$server" first_answer "${why:-the server did not start or answer} (full messages above)"
        return 1
    }
    record "{\"server\":\"$server\",\"kind\":\"first_answer\",\"data\":$(tail -1 "$fa_out")}"

    # 2. one long-lived instance for the rest.
    port=$(free_port)
    local argv=("${CMD[@]//\{port\}/$port}")
    log "$server: starting on $HOST:$port"
    setsid "${argv[@]}" </dev/null >"$LOG_DIR/$server.server.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    run_helper python3 "$BENCH_DIR/first_answer.py" --attach "$port" --pid "$pid" --timeout 60 "${health[@]}" || {
        record_error "$server" start "not answering on port $port; log: $(tail -c 300 "$LOG_DIR/$server.server.log" | tr '\n' ' ')"
        return 1
    }
    sleep 2
    local kib
    kib=$(rss_kib "$pid")
    [[ -n $kib ]] && record "{\"server\":\"$server\",\"kind\":\"rss\",\"phase\":\"idle\",\"kib\":$kib}"
    log "$server: idle RSS ${kib:-?} KiB (pid $pid)"

    # 3. fresh-server scenarios.
    run_wrk "$server" describe_vpcs "$port" "$conns" "$duration"
    run_wrk "$server" describe_instances "$port" "$conns" "$duration"

    # 4. 1,000 VPCs stored.
    local vpc_id
    if [[ $server == ceiling ]]; then
        vpc_id=vpc-0a1b2c3d4e5f67890 # the ceiling ignores the request: reference numbers only
    else
        log "$server: seeding $SEED_COUNT VPCs ($SEED_WORKERS threads, cap ${SEED_TIME_CAP}s)"
        run_helper "$VENV/bin/python" "$BENCH_DIR/seed_vpcs.py" --json \
            --endpoint "http://$HOST:$port" --count "$SEED_COUNT" --workers "$SEED_WORKERS" \
            --time-cap "$SEED_TIME_CAP" >"$LOG_DIR/$server.seed.json"
        local seed_rc=$?
        seed_json=$(tail -1 "$LOG_DIR/$server.seed.json")
        [[ -n $seed_json ]] && record "{\"server\":\"$server\",\"kind\":\"seed\",\"data\":$seed_json}"
        if ((seed_rc != 0)) || [[ -z $seed_json ]]; then
            record_error "$server" seed "seeding failed (see the messages above)"
            return 1
        fi
        vpc_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["target_vpc_id"])' "$seed_json")
        kib=$(rss_kib "$pid")
        [[ -n $kib ]] && record "{\"server\":\"$server\",\"kind\":\"rss\",\"phase\":\"seeded\",\"kib\":$kib}"
    fi
    run_wrk "$server" describe_vpcs_by_id "$port" "$conns" "$duration" BENCH_VPC_ID="$vpc_id"
    run_wrk "$server" describe_vpcs_max5 "$port" "$conns" "$duration"

    kill_tree "$pid"
    wait "$pid" 2>/dev/null
    drop_pid SERVER_PIDS "$pid"
    return 0
}

# ---------------------------------------------------------------- main
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
ensure_tools
mkdir -p "$LOG_DIR"
: >"$RESULTS_JSONL"

failed=()
for s in "${SERVERS[@]}"; do
    log "=== $s ==="
    bench_server "$s" || failed+=("$s")
    cleanup # nothing of this server survives into the next one
done

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)
fog_ver=none
[[ " ${SERVERS[*]} " == *" fogbank "* && -x $FOGBANK_BIN ]] && fog_ver="$("$FOGBANK_BIN" --version 2>/dev/null | head -1)"
warm="unrecorded warm-up of $WARMUP before each scenario"
[[ $WARMUP == 0 ]] && warm="no warm-up"
log "report"
python3 "$BENCH_DIR/report.py" "$RESULTS_JSONL" --out "$RESULTS_DIR/latest.md" \
    --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --meta "servers=${SERVERS[*]}" \
    --meta "machine=$(nproc) cores, ${cpu:-unknown CPU}, $(uname -sr); wrk runs on the same cores as the server; load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)" \
    --meta "wrk=-t$THREADS -c$CONNS -d$DURATION --timeout $WRK_TIMEOUT --latency (moto: -c$MOTO_CONNS -d$MOTO_DURATION); $warm" \
    --seed-count "$SEED_COUNT" \
    --meta "repo=$rev; fogbank: ${fog_ver:-unknown}; moto $MOTO_VERSION, boto3 $BOTO3_VERSION" \
    --meta "raw output=bench/results/logs/"
echo
echo "written: $RESULTS_DIR/latest.md"

if ((${#failed[@]})); then
    warn "FAILED: ${failed[*]} (see 'Failures' above)"
    exit 1
fi
