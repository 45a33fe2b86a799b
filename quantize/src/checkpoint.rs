//! `Checkpoint`: one opened file or folder of any supported kind behind one API: memory-mapped
//! (native), in memory (`from_bytes`), or read by ranges from a source that is neither (a browser
//! `File`: `from_source`, GGUF only), so a model never has to sit in memory as a whole.

use crate::codec;
use crate::error::{FormatError, Result};
use crate::gguf;
use crate::metadata::{Metadata, Value};
use crate::pickle;
use crate::safetensors as st;
use crate::types::TensorInfo;
use crate::zip;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Gguf,
    Safetensors,
    TorchZip,
}

/// Random access to a file that is neither mapped nor in memory. `read` is synchronous, so every
/// loader above works unchanged; in a browser it is a Web Worker's `FileReaderSync` over a `File`.
pub trait RangeSource: Send + Sync {
    /// Length in bytes.
    fn len(&self) -> u64;
    /// Exactly `len` bytes from `offset` (an error if the file is shorter).
    fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum Backing {
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
    Ranged(Box<dyn RangeSource>),
}

impl Backing {
    /// The whole file, where it is addressable (not for `Ranged`).
    fn whole(&self) -> Option<&[u8]> {
        match self {
            #[cfg(not(target_arch = "wasm32"))]
            Backing::Mapped(m) => Some(m),
            Backing::Owned(v) => Some(v),
            Backing::Ranged(_) => None,
        }
    }

    /// Bytes `[start, start + len)`, borrowed where the file is addressable.
    fn range(&self, path: &Path, start: usize, len: usize) -> Result<Cow<'_, [u8]>> {
        match self {
            Backing::Ranged(src) => Ok(Cow::Owned(src.read(start as u64, len).map_err(|e| FormatError::io(path, e))?)),
            #[cfg(not(target_arch = "wasm32"))]
            Backing::Mapped(m) => Ok(Cow::Borrowed(&m[start..start + len])),
            Backing::Owned(v) => Ok(Cow::Borrowed(&v[start..start + len])),
        }
    }
}

/// A pickled view that is not C-contiguous: strides and offset in elements from `Stored::start`.
#[derive(Clone)]
struct Strided {
    strides: Vec<usize>,
    offset: usize,
}

struct Stored {
    file: usize,
    /// Byte range of the data (contiguous) or of the whole storage (strided).
    start: usize,
    len: usize,
    strided: Option<Strided>,
}

/// One source file of a checkpoint.
pub struct SourceFile {
    pub path: PathBuf,
    pub kind: FileKind,
    /// GGUF only: alignment and data-section offset, for `inspect`.
    pub gguf: Option<(u64, u64)>,
    backing: Backing,
}

pub struct Checkpoint {
    label: String,
    files: Vec<SourceFile>,
    tensors: Vec<TensorInfo>,
    stored: Vec<Stored>,
    index: HashMap<String, usize>,
    metadata: Metadata,
}

/// Files in a folder that are never weights (accelerate/transformers training state).
fn is_training_state(name: &str) -> bool {
    ["optimizer", "scheduler", "training_args", "rng_state", "random_states", "scaler"].iter().any(|p| name.starts_with(p))
}

fn weight_ext(p: &Path) -> Option<&str> {
    let e = p.extension()?.to_str()?;
    ["safetensors", "gguf", "bin", "pt", "pth"].contains(&e).then_some(e)
}

impl Checkpoint {
    /// Opens a file (GGUF, safetensors, PyTorch zip) or a folder (every weight file in it, sharded
    /// safetensors through `model.safetensors.index.json`, and `config.json` into the metadata).
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let mut ck = Checkpoint { label: path.display().to_string(), files: Vec::new(), tensors: Vec::new(), stored: Vec::new(), index: HashMap::new(), metadata: Metadata::new() };
        if path.is_dir() {
            for f in Self::folder_files(path)? {
                let b = map_file(&f)?;
                ck.add_file(f, b)?;
            }
            let cfg = path.join("config.json");
            if cfg.is_file() {
                ck.metadata.config = Some(read_json(&cfg)?);
            }
        } else {
            let b = map_file(path)?;
            ck.add_file(path.to_path_buf(), b)?;
        }
        Ok(ck)
    }

    /// The same parsers over bytes already in memory (C ABI, browser).
    pub fn from_bytes(label: &str, bytes: Vec<u8>) -> Result<Checkpoint> {
        let mut ck = Checkpoint { label: label.into(), files: Vec::new(), tensors: Vec::new(), stored: Vec::new(), index: HashMap::new(), metadata: Metadata::new() };
        ck.add_file(PathBuf::from(label), Backing::Owned(bytes))?;
        Ok(ck)
    }

    /// A GGUF file read by ranges: the header from a growing prefix (`gguf::reader::parse_prefix`
    /// says how much it needs), each tensor's bytes only when a loader asks for them.
    pub fn from_source(label: &str, source: Box<dyn RangeSource>) -> Result<Checkpoint> {
        let mut ck = Checkpoint { label: label.into(), files: Vec::new(), tensors: Vec::new(), stored: Vec::new(), index: HashMap::new(), metadata: Metadata::new() };
        let path = PathBuf::from(label);
        let len = source.len();
        // Most headers fit 1 MiB; a Qwen tokenizer's vocabulary takes a few more.
        let mut want = len.min(1 << 20);
        let h = loop {
            let prefix = source.read(0, want as usize).map_err(|e| FormatError::io(&path, e))?;
            if !prefix.starts_with(gguf::MAGIC) {
                let found = prefix[..prefix.len().min(8)].to_vec();
                return Err(FormatError::BadMagic { file: label.into(), expected: "GGUF (only GGUF files can be read by ranges)", found });
            }
            match gguf::reader::parse_prefix(label, &prefix)? {
                gguf::reader::HeaderParse::Done(h) => break h,
                gguf::reader::HeaderParse::NeedMore { total } if total > len || want == len => {
                    return Err(FormatError::Truncated { file: label.into(), offset: len, needed: total.saturating_sub(len), len });
                }
                // Grow at least geometrically: a header of many small items asks a little at a time.
                gguf::reader::HeaderParse::NeedMore { total } => want = total.max(want.saturating_mul(2)).min(len),
            }
        };
        gguf::reader::validate_extents(label, &h, len)?;
        ck.add_gguf(path, h, Backing::Ranged(source))?;
        Ok(ck)
    }

    fn folder_files(dir: &Path) -> Result<Vec<PathBuf>> {
        let index = dir.join("model.safetensors.index.json");
        if index.is_file() {
            let j = read_json(&index)?;
            let map = j.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| FormatError::malformed(&index.display().to_string(), "index", "no `weight_map` object"))?;
            let mut shards: Vec<String> = map.values().filter_map(|v| v.as_str().map(String::from)).collect();
            shards.sort();
            shards.dedup();
            let mut out = Vec::new();
            for s in shards {
                let p = Path::new(&s);
                // Shards must be plain file names in the same folder.
                if p.components().count() != 1 || p.file_name().is_none() {
                    return Err(FormatError::malformed(&index.display().to_string(), "index", format!("shard `{s}` is not a file name")));
                }
                out.push(dir.join(p));
            }
            return Ok(out);
        }
        let rd = std::fs::read_dir(dir).map_err(|e| FormatError::io(dir, e))?;
        let mut files: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && weight_ext(p).is_some()).collect();
        files.sort();
        // A folder holding both `x.safetensors` and `x.bin` (diffusers does) is read from safetensors.
        let st_stems: Vec<_> = files.iter().filter(|p| weight_ext(p) == Some("safetensors")).filter_map(|p| p.file_stem().map(|s| s.to_owned())).collect();
        files.retain(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let dup = weight_ext(p) != Some("safetensors") && weight_ext(p) != Some("gguf") && p.file_stem().is_some_and(|s| st_stems.contains(&s.to_owned()));
            !dup && !is_training_state(name)
        });
        if files.is_empty() {
            return Err(FormatError::Unsupported { file: dir.display().to_string(), detail: "the folder holds no .safetensors, .gguf, .bin or .pt file".into() });
        }
        Ok(files)
    }

    fn add_file(&mut self, path: PathBuf, backing: Backing) -> Result<()> {
        let label = path.display().to_string();
        let bytes = backing.whole().unwrap_or_default();
        let fi = self.files.len();
        let mut found: Vec<(TensorInfo, Stored)> = Vec::new();
        let kind = if bytes.starts_with(gguf::MAGIC) {
            let h = gguf::reader::parse(&label, bytes)?;
            return self.add_gguf(path, h, backing);
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            found = load_torch_zip(&label, bytes, fi)?;
            FileKind::TorchZip
        } else if bytes.first() == Some(&0x80) {
            return Err(FormatError::Unsupported { file: label, detail: "legacy (pre-1.6, non-zip) torch.save format; re-save it with a current torch".into() });
        } else if bytes.len() < 9 {
            return Err(FormatError::Truncated { file: label, offset: 0, needed: 9 - bytes.len() as u64, len: bytes.len() as u64 });
        } else if bytes[8] != b'{' {
            // A safetensors file starts with a u64 header length and then the JSON header.
            return Err(FormatError::BadMagic { file: label, expected: "GGUF, a PyTorch zip (PK) or a safetensors header", found: bytes[..8].to_vec() });
        } else {
            let (entries, md) = st::parse(&label, bytes)?;
            for e in entries {
                found.push((e.info, Stored { file: fi, start: e.start, len: e.end - e.start, strided: None }));
            }
            for (k, v) in md.iter() {
                self.metadata.set(k, v.clone());
            }
            FileKind::Safetensors
        };
        self.add_tensors(&label, found)?;
        self.files.push(SourceFile { path, kind, gguf: None, backing });
        Ok(())
    }

    /// A GGUF file whose header is parsed (and extents validated against its length).
    fn add_gguf(&mut self, path: PathBuf, h: gguf::reader::GgufHeader, backing: Backing) -> Result<()> {
        let fi = self.files.len();
        let found = h.tensors.into_iter().map(|t| {
            let start = (h.data_offset + t.offset) as usize;
            (t.info, Stored { file: fi, start, len: t.size as usize, strided: None })
        });
        self.add_tensors(&path.display().to_string(), found.collect())?;
        for (k, v) in h.metadata.iter() {
            self.metadata.set(k, v.clone());
        }
        self.files.push(SourceFile { path, kind: FileKind::Gguf, gguf: Some((h.alignment, h.data_offset)), backing });
        Ok(())
    }

    fn add_tensors(&mut self, label: &str, found: Vec<(TensorInfo, Stored)>) -> Result<()> {
        for (info, s) in found {
            if self.index.contains_key(&info.name) {
                return Err(FormatError::DuplicateTensor { file: label.into(), tensor: info.name });
            }
            self.index.insert(info.name.clone(), self.tensors.len());
            self.tensors.push(info);
            self.stored.push(s);
        }
        Ok(())
    }

    pub fn label(&self) -> &str {
        &self.label
    }
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }
    /// The file a tensor comes from.
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        self.index.get(name).map(|&i| self.files[self.stored[i].file].path.as_path())
    }

    fn lookup(&self, name: &str) -> Result<(&TensorInfo, &Stored)> {
        let &i = self.index.get(name).ok_or_else(|| FormatError::MissingTensor { file: self.label.clone(), tensor: name.into() })?;
        Ok((&self.tensors[i], &self.stored[i]))
    }

    /// Raw bytes in the stored type, contiguous (strided pickle views are gathered).
    pub fn data(&self, name: &str) -> Result<Cow<'_, [u8]>> {
        let (info, s) = self.lookup(name)?;
        let f = &self.files[s.file];
        let bytes = f.backing.range(&f.path, s.start, s.len)?;
        match &s.strided {
            None => Ok(bytes),
            Some(st) => Ok(Cow::Owned(gather(&bytes, info, st))),
        }
    }

    /// Bytes `range` of a tensor's contiguous data (`data(name)[range]`), reading only those from
    /// a ranged source.
    pub fn data_range(&self, name: &str, range: std::ops::Range<usize>) -> Result<Cow<'_, [u8]>> {
        let (_, s) = self.lookup(name)?;
        if s.strided.is_some() {
            let all = self.data(name)?;
            return match all.get(range.clone()) {
                Some(b) => Ok(Cow::Owned(b.to_vec())),
                None => Err(FormatError::BadTensor { file: self.label.clone(), tensor: name.into(), detail: format!("bytes {range:?} of {}", all.len()) }),
            };
        }
        if range.start > range.end || range.end > s.len {
            return Err(FormatError::BadTensor { file: self.label.clone(), tensor: name.into(), detail: format!("bytes {range:?} of {}", s.len) });
        }
        let f = &self.files[s.file];
        f.backing.range(&f.path, s.start + range.start, range.len())
    }

    /// The whole tensor dequantized to f32.
    pub fn to_f32(&self, name: &str) -> Result<Vec<f32>> {
        let info = self.lookup(name)?.0;
        let mut out = vec![0f32; info.n_elems()];
        self.read_f32(name, 0, &mut out)?;
        Ok(out)
    }

    /// Elements `[start, start + out.len())` (flat, PyTorch order) dequantized into `out`. For block
    /// types both ends must fall on block boundaries.
    pub fn read_f32(&self, name: &str, start: usize, out: &mut [f32]) -> Result<()> {
        let (info, _) = self.lookup(name)?;
        let (ty, be) = (info.ty, info.ty.block_elems());
        let n = info.n_elems();
        if !start.is_multiple_of(be) || !out.len().is_multiple_of(be) || start.checked_add(out.len()).is_none_or(|e| e > n) {
            return Err(FormatError::BadTensor { file: self.label.clone(), tensor: name.into(), detail: format!("range [{start}, +{}) is outside {n} elements or not on {ty} block boundaries", out.len()) });
        }
        let b0 = start / be * ty.block_bytes();
        let b1 = b0 + out.len() / be * ty.block_bytes();
        codec::dequantize_row(ty, &self.data_range(name, b0..b1)?, out)
    }

    /// Tells the OS the mapped pages of a tensor are no longer needed (they are re-read from the file
    /// if touched again). Keeps the resident set bounded while converting a file larger than memory.
    pub fn release(&self, name: &str) {
        if let Ok((t, _)) = self.lookup(name) {
            self.release_elems(name, 0, t.n_elems());
        }
    }

    /// Like `release`, for elements `[start, start + len)` of a contiguous tensor (whole pages only).
    pub fn release_elems(&self, name: &str, start: usize, len: usize) {
        let Ok((t, s)) = self.lookup(name) else { return };
        if s.strided.is_some() {
            return;
        }
        let (be, bb) = (t.ty.block_elems(), t.ty.block_bytes());
        let b0 = (start / be * bb).min(s.len);
        let b1 = ((start + len) / be * bb).min(s.len);
        #[cfg(all(unix, not(target_arch = "wasm32")))]
        if let Backing::Mapped(m) = &self.files[s.file].backing {
            // Only pages wholly inside the range: a neighbour's data is never dropped while in use.
            const PAGE: usize = 4096;
            let (a, b) = ((s.start + b0).div_ceil(PAGE) * PAGE, (s.start + b1) / PAGE * PAGE);
            if b > a {
                // SAFETY: the mapping is read-only and file-backed; dropped pages are re-read on access.
                let _ = unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, a, b - a) };
            }
        }
        #[cfg(not(all(unix, not(target_arch = "wasm32"))))]
        let _ = (b0, b1);
    }

    /// Validates everything `open` does not already: every tensor's data can be read (strided views
    /// gathered). Returns the number of bytes checked.
    pub fn validate(&self) -> Result<u64> {
        let mut total = 0u64;
        for t in &self.tensors {
            let d = self.data(&t.name)?;
            let want = t.n_bytes()?;
            if d.len() != want {
                return Err(FormatError::BadTensor { file: self.label.clone(), tensor: t.name.clone(), detail: format!("{} bytes of data, {} needed", d.len(), want) });
            }
            total += want as u64;
        }
        Ok(total)
    }

    /// Sets `metadata().config` from a JSON file (`--config`).
    pub fn set_config_file(&mut self, path: &Path) -> Result<()> {
        self.metadata.config = Some(read_json(path)?);
        Ok(())
    }
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| FormatError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| FormatError::malformed(&path.display().to_string(), "JSON", e.to_string()))
}

#[cfg(target_arch = "wasm32")]
fn map_file(path: &Path) -> Result<Backing> {
    Err(FormatError::Unsupported { file: path.display().to_string(), detail: "no file system on wasm32: use Checkpoint::from_bytes or from_source".into() })
}

#[cfg(not(target_arch = "wasm32"))]
fn map_file(path: &Path) -> Result<Backing> {
    let f = std::fs::File::open(path).map_err(|e| FormatError::io(path, e))?;
    let len = f.metadata().map_err(|e| FormatError::io(path, e))?.len();
    if len == 0 {
        return Ok(Backing::Owned(Vec::new()));
    }
    // SAFETY: the map is read-only; like every mmap-based loader we assume the file is not truncated
    // while it is open.
    let m = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| FormatError::io(path, e))?;
    Ok(Backing::Mapped(m))
}

fn is_contiguous(shape: &[usize], strides: &[usize]) -> bool {
    let mut expect = 1usize;
    for (d, s) in shape.iter().zip(strides).rev() {
        if *d != 1 && *s != expect {
            return false;
        }
        expect = expect.saturating_mul(*d);
    }
    true
}

fn gather(storage: &[u8], info: &TensorInfo, st: &Strided) -> Vec<u8> {
    let es = info.ty.block_bytes();
    let n = info.n_elems();
    let mut out = Vec::with_capacity(n * es);
    let mut idx = vec![0usize; info.shape.len()];
    for _ in 0..n {
        let e = st.offset + idx.iter().zip(&st.strides).map(|(i, s)| i * s).sum::<usize>();
        out.extend_from_slice(&storage[e * es..e * es + es]);
        for d in (0..idx.len()).rev() {
            idx[d] += 1;
            if idx[d] < info.shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

fn load_torch_zip(label: &str, bytes: &[u8], fi: usize) -> Result<Vec<(TensorInfo, Stored)>> {
    let entries = zip::read_entries(label, bytes)?;
    let pkl = entries
        .iter()
        .filter(|e| e.name == "data.pkl" || (e.name.ends_with("/data.pkl") && e.name.matches('/').count() == 1))
        .min_by_key(|e| e.name.len())
        .ok_or_else(|| FormatError::Zip { file: label.into(), detail: "no `<archive>/data.pkl` entry: not a torch.save file".into() })?;
    let prefix = &pkl.name[..pkl.name.len() - "data.pkl".len()];
    if let Some(bo) = entries.iter().find(|e| e.name == format!("{prefix}byteorder")) {
        let v = &bytes[bo.data_offset as usize..(bo.data_offset + bo.size) as usize];
        if v != b"little" {
            return Err(FormatError::Unsupported { file: label.into(), detail: format!("byte order {:?}", String::from_utf8_lossy(v)) });
        }
    }
    let pbytes = &bytes[pkl.data_offset as usize..(pkl.data_offset + pkl.size) as usize];
    let refs = pickle::parse_state_dict(label, pbytes)?;
    let by_name: HashMap<&str, &zip::ZipEntry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let mut out = Vec::with_capacity(refs.len());
    for (name, r) in refs {
        let key = format!("{prefix}data/{}", r.storage_key);
        let e = by_name.get(key.as_str()).ok_or_else(|| FormatError::Zip { file: label.into(), detail: format!("tensor `{name}`: storage entry `{key}` is missing") })?;
        let es = r.dtype.block_bytes() as u64;
        let need = r.storage_numel.checked_mul(es).filter(|&b| b <= e.size);
        if need.is_none() {
            return Err(FormatError::BadTensor { file: label.into(), tensor: name, detail: format!("storage `{key}` of {} bytes cannot hold {} {} elements", e.size, r.storage_numel, r.dtype) });
        }
        let info = TensorInfo { name, ty: r.dtype, shape: r.shape.clone() };
        let n = crate::types::checked_elems(&r.shape).unwrap_or(usize::MAX);
        let stored = if is_contiguous(&r.shape, &r.strides) {
            let start = e.data_offset + r.offset * es;
            Stored { file: fi, start: start as usize, len: n * es as usize, strided: None }
        } else {
            Stored { file: fi, start: e.data_offset as usize, len: e.size as usize, strided: Some(Strided { strides: r.strides.clone(), offset: r.offset as usize }) }
        };
        out.push((info, stored));
    }
    Ok(out)
}

/// Metadata value helper for callers building GGUF metadata from a checkpoint.
pub fn config_to_value(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) if n.is_i64() => Value::I64(n.as_i64()?),
        serde_json::Value::Number(n) => Value::F64(n.as_f64()?),
        serde_json::Value::String(s) => Value::String(s.clone()),
        _ => return None,
    })
}
