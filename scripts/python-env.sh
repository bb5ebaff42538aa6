#!/usr/bin/env bash
# Create or refresh <repo>/.venv with the pinned Python tools from
# tests/e2e/requirements.txt (aws CLI, boto3, moto server, pytest, xdist), and
# <repo>/.venv-query with the older boto3 of tests/e2e/requirements-query.txt
# (the last one that speaks CloudWatch's query protocol).
#
# Idempotent: each venv keeps a stamp with the hash of its requirements and of
# the interpreter version; when both match, this script only prints the venv
# path. Set PYTHON to choose the interpreter (default: python3).
#
# Usage: scripts/python-env.sh        then e.g. .venv/bin/pytest tests/e2e
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}

# ensure_venv DIR REQUIREMENTS
ensure_venv() {
    local venv=$1 requirements=$2
    local stamp="$venv/.requirements-stamp"
    # The interpreter version is part of the stamp: a venv made by another Python
    # has a different site-packages and must be rebuilt, not reused.
    local want
    want=$({ "$python" -c 'import sys; print(sys.version)'; cat "$requirements"; } | sha256sum | cut -d' ' -f1)

    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "python venv up to date: $venv"
        return
    fi

    # --clear throws away a venv built by another interpreter; when the venv is
    # merely out of date, pip below moves the pins in place, which is faster.
    if ! "$venv/bin/python" -c 'import sys' 2>/dev/null \
        || [[ "$("$venv/bin/python" -c 'import sys; print(sys.version)')" != "$("$python" -c 'import sys; print(sys.version)')" ]]; then
        "$python" -m venv --clear "$venv"
    fi

    rm -f "$stamp"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-virtualenv -r "$requirements"
    echo "$want" >"$stamp"
    echo "python venv ready: $venv"
}

ensure_venv "$repo/.venv" "$repo/tests/e2e/requirements.txt"
ensure_venv "$repo/.venv-query" "$repo/tests/e2e/requirements-query.txt"
