#!/usr/bin/env bash
# How fast Berth answers a surge, and what its metrics cost: a one-task web service (Docker,
# the test image, a 2-second health check) behind Berth's load balancer under target tracking
# on requests per target and on CPU; from the surge's start to the scale-out decision, the new
# task RUNNING and its target healthy, against AWS's documented three one-minute datapoints.
# Then the server's CPU time per 1,000 datapoints put with PutMetricData.
#
# Usage: bench/surge.sh [--rounds 3] [--only requests|cpu] [--datapoints 100000] [--logs DIR]
# Runs under flock /tmp/berth-bench.lock (set BERTH_BENCH_LOCKED=1 if you already hold it).
# Loopback only. See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

all_args=("$@")
rounds=3
only=
datapoints=100000
logs=
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --rounds | --only | --datapoints | --logs)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --rounds) rounds=$2 ;;
                --only) only=$2 ;;
                --datapoints) datapoints=$2 ;;
                --logs) logs=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds needs a positive whole number, got $rounds" >&2; exit 2; }
[[ $datapoints =~ ^[1-9][0-9]*$ ]] || { echo "--datapoints needs a positive whole number, got $datapoints" >&2; exit 2; }
[[ -z $only || $only == requests || $only == cpu ]] || { echo "--only takes requests or cpu, got $only" >&2; exit 2; }

hold_bench_lock "$0" ${all_args[@]+"${all_args[@]}"}

echo "building berth (release)" >&2
cargo build --release --quiet -p berth
bash scripts/python-env.sh >&2
bash scripts/test-images.sh
python="$repo/.venv/bin/python"
berth="$repo/target/release/berth"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-surge.XXXXXX")
label="berth.bench=$(basename "$work")"
pids=()

cleanup() {
    local status=$?
    trap - INT TERM
    # The driver, then the agent before its containers go (a running agent would restart them).
    stop_started
    remove_labelled "$label"
    keep_logs "$work" "$logs"
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(free_port)
start_berth_server "$berth" "$work/server" "$work/server.log" "$port" --lb-bind 127.0.0.1
join_agent "$berth" "$work/server" "$port" "$work/agent" "$work/agent.log" "$label" --runtime docker

"$python" bench/surge.py --endpoint "http://127.0.0.1:$port" --credentials "$work/server/credentials" \
    --server-pid "$server_pid" --rounds "$rounds" --datapoints "$datapoints" \
    ${only:+--only "$only"} &
pids+=($!)
wait $!
