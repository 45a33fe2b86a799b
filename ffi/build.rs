// Gives libx2edit.so a SONAME (and the dylib an @rpath install name). Without one, a library
// linked against it (the Android JNI glue, an app's own .so) records the build machine's path
// to it as its dependency, and the loader on the device cannot find it.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    match os.as_str() {
        "linux" | "android" => println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libx2edit.so"),
        "macos" | "ios" => println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libx2edit.dylib"),
        _ => {}
    }
}
