//! Any file through Checkpoint::from_bytes (format detection + every parser), then every tensor read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ck) = x2edit_quantize::Checkpoint::from_bytes("fuzz", data.to_vec()) {
        let _ = ck.validate();
        for t in ck.tensors().to_vec() {
            let _ = ck.to_f32(&t.name);
        }
    }
});
