#!/usr/bin/env bash
# Builds the web client (crates/web) into dist/ with Trunk, in release mode.
# The wasm build uses Debian's rustc 1.96 with -Zbuild-std (crates/web/.cargo and
# rust-toolchain.toml); the variables a parent cargo sets would override that.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/crates/web"
export PATH="/usr/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
unset RUSTUP_TOOLCHAIN CARGO RUSTFLAGS CARGO_TARGET_DIR
# Trunk runs cargo from the directory of Trunk.toml, where crates/web/.cargo/config.toml
# does not apply: say the same here.
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
# build-std also needs the standard library's own dependencies fetched.
cargo fetch --quiet
trunk build --release --config "$root/Trunk.toml" "$@"
# natter's Content Security Policy allows no inline script, and Trunk writes its
# module loader inline: move it into a file of its own, named by its content.
index="$root/dist/index.html"
loader=$(perl -0777 -ne 'print $1 if m{<script type="module"[^>]*>(.*?)</script>}s' "$index")
if [ -n "$loader" ]; then
  rm -f "$root"/dist/boot-*.js*
  name="boot-$(printf '%s' "$loader" | sha256sum | cut -c1-16).js"
  printf '%s' "$loader" > "$root/dist/$name"
  NAME="$name" perl -0777 -i -pe \
    's{<script type="module"[^>]*>.*?</script>}{<script type="module" src="/$ENV{NAME}"></script>}s' \
    "$index"
fi
# Compressed once here at the strongest settings; natter sends these to browsers that
# accept them, which beats compressing each response on the fly.
for file in "$root"/dist/*.wasm "$root"/dist/*.js "$root"/dist/*.css; do
  gzip -9 --keep --force --no-name "$file"
  brotli --best --keep --force "$file"
done
