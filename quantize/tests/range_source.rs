//! Checkpoint::from_source: a GGUF read by ranges (the browser's path) sees what from_bytes sees,
//! reads the header from a prefix, and reads no tensor until asked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use x2edit_quantize::{Checkpoint, FormatError, RangeSource};

/// Bytes in memory behind the range API, counting what is read.
struct Counted {
    bytes: Vec<u8>,
    read: Arc<AtomicU64>,
}

impl RangeSource for Counted {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let s = offset as usize;
        let b = self.bytes.get(s..s + len).ok_or_else(|| std::io::Error::other("read past the end"))?;
        self.read.fetch_add(len as u64, Ordering::Relaxed);
        Ok(b.to_vec())
    }
}

fn demo(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/demo").join(name)).unwrap()
}

#[test]
fn ranged_gguf_matches_bytes() {
    for file in ["text_encoder.gguf", "vae.gguf"] {
        let bytes = demo(file);
        let read = Arc::new(AtomicU64::new(0));
        let ranged = Checkpoint::from_source(file, Box::new(Counted { bytes: bytes.clone(), read: read.clone() })).unwrap();
        let whole = Checkpoint::from_bytes(file, bytes.clone()).unwrap();
        let header = read.load(Ordering::Relaxed);
        assert!(header <= bytes.len() as u64, "{file}: header read {header} bytes");
        assert_eq!(ranged.tensors().len(), whole.tensors().len());
        assert_eq!(ranged.metadata().iter().count(), whole.metadata().iter().count());
        for t in whole.tensors() {
            assert_eq!(ranged.get(&t.name).unwrap().shape, t.shape);
            assert_eq!(ranged.data(&t.name).unwrap(), whole.data(&t.name).unwrap(), "{file}: {}", t.name);
        }
        // A range of elements reads only its own blocks.
        let t = whole.tensors().iter().max_by_key(|t| t.n_elems()).unwrap();
        let be = t.ty.block_elems();
        let (start, n) = (be, be * 2);
        let before = read.load(Ordering::Relaxed);
        let mut a = vec![0f32; n];
        ranged.read_f32(&t.name, start, &mut a).unwrap();
        assert_eq!(read.load(Ordering::Relaxed) - before, (n / be * t.ty.block_bytes()) as u64);
        let mut b = vec![0f32; n];
        whole.read_f32(&t.name, start, &mut b).unwrap();
        assert_eq!(a, b);
        let rb = t.ty.block_bytes();
        assert_eq!(ranged.data_range(&t.name, rb..3 * rb).unwrap(), &whole.data(&t.name).unwrap()[rb..3 * rb]);
    }
}

#[test]
fn ranged_rejects_truncated_and_foreign_files() {
    let bytes = demo("adapter.gguf");
    let cut = Counted { bytes: bytes[..bytes.len() - 7].to_vec(), read: Arc::default() };
    let e = Checkpoint::from_source("cut.gguf", Box::new(cut)).err().unwrap();
    assert!(matches!(e, FormatError::OutOfBounds { .. } | FormatError::Truncated { .. }), "{e}");
    let head = Counted { bytes: bytes[..40].to_vec(), read: Arc::default() };
    assert!(matches!(Checkpoint::from_source("head.gguf", Box::new(head)), Err(FormatError::Truncated { .. })));
    let st = Counted { bytes: b"\x10\0\0\0\0\0\0\0{\"a\":1}        ".to_vec(), read: Arc::default() };
    assert!(matches!(Checkpoint::from_source("x.safetensors", Box::new(st)), Err(FormatError::BadMagic { .. })));
}
