//! safetensors headers.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((entries, _)) = x2edit_quantize::safetensors::parse("fuzz", data) {
        for e in entries {
            assert!(e.start <= e.end && e.end <= data.len());
        }
    }
});
