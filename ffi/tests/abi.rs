//! The C entry points called from Rust, without a GPU: the C test (tests/c) covers the same and
//! more from C; these keep `cargo test` honest about the basics.

use std::ffi::CStr;
use std::ptr::null_mut;
use x2edit::*;

fn last_error() -> String {
    unsafe { CStr::from_ptr(x2e_last_error()) }.to_string_lossy().into_owned()
}

#[test]
fn image_round_trip_and_double_free() {
    let px: Vec<u8> = (0..2 * 2 * 3).collect();
    let mut img: *mut x2e_image = null_mut();
    assert_eq!(x2e_image_new(2, 2, 3, px.as_ptr(), 0, px.len(), &mut img), x2e_status::X2E_OK);
    let mut back = vec![0u8; 16];
    assert_eq!(x2e_image_read(img, 4, back.as_mut_ptr(), 0, back.len()), x2e_status::X2E_OK);
    assert_eq!(&back[..4], &[0, 1, 2, 255]);
    assert_eq!(x2e_image_free(img), x2e_status::X2E_OK);
    assert_eq!(x2e_image_free(img), x2e_status::X2E_ERR_INVALID_HANDLE);
    assert!(last_error().contains("already freed"), "{}", last_error());
}

#[test]
fn wrong_sizes_are_refused() {
    let px = [0u8; 11];
    let mut img: *mut x2e_image = std::ptr::dangling_mut::<x2e_image>();
    assert_eq!(x2e_image_new(2, 2, 3, px.as_ptr(), 0, px.len(), &mut img), x2e_status::X2E_ERR_INVALID_ARGUMENT);
    assert!(img.is_null());
    assert!(last_error().contains("too small"), "{}", last_error());
}

#[test]
fn params_init_writes_only_the_callers_size() {
    let mut p = std::mem::MaybeUninit::<x2e_edit_params>::zeroed();
    let short = std::mem::offset_of!(x2e_edit_params, seed);
    unsafe { (p.as_mut_ptr() as *mut u8).add(short).write_bytes(0xAB, std::mem::size_of::<x2e_edit_params>() - short) };
    assert_eq!(x2e_edit_params_init(p.as_mut_ptr(), short), x2e_status::X2E_OK);
    let p = unsafe { p.assume_init() };
    assert_eq!(p.struct_size as usize, short);
    assert_eq!(p.guidance, 3.5);
    assert_eq!(p.seed, 0xABAB_ABAB_ABAB_ABAB);
}

#[test]
fn bad_model_paths_are_io_errors() {
    let mut p = std::mem::MaybeUninit::<x2e_model_params>::zeroed();
    assert_eq!(x2e_model_params_init(p.as_mut_ptr(), std::mem::size_of::<x2e_model_params>()), x2e_status::X2E_OK);
    let mut p = unsafe { p.assume_init() };
    p.model_dir = c"/nonexistent/x2edit".as_ptr();
    let mut m: *mut x2e_model = null_mut();
    assert_eq!(x2e_model_new(&p, &mut m), x2e_status::X2E_ERR_IO);
    assert!(m.is_null() && last_error().contains("no such folder"), "{}", last_error());
}

#[test]
fn api_version_major_is_one() {
    assert_eq!(x2e_api_version() >> 16, 1);
}
