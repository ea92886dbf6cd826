#!/usr/bin/env bash
# The review-store tests again on PostgreSQL: Debian's server (installed when missing), a throw-away cluster
# on a loopback port, run as the postgres user, removed afterwards.
set -euo pipefail
PY=${PY:-.venv/bin/python}
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "installing Debian postgresql for the store tests"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
$PY -m pip install --quiet "psycopg[binary]>=3.1"
DATA=$(mktemp -d /tmp/auditlens-pg.XXXXXX)
PORT=$($PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
AS=""; if [ "$(id -u)" = 0 ]; then chown postgres "$DATA"; AS="runuser -u postgres --"; fi
$AS "$BIN/initdb" -D "$DATA/db" -A trust -U postgres >/dev/null
$AS "$BIN/pg_ctl" -D "$DATA/db" -o "-p $PORT -k $DATA -c listen_addresses=127.0.0.1" -l "$DATA/log" -w start >/dev/null
trap '$AS "$BIN/pg_ctl" -D "$DATA/db" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DATA"' EXIT
"$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -qc "CREATE DATABASE auditlens_test"
AUDITLENS_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/auditlens_test" \
  $PY -m pytest -q -p no:cacheprovider tests/test_store.py tests/batch/test_store_migrations.py -k postgresql
