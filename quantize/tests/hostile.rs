//! Hostile files: every file of the committed corpus (tests/corpus, made by
//! tests/python/make_corpus.py) must give the expected typed error, through every entry point, never
//! a panic; random mutations of valid files must never panic either.

use std::path::Path;
use x2edit_quantize::gguf::reader::{parse_prefix, HeaderParse};
use x2edit_quantize::{Checkpoint, FormatError};

fn corpus() -> Vec<(String, String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let list = std::fs::read_to_string(root.join("expected.txt")).unwrap();
    list.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (p, v) = l.split_once(' ').unwrap();
            (p.to_string(), v.trim().to_string(), std::fs::read(root.join(p)).unwrap())
        })
        .collect()
}

fn variant(e: &FormatError) -> String {
    format!("{e:?}").split([' ', '{', '(']).next().unwrap().to_string()
}

#[test]
fn corpus_files_give_typed_errors() {
    let files = corpus();
    assert!(files.len() >= 50, "corpus too small: {}", files.len());
    let mut wrong = Vec::new();
    for (path, expected, bytes) in &files {
        match Checkpoint::from_bytes(path, bytes.clone()) {
            Ok(_) => wrong.push(format!("{path}: opened without error")),
            Err(e) if variant(&e) != *expected => wrong.push(format!("{path}: expected {expected}, got {e:?}")),
            Err(e) => assert!(e.to_string().contains(path.as_str()), "{path}: message does not name the file: {e}"),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn corpus_files_open_from_disk_with_same_errors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for (path, expected, _) in corpus() {
        let e = Checkpoint::open(&root.join(&path)).err().unwrap_or_else(|| panic!("{path} opened"));
        assert_eq!(variant(&e), expected, "{path}: {e}");
    }
}

#[test]
fn gguf_prefix_parser_survives_every_prefix_of_the_corpus() {
    for (path, _, bytes) in corpus().into_iter().filter(|c| c.0.starts_with("gguf/")) {
        for n in 0..=bytes.len().min(512) {
            if let Ok(HeaderParse::NeedMore { total }) = parse_prefix(&path, &bytes[..n]) {
                assert!(total > n as u64, "{path}[..{n}]: asks for {total} bytes");
            }
        }
    }
}

/// A tiny deterministic generator (no crate needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn hostile_random_mutations_never_panic() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let seeds = ["all_metadata_types.gguf", "state_dict.bin"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut opened = 0;
    for s in seeds {
        let orig = std::fs::read(fx.join(s)).unwrap();
        for _ in 0..3000 {
            let mut b = orig.clone();
            match rng.next() % 4 {
                0 => b.truncate((rng.next() as usize) % b.len()),
                1 => {
                    for _ in 0..1 + rng.next() % 4 {
                        let i = (rng.next() as usize) % b.len();
                        b[i] ^= 1 << (rng.next() % 8);
                    }
                }
                2 => {
                    // Overwrite 8 bytes with a large or boundary value: lengths, counts, offsets.
                    let i = (rng.next() as usize) % b.len().saturating_sub(8).max(1);
                    let v = [u64::MAX, 1 << 62, 1 << 31, 0, 255, 0xFFFF_FFFF][(rng.next() % 6) as usize];
                    let end = (i + 8).min(b.len());
                    b[i..end].copy_from_slice(&v.to_le_bytes()[..end - i]);
                }
                _ => {
                    let i = (rng.next() as usize) % b.len();
                    let j = (rng.next() as usize) % b.len();
                    b.swap(i, j);
                }
            }
            if let Ok(ck) = Checkpoint::from_bytes(s, b) {
                opened += 1;
                // Whatever opened must be fully readable.
                let _ = ck.validate();
                for t in ck.tensors().to_vec() {
                    let _ = ck.to_f32(&t.name);
                }
            }
        }
    }
    assert!(opened > 0);
}
