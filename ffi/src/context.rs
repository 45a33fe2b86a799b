//! `x2e_context`: one GPU device with its options, the cancel flag and the one-edit-at-a-time
//! rule.

use crate::handles::{Kind, Registry};
use crate::params::{self, Params};
use crate::status::{guard, guard_value, x2e_status, Failure, FfiResult, X2E_ERR_BUSY};
use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use x2edit_runtime::{Gpu, GpuOptions, Precision};

/// Opaque: a GPU device and its caches. Create with `x2e_context_new`, free with
/// `x2e_context_free`.
#[allow(non_camel_case_types)]
pub struct x2e_context {
    _opaque: [u8; 0],
}

/// Values of `x2e_context_params.precision`.
#[repr(C)]
#[allow(non_camel_case_types)]
pub enum x2e_precision {
    /// f16 activations where the adapter has SHADER_F16, else f32 (or X2EDIT_PRECISION).
    X2E_PRECISION_AUTO = 0,
    /// The f32 path everywhere.
    X2E_PRECISION_F32 = 1,
    X2E_PRECISION_F16 = 2,
}

/// How to open the GPU. Fill with `x2e_context_params_init(&p, sizeof p)`, then change fields.
/// Fields left at their defaults take the environment variables X2EDIT_BACKEND,
/// X2EDIT_ADAPTER, X2EDIT_PRECISION and X2EDIT_MAX_BINDING when set, as the `x2edit` CLI does.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct x2e_context_params {
    /// Bytes of this struct the caller has; written by `x2e_context_params_init`.
    pub struct_size: u32,
    /// An `x2e_precision` value.
    pub precision: i32,
    /// Substring of the adapter name to pick (NULL: the first suitable adapter). Borrowed: read
    /// during `x2e_context_new` only.
    pub adapter: *const c_char,
    /// Cap on the storage binding size in bytes, below the adapter's (0: the adapter's); to
    /// reproduce a phone's or browser's 128 MiB on a desktop.
    pub max_binding: u64,
}

// SAFETY: repr(C), u32 size first, integer and pointer fields only.
unsafe impl Params for x2e_context_params {
    fn defaults() -> Self {
        x2e_context_params { struct_size: 0, precision: x2e_precision::X2E_PRECISION_AUTO as i32, adapter: std::ptr::null(), max_binding: 0 }
    }
}

pub struct Context {
    pub gpu: Gpu,
    /// Set by `x2e_cancel`, by a progress callback returning non-zero and by `x2e_context_free`;
    /// cleared when an edit starts.
    pub cancel: AtomicBool,
    busy: AtomicBool,
}

pub static CONTEXTS: Registry<Context> = Registry::new(Kind::Context, "x2e_context");

/// Held while an edit runs on a context; released on drop (also when the edit fails or panics).
pub struct Busy<'a>(&'a Context);

impl Context {
    pub fn begin(&self) -> FfiResult<Busy<'_>> {
        if self.busy.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(Failure::new(X2E_ERR_BUSY, "the context is already running an edit on another thread (one edit per context at a time; create another context to run edits in parallel)"));
        }
        self.cancel.store(false, Ordering::SeqCst);
        Ok(Busy(self))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

fn options(p: &x2e_context_params) -> FfiResult<GpuOptions> {
    let mut o = GpuOptions::from_env()?;
    o.precision = match p.precision {
        0 => o.precision,
        1 => Some(Precision::F32),
        2 => Some(Precision::F16),
        v => return Err(Failure::arg(format!("precision {v} is not an x2e_precision (0 auto, 1 f32, 2 f16)"))),
    };
    if let Some(a) = params::opt_str(p.adapter, "adapter")? {
        o.adapter = Some(a);
    }
    if p.max_binding != 0 {
        o.max_binding = Some(p.max_binding);
    }
    Ok(o)
}

/// Fills `params` with the defaults. `struct_size` is `sizeof *params` as the caller compiled it.
#[no_mangle]
pub extern "C" fn x2e_context_params_init(params: *mut x2e_context_params, struct_size: usize) -> x2e_status {
    guard("x2e_context_params_init", || params::init(params, struct_size, "params"))
}

/// Opens the GPU (blocking; can take a second or more while the driver compiles). On success
/// `*out_ctx` owns a new context; on failure it is NULL. `params` may be NULL for the defaults.
#[no_mangle]
pub extern "C" fn x2e_context_new(params: *const x2e_context_params, out_ctx: *mut *mut x2e_context) -> x2e_status {
    guard("x2e_context_new", || {
        params::out_ptr(out_ctx, "out_ctx")?;
        let p = if params.is_null() { x2e_context_params::defaults() } else { params::read(params, "params")? };
        let gpu = Gpu::new(options(&p)?)?;
        let h = CONTEXTS.insert(Context { gpu, cancel: AtomicBool::new(false), busy: AtomicBool::new(false) });
        // SAFETY: checked non-null by out_ptr.
        unsafe { *out_ctx = h as *mut x2e_context };
        Ok(())
    })
}

/// Frees a context. An edit still running on it (on another thread) is cancelled and returns
/// X2E_ERR_CANCELLED; the device is released when that edit has returned. NULL is a no-op;
/// a freed handle returns X2E_ERR_INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn x2e_context_free(ctx: *mut x2e_context) -> x2e_status {
    guard("x2e_context_free", || {
        if ctx.is_null() {
            return Ok(());
        }
        let c = CONTEXTS.remove(ctx as usize, "ctx")?;
        c.cancel.store(true, Ordering::SeqCst);
        Ok(())
    })
}

/// Asks the edit running on `ctx` to stop; callable from any thread, also from the progress
/// callback. The edit returns X2E_ERR_CANCELLED at its next check (after the current denoising
/// step or stage). With no edit running it does nothing: the next edit clears the request.
#[no_mangle]
pub extern "C" fn x2e_cancel(ctx: *mut x2e_context) -> x2e_status {
    guard("x2e_cancel", || {
        CONTEXTS.get(ctx as usize, "ctx")?.cancel.store(true, Ordering::SeqCst);
        Ok(())
    })
}

/// The name of the adapter the context runs on, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". The
/// string belongs to the library and is valid until the next x2e_ call on this thread; NULL
/// for a bad handle (see `x2e_last_error`).
#[no_mangle]
pub extern "C" fn x2e_context_adapter_name(ctx: *mut x2e_context) -> *const c_char {
    guard_value("x2e_context_adapter_name", std::ptr::null(), || {
        let c = CONTEXTS.get(ctx as usize, "ctx")?;
        Ok(crate::status::stash_string(&c.gpu.adapter().name))
    })
}
