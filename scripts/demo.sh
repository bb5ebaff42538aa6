#!/usr/bin/env bash
# Starts Berth on this machine — control plane, agent, load balancer and embedded store in
# one process — and deploys the bundled example as a web service behind the load balancer
# (http://127.0.0.1:8080/), showing progress until it is stable.
# With a Docker engine the tasks are containers (the example's image is built locally, since
# nothing is pulled): examples/hello.json, two tasks. Without one they run as host processes:
# examples/hello-processes.json, one task on a fixed port, since host processes share the
# host's ports.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p berth -p berth-testapp --quiet
args=(--data-dir "${BERTH_DATA_DIR:-$PWD/.berth}" --listen "${BERTH_LISTEN:-127.0.0.1:4566}")
if docker info >/dev/null 2>&1; then
  bash scripts/test-images.sh
  exec target/release/berth up "${args[@]}" examples/hello.json
fi
# Host processes see Docker's default PATH, which does not hold the test app just built: the
# example is deployed with its entryPoint pointing at it.
mkdir -p "${BERTH_DATA_DIR:-$PWD/.berth}"
example="${BERTH_DATA_DIR:-$PWD/.berth}/hello-processes.json"
sed "s|\"berth-testapp\"|\"$PWD/target/release/berth-testapp\"|" examples/hello-processes.json >"$example"
exec target/release/berth up "${args[@]}" --runtime process --count 1 "$example"
