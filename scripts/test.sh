#!/usr/bin/env bash
# `make test`: every test, against real engines (see conftest.py for where they come from).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON="${PYTHON:-python3}"
exec bash scripts/with-infra.sh $PYTHON -m uv run --frozen pytest -q -ra "$@"
