#!/usr/bin/env bash
# Starts Berth on this machine and registers the bundled example, as a newcomer would.
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir="${BERTH_DATA_DIR:-$PWD/.berth}"
listen="${BERTH_LISTEN:-127.0.0.1:4566}"

cargo build --release -p berth --quiet
bash scripts/python-env.sh >/dev/null

log="$data_dir/server.log"
mkdir -p "$data_dir"
target/release/berth server --data-dir "$data_dir" --listen "$listen" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
grep -q "listening on" "$log" || { echo "berth server did not start; see $log"; exit 1; }
export_line=$(grep '^export ' "$log")
eval "$export_line"
export AWS_PAGER=""

aws() { .venv/bin/aws "$@"; }
echo "registering examples/fargate-web.json"
aws ecs register-task-definition --cli-input-json file://examples/fargate-web.json \
  --query 'taskDefinition.taskDefinitionArn' --output text
echo "creating service web"
aws ecs create-service --service-name web --task-definition fargate-web --desired-count 1 \
  --query 'service.serviceArn' --output text >/dev/null 2>&1 || true
aws ecs describe-services --services web \
  --query 'services[0].{name:serviceName,status:status,desired:desiredCount,deployment:deployments[0].id,taskDefinition:taskDefinition}' \
  --output table

cat <<MSG

Berth is running (pid $server_pid, log $log). Point your shell at it with:

  $export_line

Stop it with: kill $server_pid
MSG
