#!/usr/bin/env bash
# Install FaceGate with everything its tests use into ./.venv, then run the whole suite:
#   - Python extras: test (pytest, hypothesis, ruff, mypy), postgres (pgserver: a real PostgreSQL
#     with pgvector), browser (Playwright for Python), train (PyTorch 2.13.0, CPU), dlib and
#     arcface (the optional model packs, so their tests run), openvino (the faster runtime),
#     redis (the client of the Redis rate-limit storage);
#   - the client environments of the CompreFace/DeepStack compatibility tests (tests/compat, run by
#     tests/integration/features/compat/test_compat_clients.py): .venv-compat (compreface-sdk 0.6.0, which needs
#     urllib3<2, and deepstack-python 0.8, Home Assistant's pin) and .venv-compat9 (deepstack-python
#     0.9); the deepstack clients import PIL without declaring it;
#   - Debian packages: chromium and ffmpeg for the browser tests, xvfb and xdotool for the stream
#     client's window test, redis-server for the Redis rate-limit storage test (installed when
#     missing and root).
# Real data is read from FACEGATE_TEST_DATA (default: ../shared/data next to the repo).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

need_apt=0
for tool in chromium ffmpeg Xvfb xdotool redis-server; do command -v "$tool" >/dev/null || need_apt=1; done
if [ "$need_apt" = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium ffmpeg xvfb xdotool redis-server >/dev/null
  else
    echo "note: chromium/ffmpeg/xvfb/xdotool/redis-server missing and not root: browser and Redis tests will be skipped, the window test will fail" >&2
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test,postgres,browser,train,dlib,arcface,openvino,redis]"
# the speed benchmark's anchor; --no-deps: its metadata asks for "dlib", a source build (dlib-bin
# above provides the module)
.venv/bin/python -m pip install --quiet --no-deps face_recognition==1.3.0

# the real CompreFace/DeepStack clients, each in its own environment (nothing of FaceGate in them)
CLIENT_TOOLS="pillow==13.0.0 pytest==9.2.0 httpx==0.28.1"
[ -x .venv-compat/bin/python ] || "$PY" -m venv .venv-compat
# shellcheck disable=SC2086
.venv-compat/bin/python -m pip install --quiet --disable-pip-version-check \
  "compreface-sdk==0.6.0" "urllib3<2" "deepstack-python==0.8" $CLIENT_TOOLS
[ -x .venv-compat9/bin/python ] || "$PY" -m venv .venv-compat9
# shellcheck disable=SC2086
.venv-compat9/bin/python -m pip install --quiet --disable-pip-version-check \
  "deepstack-python==0.9" $CLIENT_TOOLS

.venv/bin/python -m ruff check src tests benchmarks
.venv/bin/python -m mypy
.venv/bin/lint-imports  # layer and feature-independence contracts (pyproject.toml)
exec .venv/bin/python -m pytest "$@"
