//! Sized parameter structs and C strings. Every `x2e_*_params` starts with `struct_size`, written
//! by its `*_params_init(p, sizeof *p)`: the library reads only that many bytes and takes its
//! defaults for fields beyond them, so a program built against an older (shorter) struct keeps
//! working with a newer library, and fields are only ever appended.

use crate::status::{Failure, FfiResult};
use std::ffi::{c_char, CStr};
use std::path::PathBuf;

/// A `#[repr(C)]` params struct whose fields accept any bit pattern (integers, floats, raw
/// pointers; no Rust enums or bools), with `struct_size: u32` first.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, start with a `u32` size field, and have no field with
/// invalid bit patterns.
pub unsafe trait Params: Copy {
    fn defaults() -> Self;
}

/// Writes the defaults into the caller's struct, at most `size` bytes of it.
pub fn init<T: Params>(p: *mut T, size: usize, name: &str) -> FfiResult<()> {
    if p.is_null() {
        return Err(Failure::arg(format!("{name} is NULL")));
    }
    // Bounds against a garbage size; no params struct will come near 4 KiB.
    if !(4..=4096).contains(&size) {
        return Err(Failure::arg(format!("struct_size {size} is not a size of {name}: pass sizeof(*{name})")));
    }
    let mut d = T::defaults();
    let n = size.min(std::mem::size_of::<T>());
    // struct_size records what the caller has, so that readers stop there too.
    let recorded = n as u32;
    // SAFETY: d is a local T; its first field is the u32 size.
    unsafe { *(&mut d as *mut T as *mut u32) = recorded };
    // SAFETY: the caller promises `size` writable bytes at p (sizeof its struct); n <= both sizes.
    // Fields a newer header has and this library lacks are zeroed.
    unsafe {
        std::ptr::write_bytes(p as *mut u8, 0, size);
        std::ptr::copy_nonoverlapping(&d as *const T as *const u8, p as *mut u8, n);
    }
    Ok(())
}

/// Reads a caller's params struct: its first `struct_size` bytes over the defaults.
pub fn read<T: Params>(p: *const T, name: &str) -> FfiResult<T> {
    if p.is_null() {
        return Err(Failure::arg(format!("{name} is NULL")));
    }
    // SAFETY: p is non-null and points at least at the u32 size field of the caller's struct.
    let size = unsafe { std::ptr::read_unaligned(p as *const u32) } as usize;
    if size < 4 {
        return Err(Failure::arg(format!("{name}->struct_size is {size}: initialise it with its *_params_init first")));
    }
    let mut d = T::defaults();
    let n = size.min(std::mem::size_of::<T>());
    // SAFETY: the caller's struct has `size` readable bytes (written by init); every bit
    // pattern is valid for T's fields (trait contract).
    unsafe { std::ptr::copy_nonoverlapping(p as *const u8, &mut d as *mut T as *mut u8, n) };
    Ok(d)
}

/// An optional UTF-8 C string (NULL or "" -> None).
pub fn opt_str(p: *const c_char, name: &str) -> FfiResult<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a NUL-terminated string (documented for every char* argument).
    let s = unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| Failure::arg(format!("{name} is not valid UTF-8")))?;
    Ok((!s.is_empty()).then(|| s.to_string()))
}

/// An optional path (NULL or "" -> None); on unix any bytes, elsewhere UTF-8.
pub fn opt_path(p: *const c_char) -> FfiResult<Option<PathBuf>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: as opt_str.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Ok(None);
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(Some(PathBuf::from(std::ffi::OsStr::from_bytes(bytes))))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes).map(|s| Some(PathBuf::from(s))).map_err(|_| Failure::arg("a path is not valid UTF-8"))
    }
}

/// Checks an output pointer and clears what it points to, so that a failure leaves NULL there.
pub fn out_ptr<T>(out: *mut *mut T, name: &str) -> FfiResult<()> {
    if out.is_null() {
        return Err(Failure::arg(format!("{name} is NULL")));
    }
    // SAFETY: non-null, and the caller passes a writable pointer slot.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}
