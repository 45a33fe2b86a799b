#!/usr/bin/env bash
# The browser demo end to end (issue 9): builds the wasm package (web/build.sh), the CLI and
# x2edit-serve, then tests/web/e2e.mjs drives Debian's chromium (--enable-unsafe-webgpu:
# SwiftShader's WebGPU adapter, no shader-f16) with playwright-core from npm: the page edits the
# fixture image with the embedded demo model, the pixels are compared with `x2edit edit
# --precision f32` run now on the same input, once with the adapter's limits and once with a
# 128 MiB storage binding limit. Needs: chromium, node + npm, the wasm32 target,
# wasm-bindgen-cli of Cargo.lock's version, a Vulkan driver for the CLI (lavapipe).
# Outputs (screenshots, cli.png, summary.json) in $E2E_OUT (default target/web-e2e).
# SKIP_BUILD=1 reuses what is built.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
for tool in node npm; do
    command -v "$tool" >/dev/null || { echo "tests/web.sh: $tool is missing (apt-get install nodejs npm)" >&2; exit 1; }
done
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "tests/web.sh: no chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)" >&2; exit 1; }
t0=$(date +%s)
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    web/build.sh
    cargo build --release -p x2edit-cli -p x2edit-web --bins
fi
t1=$(date +%s)
# playwright-core only (a driver, no browser download: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD for good measure).
(cd tests/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
node tests/web/e2e.mjs
echo "tests/web.sh: build $((t1 - t0)) s, test $(( $(date +%s) - t1 )) s"
