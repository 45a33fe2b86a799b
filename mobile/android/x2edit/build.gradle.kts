// dev.x2edit: Kotlin API (src/main/kotlin), JNI declarations (src/main/java), JNI glue in C
// (src/main/cpp, built by CMake against the prebuilt libx2edit.so that ../build-rust.sh puts in
// src/main/jniLibs/<abi>/).
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.x2edit"
    compileSdk = 35
    ndkVersion = "27.2.12479018"

    defaultConfig {
        // wgpu's Vulkan backend needs Vulkan 1.1 devices; API 26 is where those are common.
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
        externalNativeBuild {
            cmake {
                arguments += listOf("-DANDROID_STL=none")
            }
        }
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    externalNativeBuild {
        cmake {
            path = file("src/main/cpp/CMakeLists.txt")
            version = "3.22.1"
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.9.0")
}
