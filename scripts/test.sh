#!/usr/bin/env bash
# Runs every check and test of Natter: formatting, lints, the domain's unit and
# property tests, the schema and migration tests on PostgreSQL, the server tests
# against the real binary and the browser test in headless Chromium, on PostgreSQL
# and on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

scripts/setup.sh
scripts/build-web.sh
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
cargo build --locked -p natter-api -p natter-bench --bins
# The black-box suite runs once per backend: PostgreSQL, then the default SQLite
# (tests of what only PostgreSQL does say that they skip).
NATTER_TEST_BACKEND=postgres cargo test --workspace --locked
NATTER_TEST_BACKEND=sqlite cargo test --locked -p natter-tests
