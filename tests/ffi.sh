#!/usr/bin/env bash
# The C ABI where its users meet it (issue 8), on the host with Mesa's lavapipe:
#   header      ffi/include/x2edit.h is what cbindgen makes of ffi/src; it compiles as C99 and C++
#   misuse      tests/c/test_misuse.c (no GPU) against libx2edit.so, libx2edit.a and under valgrind
#   edit        tests/c/test_edit.c: the demo-model edit matches `x2edit edit` pixel for pixel,
#               progress, cancellation from another thread and from the callback, busy context
#   jvm         the JNI glue and tests/jvm/EditTest.java on the host JVM
#   kotlin      the Kotlin API (mobile/android) and tests/jvm/EditorTest.kt, with kotlinc from npm
#   android     cargo check of the ffi crate for aarch64-linux-android (reported, never fatal)
# Usage: tests/ffi.sh [PHASE...] (default: all). Artifacts in target/ffi-tests/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/ffi-tests
LIB=$ROOT/target/release
KOTLIN_VERSION=2.4.20
STEPS=2
SEED=7
PROMPT="make the square blue"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-x2edit}
mkdir -p "$XDG_RUNTIME_DIR" "$OUT" && chmod 700 "$XDG_RUNTIME_DIR"
t0=$(date +%s)
phase() { echo "== ffi: $1 ($(( $(date +%s) - t0 )) s)"; }
PHASES="$*"
want() { [ -z "$PHASES" ] || [[ " $PHASES " == *" $1 "* ]]; }
need_pkg() { # command, Debian package
  command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}
CFLAGS=(-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -O1 -I"$ROOT/ffi/include")

phase "build libx2edit and the CLI"
cargo build --release -p x2edit-ffi -p x2edit-cli

if want header; then
  phase "header"
  ffi/gen-header.sh --check
  echo 'int main(void) { return x2e_api_version() == 0; }' > "$OUT/header.c"
  gcc -std=c99 -pedantic -Wall -Wextra -Werror -Iffi/include -include x2edit.h -fsyntax-only "$OUT/header.c"
  g++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iffi/include -include x2edit.h -fsyntax-only -x c++ "$OUT/header.c"
  # ffi/README.md's example compiles: its first line (the #include) at file scope, the rest as a body.
  example=$(sed -n '/^```c$/,/^```$/p' ffi/README.md | sed '1d;$d')
  { echo '#include <stdio.h>'; echo "$example" | head -1
    echo 'int example(uint32_t w, uint32_t h, const uint8_t *rgba, uint8_t *dst, size_t dst_size) {'
    echo "$example" | tail -n +2; echo 'return 0; }'; } > "$OUT/readme_example.c"
  gcc -std=c11 -Wall -Wextra -Werror -Iffi/include -fsyntax-only "$OUT/readme_example.c"
fi

if want misuse; then
  phase "misuse (no GPU): shared, static, valgrind"
  [ -e /usr/include/png.h ] || need_pkg libpng-config libpng-dev
  gcc "${CFLAGS[@]}" tests/c/test_misuse.c -o "$OUT/test_misuse" -L"$LIB" -lx2edit -lpthread -Wl,-rpath,"$LIB"
  "$OUT/test_misuse" "$ROOT"
  # The staticlib's system libraries, as `cargo rustc -- --print native-static-libs` lists them.
  gcc "${CFLAGS[@]}" tests/c/test_misuse.c "$LIB/libx2edit.a" -ldl -lgcc_s -lutil -lrt -lpthread -lm -o "$OUT/test_misuse_static"
  "$OUT/test_misuse_static" "$ROOT"
  need_pkg valgrind valgrind
  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "$OUT/test_misuse" "$ROOT"
fi

if want edit || want jvm || want kotlin; then
  [ -e /usr/include/png.h ] || need_pkg libpng-config libpng-dev
  gcc "${CFLAGS[@]}" tests/c/test_edit.c tests/c/png_io.c -o "$OUT/test_edit" -L"$LIB" -lx2edit -lpng -lpthread -Wl,-rpath,"$LIB"
  "$OUT/test_edit" make-input "$OUT/in.png"
  phase "the CLI's edit (reference pixels)"
  "$LIB/x2edit" edit --image "$OUT/in.png" --prompt "$PROMPT" --out "$OUT/cli.png" --seed $SEED --steps $STEPS
fi

if want edit; then
  phase "edit through the C ABI"
  "$OUT/test_edit" run "$OUT/in.png" "$OUT/cli.png" "$PROMPT"
fi

JAVA_SRC=mobile/android/x2edit/src/main/java
if want jvm || want kotlin; then
  phase "JNI glue"
  JAVA_HOME=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
  rm -rf "$OUT/classes" && mkdir -p "$OUT/classes" "$OUT/jni"
  javac -d "$OUT/classes" -h "$OUT/jni" $(find $JAVA_SRC -name '*.java')
  # -include the javac-generated prototypes: a signature that drifted from the Java natives fails here.
  gcc -std=c11 -shared -fPIC -Wall -Wextra -Werror -O2 -I"$JAVA_HOME/include" -I"$JAVA_HOME/include/linux" -Iffi/include \
    -include "$OUT/jni/dev_x2edit_X2EditNative.h" mobile/android/x2edit/src/main/cpp/x2edit_jni.c \
    -o "$OUT/libx2edit_jni.so" -L"$LIB" -lx2edit -Wl,-rpath,"$LIB"
  JLIB="-Djava.library.path=$OUT:$LIB"
fi

if want jvm; then
  phase "JVM test (Java)"
  mkdir -p "$OUT/test-classes"
  javac -d "$OUT/test-classes" -cp "$OUT/classes" tests/jvm/EditTest.java
  java $JLIB -cp "$OUT/classes:$OUT/test-classes" EditTest "$OUT/in.png" "$OUT/cli.png" "$PROMPT"
fi

if want kotlin; then
  phase "Kotlin API"
  KC=${X2EDIT_KOTLINC_HOME:-$HOME/.cache/x2edit/kotlinc-$KOTLIN_VERSION}
  if [ ! -x "$KC/bin/kotlinc" ] && command -v npm >/dev/null; then
    # The compiler distribution (kotlinc, stdlib, kotlinx-coroutines) as the npm package ships it.
    tmp=$(mktemp -d)
    if (cd "$tmp" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null && tar xzf kotlin-compiler-*.tgz); then
      mkdir -p "$(dirname "$KC")" && rm -rf "$KC" && mv "$tmp/package" "$KC"
    fi
    rm -rf "$tmp"
  fi
  if [ -x "$KC/bin/kotlinc" ]; then
    KT_CP="$KC/lib/kotlin-stdlib.jar:$KC/lib/kotlinx-coroutines-core-jvm.jar"
    rm -rf "$OUT/kt"
    # The Android-only helpers (android.graphics) need the Android SDK: left to Gradle.
    "$KC/bin/kotlinc" -nowarn -jvm-target 17 -cp "$OUT/classes:$KT_CP" -d "$OUT/kt" \
      $(find mobile/android/x2edit/src/main/kotlin -name '*.kt' -not -path '*/dev/x2edit/android/*') tests/jvm/EditorTest.kt
    java $JLIB -cp "$OUT/classes:$OUT/kt:$KT_CP" EditorTestKt "$OUT/in.png" "$OUT/cli.png" "$PROMPT"
  else
    echo "ffi: SKIPPED the Kotlin test: no kotlinc (npm pack kotlin-compiler@$KOTLIN_VERSION failed)"
  fi
fi

if want android; then
  phase "cargo check for aarch64-linux-android"
  if rustup target add aarch64-linux-android >/dev/null 2>&1; then
    if ! cargo check --release -p x2edit-ffi --target aarch64-linux-android; then
      echo "ffi: NOTE cargo check for aarch64-linux-android FAILED (see above); continuing"
    fi
  else
    echo "ffi: NOTE rustup could not add aarch64-linux-android here; Android check skipped"
  fi
fi

phase "done"
