//! The restricted unpickler on raw pickle bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = x2edit_quantize::pickle::parse_state_dict("fuzz", data);
});
