#!/usr/bin/env bash
# Searching logs: FilterLogEvents for a rare term over a million stored lines, next to
# `grep -F` over the same lines in a file; and how fast PutLogEvents stored them. Loopback
# only.
#
# Usage: bench/logs-search.sh [--lines 1000000] [--rounds 5]
# BENCH_LINES and BENCH_ROUNDS set the same; flags win. See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/common.sh
source bench/common.sh

lines=${BENCH_LINES:-1000000}
rounds=${BENCH_ROUNDS:-5}

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --lines | --rounds)
            (($# >= 2)) || { echo "$1 needs a value" >&2; exit 2; }
            case $1 in
                --lines) lines=$2 ;;
                --rounds) rounds=$2 ;;
            esac
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done
[[ $lines =~ ^[1-9][0-9]*$ ]] || { echo "--lines needs a positive whole number, got $lines" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "--rounds needs a positive whole number, got $rounds" >&2; exit 2; }

echo "building berth (release)" >&2
cargo build --release --quiet -p berth
bash scripts/python-env.sh >&2
python="$repo/.venv/bin/python"
berth="${CARGO_TARGET_DIR:-$repo/target}/release/berth"

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-logs-search.XXXXXX")
server_pid=
cleanup() {
    [[ -z $server_pid ]] || stop_process "$server_pid"
    rm -rf "$work"
}
trap cleanup EXIT
# Turn signals into an exit, so that the EXIT trap cleans up for them too.
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(free_port)
"$berth" server --data-dir "$work/data" --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
    grep -q "berth server listening on" "$work/server.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done
grep -q "berth server listening on" "$work/server.log" || { echo "the server did not start" >&2; exit 1; }

"$python" bench/logs_search.py --endpoint "http://127.0.0.1:$port" \
    --credentials "$work/data/credentials" --lines "$lines" --rounds "$rounds" --file "$work/lines.log"
