#!/usr/bin/env bash
# Runs every check and test of Natter: formatting, lints, the domain's unit and
# property tests, the schema and migration tests on PostgreSQL, the server tests
# against the real binary and the browser test in headless Chromium, on PostgreSQL
# and on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

scripts/setup.sh test

# Each pass's test process migrates a template database once and copies every test's
# database from it (tests/src/lib.rs); no test outlives the process to drop it, so the
# templates of processes that have ended go here.
sweep_templates() {
  local server="${NATTER_TEST_PG:-postgres://postgres@127.0.0.1:5432}" name pid dir
  psql "$server/postgres" -Atqc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'natter\_tpl\_%'" 2>/dev/null |
    while read -r name; do
      pid=${name#natter_tpl_} pid=${pid%%_*}
      [ -d "/proc/$pid" ] || psql "$server/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"
    done
  for dir in "${TMPDIR:-/tmp}"/natter-tpl-*; do
    pid=${dir##*/natter-tpl-} pid=${pid%%-*}
    [ ! -d "$dir" ] || [ -d "/proc/$pid" ] || rm -rf "$dir"
  done
}
# A sweep that fails (the database server is away) must not change the run's result.
trap 'status=$?; sweep_templates || true; exit "$status"' EXIT

# The web client builds beside the checks below: its slow single-threaded end (link
# time optimisation, wasm-opt, brotli) leaves a core to them.
mkdir -p target
scripts/build-web.sh >target/build-web.log 2>&1 &
web_build=$!
cargo fmt --all -- --check
# crates/web is outside the workspace, so `cargo fmt --all` does not reach it.
rustfmt --edition 2024 --check crates/web/src/main.rs
cargo clippy --workspace --all-targets --locked -- -D warnings
# Debian's wasm toolchain has no clippy: rustup's stable one checks crates/web for the
# host target instead (the client's code does not depend on the target).
(cd crates/web && RUSTC="$(rustup which rustc --toolchain stable)" \
  cargo +stable clippy --locked --target "$(rustc +stable -vV | sed -n 's/^host: //p')" \
  --target-dir ../../target/web-clippy -- -D warnings)
# The black-box tests start the real binary, so build it first.
cargo build --workspace --locked --bins
if ! wait "$web_build"; then
  cat target/build-web.log
  echo "test: building the web client failed (above)" >&2
  exit 1
fi
tail -n 3 target/build-web.log
# The black-box suite (one test binary) runs once per backend: PostgreSQL, then the
# default SQLite. Tests of what only PostgreSQL does are marked ignored, so the SQLite
# pass reports them as ignored and the PostgreSQL pass includes them.
NATTER_TEST_BACKEND=postgres cargo test --workspace --locked -- --include-ignored
# --workspace, as above, so that dependencies keep the same features and are not
# compiled again (-p natter-tests alone took 1m44s more).
NATTER_TEST_BACKEND=sqlite cargo test --workspace --locked --test suite
