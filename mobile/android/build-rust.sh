#!/usr/bin/env bash
# Builds libx2edit.so for Android into x2edit/src/main/jniLibs/<abi>/, where CMake links the JNI
# glue against it and Gradle packages it. Needs the NDK (ANDROID_NDK_HOME) and cargo-ndk:
#   rustup target add aarch64-linux-android x86_64-linux-android
#   cargo install cargo-ndk --locked
# Then: ./build-rust.sh [ABI...]   (default arm64-v8a x86_64), and ./gradlew :x2edit:assembleRelease
set -euo pipefail
cd "$(dirname "$0")"
abis=("${@:-arm64-v8a x86_64}")
targets=()
for a in ${abis[@]}; do targets+=(-t "$a"); done
# API 26: the minSdk of the module (build.gradle.kts).
cargo ndk --platform 26 "${targets[@]}" -o x2edit/src/main/jniLibs build --release -p x2edit-ffi --manifest-path ../../Cargo.toml
ls -l x2edit/src/main/jniLibs/*/libx2edit.so
