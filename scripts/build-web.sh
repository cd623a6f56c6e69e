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
# The module is the client's first-load cost (natter-bench web; the budget is 400 KB
# after compression), so everything is built for size, the standard library too: its
# smaller implementations (optimize_for_size); panics abort at once, with no message
# or location to format (the page could not go on after one anyway); `{:?}` output,
# seen only in a developer's console, is compiled out; Leptos erases each component's
# view type (erase_components), which spares most of the code that nested view types
# multiply; and no reference types (see wasm-opt below). Together with wasm-opt: from
# 444 KB to 375 KB of brotli for the same client (2026-11-30).
export CARGO_UNSTABLE_BUILD_STD_FEATURES=optimize_for_size
export RUSTFLAGS="-Zlocation-detail=none -Zfmt-debug=none -Zunstable-options -Cpanic=immediate-abort --cfg erase_components -Ctarget-feature=-reference-types"
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
# binaryen's wasm-opt (the Debian package, 108) shrinks the module by 3% after brotli.
# The features are those the module uses: reference types are off (above), since
# this wasm-opt mishandles wasm-bindgen's externref table. The page preloads the
# module with its hash (Subresource Integrity), which is written anew.
wasm=$(ls "$root"/dist/*_bg.wasm)
wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-mutable-globals --enable-multivalue "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
digest=$(openssl dgst -sha384 -binary "$wasm" | openssl base64 -A)
NAME="$(basename "$wasm")" DIGEST="$digest" perl -i -pe \
  's{(href="/\Q$ENV{NAME}\E"[^>]*?integrity=")sha384-[^"]*}{${1}sha384-$ENV{DIGEST}}' "$index"
# Compressed once here at the strongest settings; natter sends these to browsers that
# accept them, which beats compressing each response on the fly.
for file in "$root"/dist/*.wasm "$root"/dist/*.js "$root"/dist/*.css; do
  gzip -9 --keep --force --no-name "$file"
  brotli --best --keep --force "$file"
done
