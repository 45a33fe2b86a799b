#!/usr/bin/env bash
# Regenerates include/x2edit.h from src/ with the pinned cbindgen (installed with cargo if
# missing). With --check, generates into a temporary file and fails if the committed header
# differs (CI), printing the diff.
set -euo pipefail
cd "$(dirname "$0")"
CBINDGEN_VERSION=0.29.4
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  echo "installing cbindgen $CBINDGEN_VERSION" >&2
  cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
fi
gen() { cbindgen --quiet --config cbindgen.toml --crate x2edit-ffi --output "$1" .; }
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  gen "$tmp"
  if ! diff -u include/x2edit.h "$tmp"; then
    echo "ffi/include/x2edit.h is stale: run ffi/gen-header.sh and commit it" >&2
    exit 1
  fi
  echo "ffi/include/x2edit.h is current"
else
  gen include/x2edit.h
  echo "wrote ffi/include/x2edit.h"
fi
