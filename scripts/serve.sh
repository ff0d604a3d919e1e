#!/usr/bin/env bash
# Install FaceGate into ./.venv and start the server on the embedded default:
# SQLite file under ./data (FACEGATE_DATA_DIR), no external service. Prints the URL.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[openvino]"  # OpenVINO: the faster SFace runtime
export FACEGATE_DATA_DIR=${FACEGATE_DATA_DIR:-$PWD/data}
exec .venv/bin/facegate serve "$@"
