#!/usr/bin/env bash
# Install FaceGate with everything its tests use into ./.venv, then run the whole suite:
#   - Python extras: test (pytest, hypothesis, ruff, mypy), postgres (pgserver: a real PostgreSQL
#     with pgvector), browser (Playwright for Python), train (PyTorch 2.13.0, CPU), dlib and
#     arcface (the optional model packs, so their tests run), openvino (the faster runtime);
#   - Debian packages: chromium and ffmpeg for the browser tests, xvfb and xdotool for the stream
#     client's window test (installed when missing and root).
# Real data is read from FACEGATE_TEST_DATA (default: ../shared/data next to the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need_apt=0
for tool in chromium ffmpeg Xvfb xdotool; do command -v "$tool" >/dev/null || need_apt=1; done
if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg xvfb xdotool >/dev/null
  else
    echo "note: chromium/ffmpeg/xvfb/xdotool missing and not root: browser tests will be skipped, the window test will fail" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test,postgres,browser,train,dlib,arcface,openvino]"
# the speed benchmark's anchor; --no-deps: its metadata asks for "dlib", a source build (dlib-bin
# above provides the module)
.venv/bin/python -m pip install --quiet --no-deps face_recognition==1.3.0

.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m mypy
.venv/bin/lint-imports  # layer and feature-independence contracts (pyproject.toml)
exec .venv/bin/python -m pytest "$@"
