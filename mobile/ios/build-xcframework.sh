#!/usr/bin/env bash
# Builds X2EditFFI.xcframework (static libx2edit.a for iOS devices, iOS simulators and macOS, with
# x2edit.h and a module map for `import X2EditFFI`) that Package.swift's binary target uses.
# Runs on macOS with Xcode's command line tools and rustup; then `swift build` / `swift test`
# here, or add this folder to an Xcode project as a local package.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
T=${CARGO_TARGET_DIR:-$ROOT/target}
IOS=aarch64-apple-ios
SIM=(aarch64-apple-ios-sim x86_64-apple-ios)
MAC=(aarch64-apple-darwin x86_64-apple-darwin)
rustup target add $IOS "${SIM[@]}" "${MAC[@]}"
# The same minimums as Package.swift's platforms.
export IPHONEOS_DEPLOYMENT_TARGET=15.0 MACOSX_DEPLOYMENT_TARGET=12.0
for t in $IOS "${SIM[@]}" "${MAC[@]}"; do
  cargo build --release -p x2edit-ffi --target "$t" --manifest-path "$ROOT/Cargo.toml"
done
out=build/xcframework
rm -rf "$out" X2EditFFI.xcframework
mkdir -p "$out/include" "$out/ios-sim" "$out/macos"
# One library per platform: the simulator's and the Mac's two architectures fused.
lipo -create "$T/${SIM[0]}/release/libx2edit.a" "$T/${SIM[1]}/release/libx2edit.a" -output "$out/ios-sim/libx2edit.a"
lipo -create "$T/${MAC[0]}/release/libx2edit.a" "$T/${MAC[1]}/release/libx2edit.a" -output "$out/macos/libx2edit.a"
cp "$ROOT/ffi/include/x2edit.h" "$out/include/"
cat > "$out/include/module.modulemap" <<'MAP'
module X2EditFFI {
    header "x2edit.h"
    export *
}
MAP
xcodebuild -create-xcframework \
  -library "$T/$IOS/release/libx2edit.a" -headers "$out/include" \
  -library "$out/ios-sim/libx2edit.a" -headers "$out/include" \
  -library "$out/macos/libx2edit.a" -headers "$out/include" \
  -output X2EditFFI.xcframework
echo "built $(pwd)/X2EditFFI.xcframework"
