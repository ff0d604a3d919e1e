#!/usr/bin/env bash
# Build the upgrade-test fixtures with the code of the PREVIOUS layout (commit f2bfeb9, before
# the core/features/research/app move), so tests/integration/app/test_upgrade_from_previous_layout.py
# can check that such databases upgrade with today's code:
#   tests/fixtures/upgrade/previous_layout.sqlite.sql  SQLite dump (Python's iterdump)
#   tests/fixtures/upgrade/previous_layout.pg.sql      PostgreSQL dump (pg_dump --inserts)
# Both hold the same content: obama (2 photos) and biden enrolled, locker 12, a face-less admin
# account. Templates are encrypted with the fixed test-only key below.
#
#   FACEGATE_TEST_DATA=/path/to/shared/data scripts/make_upgrade_fixture.sh
# (from the repository root; needs .venv with the postgres extra)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OLD=${OLD_COMMIT:-f2bfeb9}
OUT=$REPO/tests/fixtures/upgrade
DATA=${FACEGATE_TEST_DATA:-../shared/data}
FACES=$DATA/faces/people
WORK=$(mktemp -d)
trap 'git -C "$REPO" worktree remove --force "$WORK/old" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

git -C "$REPO" worktree add -q --detach "$WORK/old" "$OLD"
mkdir -p "$OUT"
export PYTHONPATH=$WORK/old/src
export FACEGATE_TEMPLATE_KEY=ZmFjZWdhdGUtdXBncmFkZS10ZXN0LWtleS0zMmJ5dGU=  # test-only key
PY=$REPO/.venv/bin/python

fill() {  # enrol two people, add a locker and a face-less admin with the old CLI
  "$PY" -m facegate people add obama "$FACES/obama/obama.jpg" "$FACES/obama/obama2.jpg" \
    --display-name "Barack Obama"
  "$PY" -m facegate people add biden "$FACES/biden/biden.jpg"
  "$PY" -m facegate locker add 12 --location "Vault A"
  printf 'admin password 1\n' > "$WORK/pw"
  "$PY" -m facegate admin create root1 --password-file "$WORK/pw"
}

# SQLite, dumped as SQL text
FACEGATE_DATA_DIR=$WORK/sqlite FACEGATE_DATABASE_URL="sqlite:///$WORK/previous.db" fill
"$PY" -c '
import sqlite3, sys
with open(sys.argv[2], "w", encoding="utf-8") as fh:
    fh.writelines(line + "\n" for line in sqlite3.connect(sys.argv[1]).iterdump())
' "$WORK/previous.db" "$OUT/previous_layout.sqlite.sql"

# PostgreSQL (pgserver), then a plain dump with INSERTs
PG=$("$PY" -c '
import sys, pgserver
server = pgserver.get_server(sys.argv[1], cleanup_mode=None)
server.psql("CREATE DATABASE upgrade_fixture;")
print(server.get_uri("upgrade_fixture"))
' "$WORK/pg")
FACEGATE_DATA_DIR=$WORK/pgdata FACEGATE_DATABASE_URL="${PG/postgresql:/postgresql+psycopg:}" fill
BIN=$("$PY" -c "import pgserver.postgres_server as p; print(p.POSTGRES_BIN_PATH)")
"$BIN/pg_dump" --inserts --no-owner --no-privileges --no-comments "$PG" \
  | grep -v '^\\\(un\)\?restrict ' > "$OUT/previous_layout.pg.sql"
"$PY" -c "import pgserver, sys; pgserver.get_server(sys.argv[1], cleanup_mode='stop').cleanup()" "$WORK/pg"
ls -l "$OUT"
