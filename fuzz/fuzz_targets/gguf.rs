//! GGUF: the prefix parser on every input, the full parser, and reading every tensor that opened.
#![no_main]
use libfuzzer_sys::fuzz_target;
use x2edit_quantize::gguf::reader::{parse, parse_prefix, validate_extents, HeaderParse};

fuzz_target!(|data: &[u8]| {
    if let Ok(HeaderParse::Done(h)) = parse_prefix("fuzz", data) {
        let _ = validate_extents("fuzz", &h, data.len() as u64);
    }
    if parse("fuzz", data).is_ok() {
        if let Ok(ck) = x2edit_quantize::Checkpoint::from_bytes("fuzz", data.to_vec()) {
            for t in ck.tensors().to_vec() {
                let _ = ck.to_f32(&t.name);
            }
        }
    }
});
