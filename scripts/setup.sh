#!/usr/bin/env bash
# Installs what Natter needs on a Debian 12 machine of this kind, idempotently and
# without prompts; whatever is already there is skipped quickly.
#
#   scripts/setup.sh        what building and running needs (scripts/run.sh):
#     - Debian packages: Debian's rustc 1.96 with std sources and lld (the wasm32
#       client build; rustup here has no wasm32 target), libpq (diesel), brotli
#       (precompressing the client's files), binaryen and openssl (shrinking the
#       client's module and writing its integrity hash).
#     - cargo tools: trunk 0.21 (0.22 needs a newer rustc), wasm-bindgen-cli at
#       exactly the version in crates/web/Cargo.lock.
#   scripts/setup.sh test   that, and what the tests and benchmarks need
#     (scripts/test.sh, scripts/bench.sh):
#     - Debian packages: Chromium + driver (browser tests; libssl-dev for the
#       WebDriver client; an emoji font so reactions render in screenshots), the
#       PostgreSQL client (scratch databases), python3-venv.
#     - the diesel CLI (postgres only: the schema.rs check).
#     - Python: schemathesis and openapi-spec-validator in a venv (API tests).
#     - npm: axe-core (accessibility checks in the browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { printf 'setup: %s\n' "$*"; }

case "${1:-run}" in
  run) for_tests=false ;;
  test) for_tests=true ;;
  *) say "usage: scripts/setup.sh [run|test]" >&2; exit 2 ;;
esac

apt_packages=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 libpq-dev pkg-config
  brotli binaryen openssl)
if $for_tests; then
  apt_packages+=(libssl-dev chromium chromium-driver fonts-noto-color-emoji
    postgresql-client python3-venv)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# cargo install must use rustup's stable toolchain even when called from inside cargo.
host_cargo() { env -u RUSTUP_TOOLCHAIN -u CARGO -u RUSTC cargo "$@"; }

# `cargo install` now and then fails on a transient registry hiccup: try twice.
cargo_install() {
  host_cargo install "$@" || { say "retrying cargo install $1"; host_cargo install "$@"; }
}

if ! trunk --version 2>/dev/null | grep -q '^trunk 0\.21\.'; then
  say "installing trunk 0.21"
  # Without --locked it resolves versions that do not build with rustc 1.95.
  cargo_install trunk --version '~0.21' --locked
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' crates/web/Cargo.lock)
if [ -z "$bindgen_version" ]; then
  say "cannot read the wasm-bindgen version from crates/web/Cargo.lock" >&2
  exit 1
fi
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $bindgen_version"; then
  say "installing wasm-bindgen-cli $bindgen_version"
  # No --locked: its lock file pins a crate the registry mirror lacks.
  cargo_install wasm-bindgen-cli --version "=$bindgen_version" --force
fi

if ! $for_tests; then
  say "ready to build and run"
  exit 0
fi

if ! diesel --version >/dev/null 2>&1; then
  say "installing the diesel CLI"
  cargo_install diesel_cli --version '~2.3' --no-default-features --features postgres
fi

# Python tools for the API tests: schemathesis (property-based requests from the
# OpenAPI document), openapi-spec-validator, the Prometheus client library, whose
# text-format parser reads /metrics back, and moto, whose server mode is the
# S3-compatible storage the file tests use; in a venv of their own.
venv="${NATTER_VENV:-${XDG_DATA_HOME:-$HOME/.local/share}/natter/venv}"
python_tools=("schemathesis==4.32.5" "openapi-spec-validator==0.9.0" "prometheus-client==0.23.1"
  "moto[server]==5.2.5")
if ! "$venv/bin/st" --version 2>/dev/null | grep -q '4\.32\.5' \
  || ! "$venv/bin/openapi-spec-validator" --version >/dev/null 2>&1 \
  || ! "$venv/bin/python" -c 'import prometheus_client.parser' 2>/dev/null \
  || ! "$venv/bin/moto_server" --help >/dev/null 2>&1; then
  say "installing ${python_tools[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${python_tools[@]}"
fi

# axe-core, which the browser tests run in the page to find accessibility faults.
axe="${NATTER_AXE:-${XDG_DATA_HOME:-$HOME/.local/share}/natter/axe}"
axe_version=4.10.3
if ! grep -q "\"version\": \"$axe_version\"" "$axe/node_modules/axe-core/package.json" 2>/dev/null; then
  say "installing axe-core $axe_version into $axe"
  mkdir -p "$axe"
  npm install --prefix "$axe" --no-save --no-audit --no-fund --loglevel=error "axe-core@$axe_version"
fi

say "ready"
