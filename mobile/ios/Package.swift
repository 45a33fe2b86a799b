// swift-tools-version:5.9
// X2Edit for iOS and macOS: a Swift API over the C ABI of libx2edit (ffi/include/x2edit.h).
// The binary target is built by ./build-xcframework.sh (on macOS with Xcode and Rust).
import PackageDescription

let package = Package(
    name: "X2Edit",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "X2Edit", targets: ["X2Edit"]),
    ],
    targets: [
        // Static libx2edit.a per platform with x2edit.h and a module map (module X2EditFFI).
        .binaryTarget(name: "X2EditFFI", path: "X2EditFFI.xcframework"),
        .target(
            name: "X2Edit",
            dependencies: ["X2EditFFI"],
            linkerSettings: [
                // What wgpu's Metal backend links against.
                .linkedFramework("Metal"),
                .linkedFramework("QuartzCore"),
                .linkedFramework("CoreGraphics"),
                .linkedFramework("Foundation"),
            ]
        ),
        .testTarget(name: "X2EditTests", dependencies: ["X2Edit"]),
    ]
)
