#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with trust authentication for the
# user postgres on 127.0.0.1 and a database named "test" (what the postgres tests use).
# Idempotent: a server that already answers is left running as it is (only the database
# "test" is created if it is missing). Exits non-zero with the reason when it cannot.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
DBNAME=test

fail() { echo "start-postgres: $*" >&2; exit 1; }

if ! pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1 || fail "PostgreSQL is not installed and this user cannot install it"
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq || fail "apt-get update failed"
        $SUDO apt-get install -y -qq postgresql >/dev/null || fail "apt-get install postgresql failed"
    fi
    VERSION=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$VERSION" ] || fail "no cluster under /etc/postgresql after installing PostgreSQL"
    HBA=/etc/postgresql/$VERSION/main/pg_hba.conf
    RULE="host    all             postgres        127.0.0.1/32            trust"
    if [ -f "$HBA" ] && ! grep -qF "$RULE" "$HBA"; then
        # Trust the postgres user on the loopback address; first matching rule wins.
        tmp=$(mktemp)
        { echo "$RULE"; echo "host    all             root            127.0.0.1/32            trust"; cat "$HBA"; } > "$tmp"
        cat "$tmp" > "$HBA" && rm -f "$tmp"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$VERSION" main start 2>/dev/null \
        || pg_ctlcluster --skip-systemctl-redirect "$VERSION" main reload 2>/dev/null \
        || fail "pg_ctlcluster could not start cluster $VERSION/main"
    for _ in $(seq 1 30); do
        pg_isready -q -h "$HOST" -p "$PORT" && break
        sleep 1
    done
    pg_isready -q -h "$HOST" -p "$PORT" || fail "server did not answer on $HOST:$PORT within 30 s"
fi

if ! psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atc "SELECT 1" >/dev/null 2>&1; then
    fail "server answers on $HOST:$PORT but user postgres cannot log in without a password (add a trust rule for 127.0.0.1 to pg_hba.conf)"
fi
exists=$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DBNAME'")
if [ "$exists" != 1 ]; then
    psql -h "$HOST" -p "$PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$DBNAME\"" || fail "cannot create database $DBNAME"
fi
echo "start-postgres: PostgreSQL ready at postgresql://postgres@$HOST:$PORT/$DBNAME"
