//! The C ABI of X2Edit Edge: `libx2edit` (.so / .a / .dylib) with the header
//! `include/x2edit.h`, generated from this crate by cbindgen (`ffi/gen-header.sh`).
//!
//! Rules every entry point keeps:
//! - it runs inside `status::guard`: panics are caught (nothing unwinds into C) and every
//!   failure is a status code plus a thread-local message (`x2e_last_error`);
//! - handles are registry numbers, not addresses (`handles`): freed, forged or wrong-kind
//!   handles and double frees are errors, never reads of freed memory;
//! - null pointers are checked; caller buffers come with their sizes, checked before use;
//! - params structs are sized (`params`) so that fields can be appended without breaking
//!   programs built against an older header.
//!
//! Threads: every function may be called from any thread. A context runs one edit at a time
//! (a second concurrent `x2e_edit` on it returns X2E_ERR_BUSY); models and images are
//! immutable and may be shared by edits on several contexts; `x2e_cancel` may be called from
//! any thread at any time.

// The entry points are called from C, which has no `unsafe`: the contract is the header's (null
// checked, sizes passed with every buffer), so marking them `unsafe fn` would document nothing.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

mod context;
mod edit;
mod handles;
mod image;
mod model;
mod params;
mod status;

pub use context::*;
pub use edit::*;
pub use image::*;
pub use model::*;
pub use status::x2e_status;

use std::ffi::c_char;

/// The ABI version of the header, `major << 16 | minor`. The minor grows when functions,
/// enum values or trailing params fields are added; the major when anything else changes.
pub const X2E_API_VERSION: u32 = 1 << 16;

/// The library's `X2E_API_VERSION`. A program should check at startup that the majors match:
/// `(x2e_api_version() >> 16) == (X2E_API_VERSION >> 16)`.
#[no_mangle]
pub extern "C" fn x2e_api_version() -> u32 {
    X2E_API_VERSION
}

/// The message of the last failed x2e_ call on this thread ("" after a call that succeeded).
/// Never NULL. The string belongs to the library and stays valid until the next x2e_ call on
/// this thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn x2e_last_error() -> *const c_char {
    status::last_error_ptr()
}

/// A short English name for a status code ("X2E_ERR_BUSY"); a static string, never NULL.
#[no_mangle]
pub extern "C" fn x2e_status_name(status: i32) -> *const c_char {
    let s: &'static [u8] = match status {
        0 => b"X2E_OK\0",
        1 => b"X2E_ERR_INVALID_ARGUMENT\0",
        2 => b"X2E_ERR_INVALID_HANDLE\0",
        3 => b"X2E_ERR_IO\0",
        4 => b"X2E_ERR_MODEL\0",
        5 => b"X2E_ERR_GPU\0",
        6 => b"X2E_ERR_CANCELLED\0",
        7 => b"X2E_ERR_BUSY\0",
        8 => b"X2E_ERR_UNSUPPORTED\0",
        9 => b"X2E_ERR_INTERNAL\0",
        _ => b"unknown x2e_status\0",
    };
    s.as_ptr() as *const c_char
}

/// Live handles of each kind (contexts, models, images), for leak checks in tests.
#[no_mangle]
pub extern "C" fn x2e_live_handles(out_contexts: *mut usize, out_models: *mut usize, out_images: *mut usize) -> x2e_status {
    status::guard("x2e_live_handles", || {
        for (p, n) in [(out_contexts, context::CONTEXTS.count()), (out_models, model::MODELS.count()), (out_images, image::IMAGES.count())] {
            if !p.is_null() {
                // SAFETY: NULL or writable, as documented.
                unsafe { *p = n };
            }
        }
        Ok(())
    })
}
