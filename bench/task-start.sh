#!/usr/bin/env bash
# Task start latency, RunTask to RUNNING, with Berth's Docker runtime and its process runtime,
# next to `docker run -d` of the same image and command, and again with ten secrets to resolve;
# and the agents' resident memory, idle and with every task running. Loopback only.
#
# Usage: bench/task-start.sh [--tasks 50] [--poll-ms 2] [--logs DIR]
# BENCH_TASKS and BENCH_POLL_MS set the same; flags win. --logs DIR keeps the servers' and
# agents' logs (set RUST_LOG=debug for the agents' timings). See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

tasks=${BENCH_TASKS:-50}
poll_ms=${BENCH_POLL_MS:-2}
logs=

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --tasks | --poll-ms | --logs)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --tasks) tasks=$2 ;;
                --poll-ms) poll_ms=$2 ;;
                --logs) logs=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

[[ $tasks =~ ^[1-9][0-9]*$ ]] || { echo "--tasks needs a positive whole number, got $tasks" >&2; exit 2; }

echo "building berth (release)" >&2
cargo build --release --quiet -p berth
bash scripts/python-env.sh >&2
# Builds berth-busybox:latest and installs the host's /bin/busybox it is made of, which the
# process runtime runs directly.
bash scripts/test-images.sh
python="$repo/.venv/bin/python"
berth="$repo/target/release/berth"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-task-start.XXXXXX")
# Every container of this run carries it: the Docker agent is scoped to it, and cleanup
# removes exactly these.
label="berth.bench=$(basename "$work")"
pids=()


# The process runtime's tasks outlive its agent by design; its records name each one's
# process group leader and start time, so only that very process (not a reused pid) is killed.
kill_process_tasks() {
    local record pid ticks stat
    for record in "$work"/process-agent/processes/*/record.json; do
        [[ -f $record ]] || continue
        # The first pid and start time are the task's; the output shim's follow.
        pid=$(grep -o '"pid":[0-9]*' "$record" | head -1 | cut -d: -f2)
        ticks=$(grep -o '"start_ticks":[0-9]*' "$record" | head -1 | cut -d: -f2)
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # Field 22 is the start time; the command name before it may hold spaces.
        read -ra fields <<<"${stat##*) }"
        [[ ${fields[19]} == "$ticks" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
    done
}

cleanup() {
    # Newest first: the driver goes before the agents, and every agent before its containers
    # are removed (a running agent would start a removed task's container again).
    stop_started
    remove_labelled "$label"
    kill_process_tasks
    keep_logs "$work" "$logs"
    rm -rf "$work"
}
trap cleanup EXIT
# Turn signals into an exit, so that the EXIT trap cleans up for them too.
trap 'exit 130' INT
trap 'exit 143' TERM


# start_server NAME: a berth server with its own data dir; sets port.
start_server() {
    port=$(free_port)
    start_berth_server "$berth" "$work/$1" "$work/$1.log" "$port"
}

# start_agent NAME SERVER RUNTIME: an agent joining the server on $port; sets agent_pid.
start_agent() {
    join_agent "$berth" "$work/$2" "$port" "$work/$1" "$work/$1.log" "$label" --runtime "$3"
}

# Two servers, one agent each, so that each runtime has a cluster of its own.
start_server docker-server
docker_port=$port
start_agent docker-agent docker-server docker
docker_agent=$agent_pid

start_server process-server
process_port=$port
start_agent process-agent process-server process
process_agent=$agent_pid

echo "measuring $tasks starts per runtime" >&2
# In the background and waited for, so that a TERM reaches the trap at once rather than after
# the driver is done; cleanup stops the driver first.
"$python" bench/task_start.py --tasks "$tasks" --poll-ms "$poll_ms" --label "$label" \
    --docker-endpoint "http://127.0.0.1:$docker_port" \
    --docker-credentials "$work/docker-server/credentials" --docker-agent-pid "$docker_agent" \
    --process-endpoint "http://127.0.0.1:$process_port" \
    --process-credentials "$work/process-server/credentials" --process-agent-pid "$process_agent" &
pids+=($!)
wait $!
