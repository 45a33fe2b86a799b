//! The stored-zip central directory reader.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = x2edit_quantize::zip::read_entries("fuzz", data) {
        for e in entries {
            assert!(e.data_offset + e.size <= data.len() as u64);
        }
    }
});
