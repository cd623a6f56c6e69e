#!/usr/bin/env bash
# Builds the web client and runs natter at http://127.0.0.1:8080 (API under /api).
# Extra arguments go to natter (see `natter --help`); DATABASE_URL picks the database.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

scripts/setup.sh
scripts/build-web.sh

if [ -z "${DATABASE_URL:-}" ]; then
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/natter"
  # First run on a machine with a local PostgreSQL: create the default database.
  # If PostgreSQL is unreachable, natter itself says so, naming DATABASE_URL.
  exists=$(psql "postgres://postgres@127.0.0.1:5432/postgres" -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'natter'" 2>/dev/null || true)
  if [ -z "$exists" ]; then
    psql "postgres://postgres@127.0.0.1:5432/postgres" -qc 'CREATE DATABASE natter' 2>/dev/null || true
  fi
fi

cargo build --release --locked -p natter-api --bin natter
exec target/release/natter --web-dir dist "$@"
