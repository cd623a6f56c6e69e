#!/usr/bin/env bash
# Builds the web client and runs natter at http://127.0.0.1:8080 (API under /api).
# With no DATABASE_URL everything is kept in SQLite under data/ (created on first
# start); DATABASE_URL=postgres://… uses PostgreSQL instead. Extra arguments go to
# natter (see `natter --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

scripts/setup.sh
scripts/build-web.sh
cargo build --release --locked -p natter-api --bin natter
exec target/release/natter --web-dir dist "$@"
