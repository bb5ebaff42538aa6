#!/usr/bin/env bash
# Berth against moto, side by side: the same signed ECS and Secrets Manager
# requests over the same number of connections, one server at a time, on
# loopback only.
#
# Usage: bench/api-vs-moto.sh [--connections N] [--duration 10s] [--warmup 1s]
#          [--actions DescribeServices,ListTasks,RegisterTaskDefinition,GetSecretValue]
# The same settings can come from BENCH_CONNECTIONS, BENCH_DURATION,
# BENCH_WARMUP and BENCH_ACTIONS; flags win. See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

connections=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-10s}
warmup=${BENCH_WARMUP:-1s}
actions=${BENCH_ACTIONS:-DescribeServices,ListTasks,RegisterTaskDefinition,GetSecretValue}

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --connections | --duration | --warmup | --actions)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --connections) connections=$2 ;;
                --duration) duration=$2 ;;
                --warmup) warmup=$2 ;;
                --actions) actions=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

echo "building berth and berth-bench (release)" >&2
cargo build --release --quiet -p berth -p berth-bench
bash scripts/python-env.sh >&2
python="$repo/.venv/bin/python"
berth="$repo/target/release/berth"
bench="$repo/target/release/berth-bench"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-vs-moto.XXXXXX")
server_pid=

stop_server() {
    [[ -n $server_pid ]] || return 0
    stop_process "$server_pid"
    server_pid=
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT
# Turn signals into an exit, so that the EXIT trap cleans up for them too.
trap 'exit 130' INT
trap 'exit 143' TERM


# wait_for LOG PATTERN NAME: until the server started last prints PATTERN.
wait_for() {
    for _ in $(seq 1 300); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$3 exited while starting:" >&2
            cat "$1" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "$3 did not start within 30 s:" >&2
    cat "$1" >&2
    exit 1
}

# run_bench NAME ENDPOINT KEY SECRET [FLAG...]: measure one server, JSON into $work/NAME.json.
run_bench() {
    echo "== $1 on $2" >&2
    "$bench" --endpoint "$2" --access-key "$3" --secret "$4" "${@:5}" \
        --connections "$connections" --duration "$duration" --warmup "$warmup" \
        --actions "$actions" --output json >"$work/$1.json"
}

# Berth, with a fresh data dir and the admin key it creates on first start.
port=$(free_port)
"$berth" server --data-dir "$work/berth" --listen "127.0.0.1:$port" >"$work/berth.log" 2>&1 &
server_pid=$!
wait_for "$work/berth.log" "berth server listening on" "berth server"
# The value is everything after "key = ": a secret may itself contain "=".
credential() { sed -n "s/^$1 *= *//p" "$work/berth/credentials"; }
run_bench berth "http://127.0.0.1:$port" "$(credential aws_access_key_id)" "$(credential aws_secret_access_key)"
stop_server

# moto accepts any key, but only on SigV4-shaped requests.
port=$(free_port)
"$repo/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
server_pid=$!
wait_for "$work/moto.log" "Running on" "moto server"
# moto checks the awsvpc subnet and security group against its EC2 mock:
# use its default VPC's. The environment keeps any real AWS setup out of it.
moto_ec2() {
    env -u AWS_PROFILE AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        AWS_ACCESS_KEY_ID=AKIDBERTHBENCH AWS_SECRET_ACCESS_KEY=not-a-secret \
        AWS_DEFAULT_REGION=us-east-1 AWS_PAGER= \
        "$repo/.venv/bin/aws" --endpoint-url "http://127.0.0.1:$port" ec2 "$@" --output text
}
subnet=$(moto_ec2 describe-subnets --filters Name=default-for-az,Values=true --query 'Subnets[0].SubnetId')
security_group=$(moto_ec2 describe-security-groups --group-names default --query 'SecurityGroups[0].GroupId')
run_bench moto "http://127.0.0.1:$port" AKIDBERTHBENCH not-a-secret \
    --subnet "$subnet" --security-group "$security_group"
stop_server

"$python" - "$work/berth.json" "$work/moto.json" "$(nproc)" <<'PY'
import json
import sys

berth, moto = (json.load(open(path)) for path in sys.argv[1:3])
cpus = sys.argv[3]
moto_by_action = {r["action"]: r for r in moto["results"]}

def ms(value):
    return "-" if value is None else f"{value:.3f}"

print(
    f"{berth['connections']} connections, {berth['duration_secs']:g} s per action "
    f"after {berth['warmup_secs']:g} s warm-up, {cpus} CPUs shared by server and load generator"
)
print()
print("| action | Berth req/s | moto req/s | ratio | Berth p50 ms | Berth p99 ms | moto p50 ms | moto p99 ms | errors (Berth/moto) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
ratios = {}
for b in berth["results"]:
    m = moto_by_action[b["action"]]
    ratio = b["requests_per_sec"] / m["requests_per_sec"] if m["requests_per_sec"] else None
    ratios[b["action"]] = ratio
    print(
        f"| {b['action']} | {b['requests_per_sec']:.1f} | {m['requests_per_sec']:.1f} | "
        f"{'-' if ratio is None else f'{ratio:.1f}x'} | {ms(b['p50_ms'])} | {ms(b['p99_ms'])} | "
        f"{ms(m['p50_ms'])} | {ms(m['p99_ms'])} | {b['errors']}/{m['errors']} |"
    )
print()

for name, results in (("Berth", berth), ("moto", moto)):
    for r in results["results"]:
        if r["errors"]:
            print(f"note: {name} {r['action']}: {r['errors']} errors, the first: {r['first_error']}")
if any(r["reconnects"] for r in moto["results"]):
    print("note: moto closes the connection after every answer (werkzeug's dev server), "
          "so each moto request includes a new TCP connect")

# The goals: at least 50 times moto's throughput on every action, and a p99
# under 5 ms for the reads people wait on (DescribeServices, GetSecretValue),
# with no errors on either side.
throughput_met = all(r is not None and r >= 50 for r in ratios.values())
latencies, latency_met = [], True
for action in ("DescribeServices", "GetSecretValue"):
    measured = next((r for r in berth["results"] if r["action"] == action), None)
    if measured is None:
        continue
    met = measured["p99_ms"] is not None and measured["p99_ms"] < 5
    latency_met = latency_met and met
    latencies.append(f"{action} p99 {ms(measured['p99_ms'])} ms (goal < 5 ms)")
if not latencies:
    latencies, latency_met = ["no p99 goal measured"], False
errors = sum(r["errors"] for r in berth["results"] + moto["results"])
lowest = min((r for r in ratios.values() if r is not None), default=None)
verdict = "MET" if throughput_met and latency_met and errors == 0 else "NOT MET"
print(
    f"goals {verdict}: lowest throughput ratio "
    f"{'-' if lowest is None else f'{lowest:.1f}x'} (goal >= 50x on every action); "
    f"{'; '.join(latencies)}; {errors} errors"
)
PY
