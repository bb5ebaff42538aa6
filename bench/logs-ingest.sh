#!/usr/bin/env bash
# Log ingest: containers writing lines as fast as they can through Berth's real path (container
# → Docker's json-file → agent → server → log store), next to the same containers on Docker's
# json-file alone. Lines/s, CPU per 1,000 lines, line-to-readable latency through
# GetLogEvents, and DescribeServices' p99 idle and during a flood; then tasks writing at a
# steady --paced-rate lines/s in total for ~20 s, whose latency is the pipeline's own delay.
#
# Usage: bench/logs-ingest.sh [--tasks 4] [--lines 90000] [--poll-ms 50]
#            [--api-connections 64] [--paced-rate 40000] [--logs DIR]
# BENCH_TASKS, BENCH_LINES (per task), BENCH_POLL_MS, BENCH_API_CONNECTIONS and
# BENCH_PACED_RATE set the same; flags win. --logs DIR keeps the server's and agent's logs.
# Runs under flock /tmp/berth-bench.lock (set BERTH_BENCH_LOCKED=1 if you already hold it).
# See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

all_args=("$@")
tasks=${BENCH_TASKS:-4}
lines=${BENCH_LINES:-90000}
poll_ms=${BENCH_POLL_MS:-50}
api_connections=${BENCH_API_CONNECTIONS:-64}
paced_rate=${BENCH_PACED_RATE:-40000}
logs=

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --tasks | --lines | --poll-ms | --api-connections | --paced-rate | --logs)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --tasks) tasks=$2 ;;
                --lines) lines=$2 ;;
                --poll-ms) poll_ms=$2 ;;
                --api-connections) api_connections=$2 ;;
                --paced-rate) paced_rate=$2 ;;
                --logs) logs=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
for setting in tasks lines poll_ms api_connections paced_rate; do
    [[ ${!setting} =~ ^[1-9][0-9]*$ ]] || {
        echo "--${setting//_/-} needs a positive whole number, got ${!setting}" >&2
        exit 2
    }
done

# Other benchmarks run on this machine too: take the shared lock for the whole run, builds
# included, so neither run disturbs the other.
hold_bench_lock "$0" ${all_args[@]+"${all_args[@]}"}

echo "building berth and berth-bench (release)" >&2
cargo build --release --quiet -p berth -p berth-bench
bash scripts/python-env.sh >&2
# Builds berth-testapp:v1, whose LOG_FLOOD and LOG_RATE switches are the workload.
bash scripts/test-images.sh
python="$repo/.venv/bin/python"
target_dir=${CARGO_TARGET_DIR:-$repo/target}
berth="$target_dir/release/berth"
bench="$target_dir/release/berth-bench"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-logs-ingest.XXXXXX")
run=$(basename "$work")
# Every container of this run carries it (the agent is scoped to it, the json-file containers
# get it too), and cleanup removes exactly these.
label="berth.bench=$run"
# The run's own name for the test image: other checkouts on this engine rebuild
# berth-testapp:v1 from their sources, which may not have LOG_FLOOD yet.
image="berth-logs-ingest-$(tr '[:upper:]' '[:lower:]' <<<"${run#berth-logs-ingest.}"):flood"
docker tag berth-testapp:v1 "$image"
# Its own cluster, so the service and tasks berth-bench sets up in `default` (Fargate, an
# image this machine cannot pull) are never placed on the agent.
cluster="logs-ingest"
pids=()

cleanup() {
    local status=$?
    trap - INT TERM
    # Newest first: the driver goes before the agent, and the agent before its containers are
    # removed (a running agent would start a removed task's container again).
    stop_started
    remove_labelled "$label"
    docker image rm "$image" >/dev/null 2>&1 || true
    keep_logs "$work" "$logs"
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
# Turn signals into an exit, so that the EXIT trap cleans up for them too.
trap 'exit 130' INT
trap 'exit 143' TERM


port=$(free_port)
start_berth_server "$berth" "$work/server" "$work/server.log" "$port" --lb-bind 127.0.0.1

# An agent registers only into a cluster that exists.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE="$work/server/credentials" \
    AWS_PROFILE=berth AWS_DEFAULT_REGION=us-east-1 AWS_PAGER= \
    "$repo/.venv/bin/aws" --endpoint-url "http://127.0.0.1:$port" ecs create-cluster \
    --cluster-name "$cluster" >/dev/null
join_agent "$berth" "$work/server" "$port" "$work/agent" "$work/agent.log" "$label" \
    --runtime docker --cluster "$cluster"

echo "flooding: $tasks containers x $lines lines, on json-file alone and through Berth" >&2
# In the background and waited for, so that a TERM reaches the trap at once; cleanup stops
# the driver first.
"$python" bench/logs_ingest.py --tasks "$tasks" --lines "$lines" --poll-ms "$poll_ms" \
    --api-connections "$api_connections" --paced-rate "$paced_rate" --label "$label" --image "$image" --cluster "$cluster" \
    --endpoint "http://127.0.0.1:$port" --credentials "$work/server/credentials" \
    --bench "$bench" --server-pid "$server_pid" --agent-pid "$agent_pid" &
pids+=($!)
wait $!
