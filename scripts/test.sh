#!/usr/bin/env bash
# Runs every test Berth has: style checks, Rust unit/property/conformance tests, and the
# end-to-end suites that drive a real `berth server` and `berth agent` (with Docker) through
# the aws CLI and boto3. Installs what it needs: cargo-nextest if missing, the test images,
# a Python virtualenv with the clients.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# The runtime's Docker tests are ignored unless asked for; here they run (and fail without an
# engine). Every cargo step takes the same features, so the workspace is built once.
features=(--features berth-runtime/docker-tests)

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets "${features[@]}" --quiet -- -D warnings

step "build"
cargo build --workspace --all-targets "${features[@]}" --quiet

step "test images (built from scratch; this machine cannot pull)"
bash scripts/test-images.sh

step "rust tests"
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked --quiet
fi
cargo nextest run --workspace "${features[@]}" --no-fail-fast

step "python clients"
bash scripts/python-env.sh

step "end-to-end (aws CLI and boto3 against berth server)"
BERTH_BIN="$PWD/target/debug/berth" .venv/bin/python -m pytest tests/e2e -n 2 -q
