#!/usr/bin/env bash
# Install FaceGate into ./.venv and start the server on the embedded default:
# SQLite file under ./data (FACEGATE_DATA_DIR), no external service. Prints the URL.
# pip runs only when the project or the venv changed (a stamp in .venv holds the SHA-256 of
# pyproject.toml, the extras and the venv's Python version); FACEGATE_REINSTALL=1 forces it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS="openvino"  # OpenVINO: the faster SFace runtime
STAMP=.venv/.facegate-install
[ -x .venv/bin/python ] || "$PY" -m venv .venv
want=$({ cat pyproject.toml; echo "extras=$EXTRAS"; .venv/bin/python -c 'import sys; print(sys.version)'; } \
  | sha256sum | cut -d' ' -f1)
if [ "${FACEGATE_REINSTALL:-0}" = 1 ] || [ ! -x .venv/bin/facegate ] \
   || [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
  echo "installing FaceGate into .venv (pyproject.toml or the venv changed)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
  echo "$want" > "$STAMP"
fi
export FACEGATE_DATA_DIR=${FACEGATE_DATA_DIR:-$PWD/data}
exec .venv/bin/facegate serve "$@"
