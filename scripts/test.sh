#!/usr/bin/env bash
# Install FaceGate with its test extras into ./.venv and run the whole test suite.
# Real data is read from FACEGATE_TEST_DATA (default: ../shared/data next to the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
