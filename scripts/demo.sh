#!/usr/bin/env bash
# Starts Berth on this machine — control plane, agent and embedded store in one process —
# and deploys examples/hello.json as a service, showing progress until it is stable.
# With a Docker engine the tasks are containers (the example's image is built locally,
# since nothing is pulled); without one they run as host processes.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p berth --quiet
if docker info >/dev/null 2>&1; then
  bash scripts/test-images.sh
fi
exec target/release/berth up --data-dir "${BERTH_DATA_DIR:-$PWD/.berth}" \
  --listen "${BERTH_LISTEN:-127.0.0.1:4566}" examples/hello.json
