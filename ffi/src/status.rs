//! Status codes, the thread-local last-error message and the guard every entry point runs in:
//! it clears the message, catches panics (nothing unwinds into C) and turns errors into codes.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use x2edit_runtime::Error as RtError;

/// What every fallible function returns. `X2E_OK` is 0; any other value has a message in
/// `x2e_last_error()`.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum x2e_status {
    X2E_OK = 0,
    /// A null pointer, a value out of range, a buffer too small, an empty prompt.
    X2E_ERR_INVALID_ARGUMENT = 1,
    /// A handle that was freed, never created, or is of another kind (e.g. an image passed as a
    /// model). Double frees land here.
    X2E_ERR_INVALID_HANDLE = 2,
    /// A file or folder that is missing or unreadable, a bad file descriptor.
    X2E_ERR_IO = 3,
    /// A model file that cannot be used: wrong format, missing tensor, shape mismatch.
    X2E_ERR_MODEL = 4,
    /// No adapter, device creation failed, a GPU error or a buffer over the device's limits.
    X2E_ERR_GPU = 5,
    /// The edit was cancelled (`x2e_cancel` or the progress callback returned non-zero).
    X2E_ERR_CANCELLED = 6,
    /// The context is already running an edit on another thread (one edit per context at a time).
    X2E_ERR_BUSY = 7,
    /// A feature this build or platform lacks (e.g. file descriptors off unix).
    X2E_ERR_UNSUPPORTED = 8,
    /// A bug inside the library (a caught panic); the message says where. The library stays usable.
    X2E_ERR_INTERNAL = 9,
}

pub use x2e_status::*;

/// A failure on its way out: the code and the message for `x2e_last_error()`.
#[derive(Debug)]
pub struct Failure {
    pub status: x2e_status,
    pub message: String,
}

pub type FfiResult<T> = Result<T, Failure>;

impl Failure {
    pub fn new(status: x2e_status, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into() }
    }
    pub fn arg(message: impl Into<String>) -> Failure {
        Failure::new(X2E_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<RtError> for Failure {
    fn from(e: RtError) -> Failure {
        let status = match &e {
            RtError::NoAdapter(_) | RtError::Device { .. } | RtError::Gpu(_) | RtError::TooLarge { .. } | RtError::Kernel(_) => X2E_ERR_GPU,
            RtError::Shape { .. } | RtError::Format(_) => X2E_ERR_MODEL,
            RtError::Invalid { .. } => X2E_ERR_INVALID_ARGUMENT,
            RtError::Unsupported(..) => X2E_ERR_UNSUPPORTED,
            RtError::Io { .. } => X2E_ERR_IO,
            RtError::Cancelled => X2E_ERR_CANCELLED,
        };
        Failure::new(status, e.to_string())
    }
}

thread_local! {
    // The message of the last failed call on this thread; "" after a call that succeeded.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(msg: &str) {
    // Interior NULs would cut the C string short; replace them rather than lose the message.
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Pointer to this thread's message; valid until the next x2e_ call on this thread.
pub fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "unknown panic".into())
}

/// Runs one entry point: clears the message, catches panics, records failures.
pub fn guard(name: &str, f: impl FnOnce() -> FfiResult<()>) -> x2e_status {
    set_last_error("");
    let r = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(Failure::new(X2E_ERR_INTERNAL, format!("internal error (please report): {}", panic_text(&*p)))));
    match r {
        Ok(()) => X2E_OK,
        Err(f) => {
            set_last_error(&format!("{name}: {}", f.message));
            f.status
        }
    }
}

/// For entry points with no status to return (the `*_free` of a null handle, getters): runs `f`
/// under the same guard and returns `fallback` on failure.
pub fn guard_value<T>(name: &str, fallback: T, f: impl FnOnce() -> FfiResult<T>) -> T {
    let mut out = None;
    guard(name, || {
        out = Some(f()?);
        Ok(())
    });
    out.unwrap_or(fallback)
}

thread_local! {
    // Strings handed out by getters (adapter name), kept until the next such getter on this thread.
    static STASH: RefCell<CString> = RefCell::new(CString::default());
}

/// A library-owned copy of `s` for C; valid until the next string getter on this thread.
pub fn stash_string(s: &str) -> *const c_char {
    let c = CString::new(s.replace('\0', " ")).unwrap_or_default();
    STASH.with(|e| {
        *e.borrow_mut() = c;
        e.borrow().as_ptr()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn message() -> String {
        // SAFETY: last_error_ptr is never NULL and NUL-terminated.
        unsafe { CStr::from_ptr(last_error_ptr()) }.to_string_lossy().into_owned()
    }

    #[test]
    fn a_panic_becomes_internal_error_and_the_next_call_works() {
        let s = guard("x2e_test", || panic!("boom"));
        assert_eq!(s, X2E_ERR_INTERNAL);
        assert!(message().contains("x2e_test: internal error") && message().contains("boom"), "{}", message());
        assert_eq!(guard("x2e_test", || Ok(())), X2E_OK);
        assert_eq!(message(), "");
    }

    #[test]
    fn runtime_errors_map_to_codes() {
        assert_eq!(Failure::from(RtError::Cancelled).status, X2E_ERR_CANCELLED);
        assert_eq!(Failure::from(RtError::invalid("prompt", "empty")).status, X2E_ERR_INVALID_ARGUMENT);
        assert_eq!(Failure::from(RtError::NoAdapter(String::new())).status, X2E_ERR_GPU);
    }
}
