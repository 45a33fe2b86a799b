#!/usr/bin/env bash
# Rebuilds the embedded demo model (our GGUF layout) from a model folder holding
# transformer/, adapter/, text_encoder/ and vae/ (the trained demo model: `python -m train.demo --out runs/demo`
# writes runs/demo/model; the tiny random fixture models of tests/fixtures/models also work).
# Usage: models/demo/build.sh [MODEL_DIR] [NATIVE_SIZE]
# Environment: OUT (default models/demo), and the conversion types TRANSFORMER_TYPE (default q8_0),
# ADAPTER_TYPE (f16), TEXT_TYPE (q8_0; the token embedding f16), VAE_TYPE (keep = the source's f16);
# "keep" keeps each tensor's source type.
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${1:-runs/demo/model}
native=${2:-64}
out=${OUT:-models/demo}
q=target/release/x2edit-quantize
[ -x "$q" ] || cargo build --release -p x2edit-quantize
type_args() { # TYPE [extra rules...]
    local t=$1
    shift
    if [ "$t" != keep ]; then echo "--type $t $*"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "{\"native_size\": $native}" > "$tmp/adapter.json"
mkdir -p "$out"
# shellcheck disable=SC2046
$q convert --quiet $(type_args "${TRANSFORMER_TYPE:-q8_0}") "$src/transformer" "$out/transformer.gguf"
# shellcheck disable=SC2046
$q convert --quiet $(type_args "${ADAPTER_TYPE:-f16}" --rule "_moe_lora[.].*[.](down|up)[.]weight=f16") --config "$tmp/adapter.json" "$src/adapter" "$out/adapter.gguf"
# shellcheck disable=SC2046
$q convert --quiet $(type_args "${TEXT_TYPE:-q8_0}" --rule token_embd=f16) "$src/text_encoder" "$out/text_encoder.gguf"
# shellcheck disable=SC2046
$q convert --quiet $(type_args "${VAE_TYPE:-keep}") "$src/vae" "$out/vae.gguf"
ls -l "$out"/*.gguf
