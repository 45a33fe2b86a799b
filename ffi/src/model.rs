//! `x2e_model`: the four models of an edit (transformer, adapter, text encoder, VAE), from paths
//! (memory-mapped), from memory buffers or file descriptors (GGUF, read into memory) or the
//! embedded demo model. Models hold no GPU memory: each edit uploads a stage's weights and
//! releases them, so one model can serve several contexts.

use crate::handles::{Kind, Registry};
use crate::params::{self, Params};
use crate::status::{guard, x2e_status, Failure, FfiResult, X2E_ERR_IO};
use std::ffi::c_char;
use std::path::PathBuf;
use x2edit_runtime::edit::{demo, ModelPaths, ModelSet};

/// Opaque: a loaded model set. Free with `x2e_model_free`.
#[allow(non_camel_case_types)]
pub struct x2e_model {
    _opaque: [u8; 0],
}

/// Model files by path, as the CLI's model flags (see the project's stage-interface contract).
/// Fill with `x2e_model_params_init(&p, sizeof p)`. Every string is borrowed for the call only,
/// NULL or "" when not given; on unix any bytes, elsewhere UTF-8.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct x2e_model_params {
    pub struct_size: u32,
    /// A folder with `transformer/` or `transformer.gguf`, `adapter/` or `adapter.gguf`,
    /// `text_encoder/` or `text_encoder.gguf`, `vae/`, `vae.gguf` or `ae.safetensors`; the
    /// single paths below override its entries.
    pub model_dir: *const c_char,
    /// FLUX transformer: BFL safetensors, diffusers folder, our or community GGUF.
    pub transformer: *const c_char,
    /// diffusers config.json for what the transformer's shapes do not tell.
    pub transformer_config: *const c_char,
    /// X2Edit release folder or our adapter GGUF.
    pub adapter: *const c_char,
    /// Qwen2.5-VL folder or GGUF (ours or llama.cpp's qwen2vl).
    pub text_encoder: *const c_char,
    /// FLUX VAE: ae.safetensors, diffusers folder or GGUF.
    pub vae: *const c_char,
    pub vae_config: *const c_char,
}

// SAFETY: repr(C), u32 size first, pointer fields only.
unsafe impl Params for x2e_model_params {
    fn defaults() -> Self {
        let n = std::ptr::null();
        x2e_model_params { struct_size: 0, model_dir: n, transformer: n, transformer_config: n, adapter: n, text_encoder: n, vae: n, vae_config: n }
    }
}

/// A caller's bytes: `size` bytes at `data`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct x2e_buffer {
    pub data: *const u8,
    pub size: usize,
}

/// Four GGUF files in memory (our layout, as `x2edit-quantize convert` writes them).
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct x2e_model_buffers {
    pub transformer: x2e_buffer,
    pub adapter: x2e_buffer,
    pub text_encoder: x2e_buffer,
    pub vae: x2e_buffer,
}

/// A byte range of an open file: `length` bytes from `offset` (length -1: to the end). Android's
/// AssetFileDescriptor gives all three for a file inside the APK.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct x2e_file_range {
    pub fd: i32,
    pub offset: i64,
    pub length: i64,
}

/// Four GGUF files by open descriptor.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct x2e_model_fds {
    pub transformer: x2e_file_range,
    pub adapter: x2e_file_range,
    pub text_encoder: x2e_file_range,
    pub vae: x2e_file_range,
}

pub static MODELS: Registry<ModelSet> = Registry::new(Kind::Model, "x2e_model");

fn publish(set: ModelSet, out: *mut *mut x2e_model) {
    let h = MODELS.insert(set);
    // SAFETY: the callers checked `out` with params::out_ptr.
    unsafe { *out = h as *mut x2e_model };
}

fn paths(p: &x2e_model_params) -> FfiResult<ModelPaths> {
    let dir = params::opt_path(p.model_dir)?;
    let mut m = match &dir {
        Some(d) if !d.is_dir() => return Err(Failure::new(X2E_ERR_IO, format!("model_dir {}: no such folder", d.display()))),
        Some(d) => ModelPaths::from_dir(d)?,
        None => ModelPaths::default(),
    };
    let set = |dst: &mut PathBuf, src: *const c_char, name: &str| -> FfiResult<()> {
        if let Some(path) = params::opt_path(src)? {
            *dst = path;
        }
        if dst.as_os_str().is_empty() {
            return Err(Failure::arg(format!("{name} (or model_dir) is required when any model path is given")));
        }
        if !dst.exists() {
            return Err(Failure::new(X2E_ERR_IO, format!("{name} {}: no such file or folder", dst.display())));
        }
        Ok(())
    };
    set(&mut m.transformer, p.transformer, "transformer")?;
    set(&mut m.adapter, p.adapter, "adapter")?;
    set(&mut m.text_encoder, p.text_encoder, "text_encoder")?;
    set(&mut m.vae, p.vae, "vae")?;
    m.transformer_config = params::opt_path(p.transformer_config)?;
    m.vae_config = params::opt_path(p.vae_config)?;
    for c in [&m.transformer_config, &m.vae_config].into_iter().flatten() {
        if !c.is_file() {
            return Err(Failure::new(X2E_ERR_IO, format!("config {}: no such file", c.display())));
        }
    }
    Ok(m)
}

/// Fills `params` with the defaults (all paths NULL).
#[no_mangle]
pub extern "C" fn x2e_model_params_init(params: *mut x2e_model_params, struct_size: usize) -> x2e_status {
    guard("x2e_model_params_init", || params::init(params, struct_size, "params"))
}

/// Opens the models at the given paths (memory-mapped where the format allows; the files must
/// stay in place while the model lives). Reads headers and checks formats; GPU work waits for
/// the edit. On success `*out_model` owns the model; on failure it is NULL.
#[no_mangle]
pub extern "C" fn x2e_model_new(params: *const x2e_model_params, out_model: *mut *mut x2e_model) -> x2e_status {
    guard("x2e_model_new", || {
        params::out_ptr(out_model, "out_model")?;
        let p = params::read(params, "params")?;
        publish(ModelSet::open(&paths(&p)?)?, out_model);
        Ok(())
    })
}

/// The embedded demo model (a tiny random-weight X2Edit-architecture model, native size 64):
/// what `x2edit edit` uses when no model is given. Its edits are noise-like; it proves the
/// pipeline and the integration.
#[no_mangle]
pub extern "C" fn x2e_model_new_demo(out_model: *mut *mut x2e_model) -> x2e_status {
    guard("x2e_model_new_demo", || {
        params::out_ptr(out_model, "out_model")?;
        publish(demo::demo_models()?, out_model);
        Ok(())
    })
}

fn bytes(b: &x2e_buffer, name: &str) -> FfiResult<Vec<u8>> {
    if b.data.is_null() || b.size == 0 {
        return Err(Failure::arg(format!("buffers->{name} is empty (NULL data or size 0)")));
    }
    // SAFETY: the caller promises `size` readable bytes at `data` for the call.
    Ok(unsafe { std::slice::from_raw_parts(b.data, b.size) }.to_vec())
}

/// Models from four GGUF files in memory, for sandboxed apps that cannot hand out paths. The
/// bytes are copied: the caller may free its buffers when this returns.
#[no_mangle]
pub extern "C" fn x2e_model_new_from_memory(buffers: *const x2e_model_buffers, out_model: *mut *mut x2e_model) -> x2e_status {
    guard("x2e_model_new_from_memory", || {
        params::out_ptr(out_model, "out_model")?;
        if buffers.is_null() {
            return Err(Failure::arg("buffers is NULL"));
        }
        // SAFETY: non-null, points at the caller's struct.
        let b = unsafe { *buffers };
        let set = ModelSet::from_gguf_bytes(bytes(&b.transformer, "transformer")?, bytes(&b.adapter, "adapter")?, bytes(&b.text_encoder, "text_encoder")?, bytes(&b.vae, "vae")?)?;
        publish(set, out_model);
        Ok(())
    })
}

#[cfg(unix)]
fn read_range(r: &x2e_file_range, name: &str) -> FfiResult<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    use std::os::unix::io::FromRawFd;
    let io = |e: std::io::Error| Failure::new(X2E_ERR_IO, format!("fds->{name} (fd {}): {e}", r.fd));
    if r.fd < 0 || r.offset < 0 || r.length < -1 || r.length == 0 {
        return Err(Failure::arg(format!("fds->{name}: fd {} offset {} length {} (need fd >= 0, offset >= 0, length > 0 or -1)", r.fd, r.offset, r.length)));
    }
    // Borrow the descriptor without taking ownership (ManuallyDrop: never closed here; the
    // caller closes it). pread (read_at) leaves the descriptor's own offset alone.
    // SAFETY: the File is never dropped, so the caller's descriptor stays open and theirs.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(r.fd) });
    let size = file.metadata().map_err(io)?.len();
    let off = r.offset as u64;
    let len = if r.length == -1 { size.saturating_sub(off) } else { r.length as u64 };
    if off.checked_add(len).is_none_or(|end| end > size) || len == 0 {
        return Err(Failure::arg(format!("fds->{name}: range {off}+{len} is outside the file's {size} bytes")));
    }
    let mut buf = Vec::new();
    buf.try_reserve_exact(len as usize).map_err(|_| Failure::new(X2E_ERR_IO, format!("fds->{name}: cannot hold {len} bytes in memory")))?;
    buf.resize(len as usize, 0);
    file.read_exact_at(&mut buf, off).map_err(io)?;
    Ok(buf)
}

/// Models from four GGUF files given as open descriptors and byte ranges (Android content
/// URIs, APK assets). The ranges are read into memory with pread (the descriptors' offsets do
/// not move); the caller keeps and closes the descriptors. Unix only; elsewhere
/// X2E_ERR_UNSUPPORTED.
#[no_mangle]
pub extern "C" fn x2e_model_new_from_fds(fds: *const x2e_model_fds, out_model: *mut *mut x2e_model) -> x2e_status {
    guard("x2e_model_new_from_fds", || {
        params::out_ptr(out_model, "out_model")?;
        if fds.is_null() {
            return Err(Failure::arg("fds is NULL"));
        }
        // SAFETY: non-null, points at the caller's struct.
        let f = unsafe { *fds };
        #[cfg(unix)]
        {
            let set = ModelSet::from_gguf_bytes(read_range(&f.transformer, "transformer")?, read_range(&f.adapter, "adapter")?, read_range(&f.text_encoder, "text_encoder")?, read_range(&f.vae, "vae")?)?;
            publish(set, out_model);
            Ok(())
        }
        #[cfg(not(unix))]
        {
            let _ = f;
            Err(Failure::new(crate::status::X2E_ERR_UNSUPPORTED, "file descriptors are supported on unix only; use x2e_model_new_from_memory"))
        }
    })
}

/// Frees a model. An edit using it on another thread keeps it alive until that edit returns.
/// NULL is a no-op; a freed handle returns X2E_ERR_INVALID_HANDLE.
#[no_mangle]
pub extern "C" fn x2e_model_free(model: *mut x2e_model) -> x2e_status {
    guard("x2e_model_free", || {
        if !model.is_null() {
            MODELS.remove(model as usize, "model")?;
        }
        Ok(())
    })
}
