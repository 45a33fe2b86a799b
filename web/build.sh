#!/usr/bin/env bash
# Builds the browser package: the x2edit-web crate for wasm32, then wasm-bindgen's JS glue into
# web/pkg (served with web/www by x2edit-serve). Needs the wasm32 target and wasm-bindgen-cli of
# exactly the wasm-bindgen version in Cargo.lock:
#   rustup target add wasm32-unknown-unknown
#   cargo install wasm-bindgen-cli --version "=$(web/build.sh --wasm-bindgen-version)"
# No wasm-opt: Debian 12's binaryen 108 breaks the externref table wasm-bindgen sets up (the page
# fails at start with "WebAssembly.Table.set(): Argument 1 is invalid"), even with
# --enable-reference-types.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "${1:-}" = "--wasm-bindgen-version" ]; then echo "$want"; exit 0; fi
[ -n "$want" ] || { echo "build.sh: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
    echo "build.sh: wasm-bindgen-cli $want is needed (found: ${have:-none}); install it with" >&2
    echo "  cargo install wasm-bindgen-cli --version =$want" >&2
    exit 1
fi
rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || {
    echo "build.sh: the wasm32-unknown-unknown target is missing: rustup target add wasm32-unknown-unknown" >&2
    exit 1
}
t0=$(date +%s)
cargo build --release -p x2edit-web --lib --target wasm32-unknown-unknown
rm -rf web/pkg
wasm-bindgen --target web --no-typescript --out-dir web/pkg target/wasm32-unknown-unknown/release/x2edit_web.wasm
echo "build.sh: web/pkg ready in $(( $(date +%s) - t0 )) s ($(du -h web/pkg/x2edit_web_bg.wasm | cut -f1) wasm); serve with: cargo run --release -p x2edit-web --bin x2edit-serve"
