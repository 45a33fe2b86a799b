// The Android library module over libx2edit. Build steps: README.md beside this file.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "x2edit-android"
include(":x2edit")
