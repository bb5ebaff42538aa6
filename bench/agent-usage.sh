#!/usr/bin/env bash
# What sampling usage costs an agent: a release `berth server` and a `berth agent` on the
# process runtime run a service of N tasks (`busybox sleep`), sampled every S seconds; the
# agent's CPU time over a window and its resident memory (now and at its peak) are printed,
# with the same agent sampling every 300 s (as good as never) as the reference beside it.
#
# Usage: bench/agent-usage.sh [--tasks 50] [--sample-seconds 5] [--window 60]
# Runs under flock /tmp/berth-bench.lock, so it never overlaps another benchmark. See
# bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh
tasks=50
sample_seconds=5
window=60
while (($#)); do
    case $1 in
        --tasks) tasks=$2; shift 2 ;;
        --sample-seconds) sample_seconds=$2; shift 2 ;;
        --window) window=$2; shift 2 ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

exec 9>/tmp/berth-bench.lock
flock 9

echo "building berth (release)" >&2
cargo build --release --quiet -p berth
berth="$repo/target/release/berth"
aws_cli="$repo/.venv/bin/aws"
[[ -x $aws_cli ]] || bash scripts/python-env.sh >/dev/null

work=$(mktemp -d)
pids=()
agent_pid=""
cleanup() {
    [[ -n $agent_pid ]] && stop_process "$agent_pid"
    for pid in "${pids[@]}"; do stop_process "$pid"; done
    # The process runtime leaves its tasks running when the agent stops, as Docker would.
    for record in "$work"/agent/processes/*/record.json; do
        [[ -f $record ]] || continue
        # The record's first "pid" is the task's (its output shim's comes later).
        pid=$(grep -o '"pid":[0-9]*' "$record" | head -1 | cut -d: -f2)
        [[ -n $pid ]] && kill -KILL -- "-$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
start_berth_server "$berth" "$work/data" "$work/server.log" "$port"
eval "$(grep '^export ' "$work/server.log")"
token=$("$berth" tokens create --data-dir "$work/data" 2>/dev/null)

aws_ecs() { "$aws_cli" ecs --endpoint-url "http://127.0.0.1:$port" "$@"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss() { awk -v key="$2" '$1 == key {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

measure() {
    local every=$1
    "$berth" agent --server "http://127.0.0.1:$port" --token "$token" --runtime process \
        --state-dir "$work/agent" --sample-seconds "$every" >"$work/agent-$every.log" 2>&1 &
    agent_pid=$!
    for _ in $(seq 600); do
        running=$(aws_ecs describe-services --services sleepers --query 'services[0].runningCount' --output text 2>/dev/null || echo 0)
        [[ $running == "$tasks" ]] && break
        sleep 0.5
    done
    [[ $running == "$tasks" ]] || { echo "only $running of $tasks tasks running" >&2; exit 1; }
    # One sampling round at least, so the sampler's buffers exist before the window opens.
    sleep "$((${every%.*} + 2))"
    local before after ticks_per_second
    ticks_per_second=$(getconf CLK_TCK)
    before=$(cpu_ticks "$agent_pid")
    sleep "$window"
    after=$(cpu_ticks "$agent_pid")
    printf '| every %s s | %s | %.2f %% of a core | %s | %s |\n' "$every" "$tasks" \
        "$(echo "($after - $before) * 100 / $ticks_per_second / $window" | bc -l)" \
        "$(rss "$agent_pid" VmRSS:)" "$(rss "$agent_pid" VmHWM:)"
    kill "$agent_pid"
    wait "$agent_pid" 2>/dev/null || true
    agent_pid=""
}

aws_ecs register-task-definition --family sleepers --network-mode host --container-definitions \
    '[{"name":"app","image":"host","essential":true,"memory":16,"entryPoint":["/bin/busybox"],"command":["sleep","3600"]}]' >/dev/null
aws_ecs create-service --service-name sleepers --task-definition sleepers --desired-count "$tasks" >/dev/null

echo "| agent sampling | tasks | agent CPU over ${window} s | RSS MiB | peak RSS MiB |"
echo "|---|---|---|---|---|"
measure 300
measure "$sample_seconds"
