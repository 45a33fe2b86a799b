#!/usr/bin/env bash
# Rebuilds the embedded demo model (our GGUF layout) from a model folder holding
# transformer/, adapter/, text_encoder/ and vae/ (default: the tiny fixture models).
# Usage: models/demo/build.sh [MODEL_DIR] [NATIVE_SIZE]
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${1:-tests/fixtures/models}
native=${2:-64}
q=target/release/x2edit-quantize
[ -x "$q" ] || cargo build --release -p x2edit-quantize
out=models/demo
tmp=$(mktemp -d)
echo "{\"native_size\": $native}" > "$tmp/adapter.json"
$q convert "$src/transformer" "$out/transformer.gguf"
$q convert --config "$tmp/adapter.json" "$src/adapter" "$out/adapter.gguf"
$q convert "$src/text_encoder" "$out/text_encoder.gguf"
$q convert "$src/vae" "$out/vae.gguf"
rm -rf "$tmp"
ls -l "$out"/*.gguf
