#!/usr/bin/env bash
# Berth at fleet scale: a `berth server` and `berth-fleet`, one process running the real agent
# loop for every simulated machine over a fake runtime each. For each size it creates services
# (over eight connections) until the cluster holds the tasks, and prints placements per second
# end to end (the first CreateService until the server counts every task RUNNING), the controller's mean round time and the tasks its rounds read, DescribeServices
# and ListTasks p50 / p99 while the tasks come up and once they all run, and the server's RSS.
# Then the pure placement function's decisions per second.
#
# Usage: bench/fleet.sh [--sizes 100x10000,1000x100000] [--logs DIR]
#   a size is NODESxTASKS; tasks are spread over NODES/10 services at least, 100 per service
#   at most.
# Runs under flock /tmp/berth-bench.lock (set BERTH_BENCH_LOCKED=1 if you already hold it).
# Loopback only. See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

all_args=("$@")
sizes=100x10000,1000x100000
logs=
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --sizes | --logs)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --sizes) sizes=$2 ;;
                --logs) logs=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
IFS=, read -r -a size_list <<<"$sizes"
for size in "${size_list[@]}"; do
    [[ $size =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || { echo "a size is NODESxTASKS, got $size" >&2; exit 2; }
done

hold_bench_lock "$0" ${all_args[@]+"${all_args[@]}"}

echo "building berth and berth-fleet (release)" >&2
cargo build --release --quiet -p berth -p berth-bench
berth="$repo/target/release/berth"
fleet="$repo/target/release/berth-fleet"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-fleet.XXXXXX")
pids=()
cleanup() {
    local status=$?
    trap - INT TERM
    stop_started
    keep_logs "$work" "$logs"
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

rows=()
for size in "${size_list[@]}"; do
    nodes=${size%x*}
    tasks=${size#*x}
    services=$(( nodes / 10 > tasks / 100 ? nodes / 10 : tasks / 100 ))
    (( services > 0 )) || services=1
    (( tasks % services == 0 )) || { echo "$tasks tasks do not split over $services services" >&2; exit 2; }
    data="$work/server-$size"
    port=$(free_port)
    start_berth_server "$berth" "$data" "$work/server-$size.log" "$port"
    token=$("$berth" tokens create --data-dir "$data" 2>/dev/null)
    key=$(awk -F' = ' '/aws_access_key_id/ {print $2}' "$data/credentials")
    secret=$(awk -F' = ' '/aws_secret_access_key/ {print $2}' "$data/credentials")
    echo "fleet: $nodes nodes, $tasks tasks in $services services" >&2
    "$fleet" run --endpoint "http://127.0.0.1:$port" --access-key "$key" --secret "$secret" \
        --token "$token" --nodes "$nodes" --tasks "$tasks" --services "$services" \
        >"$work/fleet-$size.out" 2>"$work/fleet-$size.log" &
    fleet_pid=$!
    pids+=("$fleet_pid")
    wait "$fleet_pid" || { cat "$work/fleet-$size.log" >&2; exit 1; }
    rows+=("$(cat "$work/fleet-$size.out") $(rss_mib "$server_pid") |")
    stop_started
    pids=()
done

echo "measuring the pure placement function" >&2
placement=$("$fleet" placement --nodes 1000 --decisions 100000)

echo
echo "| nodes | tasks | services created s | all RUNNING s | placements/s | controller round ms (mean) | tasks a round read (ramp, mean) · in the last 10 s at rest | one service +10 once settled: until RUNNING · tasks read · round ms | DescribeServices p50 / p99 ms (ramp) | (all running) | ListTasks p50 / p99 ms (ramp) | (all running) | server RSS MiB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "pure placement function: $placement (goal: at least 100,000 a second)"
echo "goals: at least 2,000 placements/s with 1,000 nodes; DescribeServices and ListTasks p99 under 10 ms with 100,000 tasks"
