//! GGUF v3 reader. `parse_prefix` works on the first bytes of a file and says how many bytes it needs
//! (for a browser reading a File by ranges); `parse` reads a whole file and validates every tensor's
//! extent, alignment and overlap. Counts and lengths from the file are never trusted for allocation:
//! capacity is bounded by the bytes actually present.

use super::{align_up, ne_to_shape, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS};
use crate::error::{FormatError, Result};
use crate::metadata::{Metadata, Value, ValueType};
use crate::types::{checked_elems, GgmlType, TensorInfo};

/// Nesting limit for arrays of arrays (ggml itself allows any depth; no real file nests).
const MAX_ARRAY_DEPTH: usize = 3;
/// Largest alignment accepted (ggml's default is 32; anything beyond a page is suspicious).
const MAX_ALIGNMENT: u64 = 1 << 16;

#[derive(Debug, Clone)]
pub struct GgufTensor {
    pub info: TensorInfo,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes.
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    pub metadata: Metadata,
    /// In file order (any order of offsets is allowed).
    pub tensors: Vec<GgufTensor>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
}

impl GgufHeader {
    /// Total file length implied by the tensor table (end of the last tensor's data).
    pub fn data_end(&self) -> u64 {
        self.tensors.iter().map(|t| self.data_offset.saturating_add(t.offset.saturating_add(t.size))).max().unwrap_or(self.data_offset)
    }
}

#[derive(Debug)]
pub enum HeaderParse {
    /// The prefix ends inside the header: at least `total` bytes from the start are needed.
    NeedMore { total: u64 },
    Done(GgufHeader),
}

enum PErr {
    /// Ran out of bytes; at least this many bytes from the start are needed.
    Short(u64),
    Fmt(FormatError),
}

impl From<FormatError> for PErr {
    fn from(e: FormatError) -> Self {
        PErr::Fmt(e)
    }
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: u64) -> std::result::Result<&'a [u8], PErr> {
        let end = (self.pos as u64).checked_add(n).ok_or(PErr::Short(u64::MAX))?;
        if end > self.b.len() as u64 {
            return Err(PErr::Short(end));
        }
        let s = &self.b[self.pos..end as usize];
        self.pos = end as usize;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> std::result::Result<[u8; N], PErr> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64)?);
        Ok(a)
    }
    fn u32(&mut self) -> std::result::Result<u32, PErr> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> std::result::Result<u64, PErr> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn bytes_str(&mut self) -> std::result::Result<&'a [u8], PErr> {
        let n = self.u64()?;
        self.take(n)
    }
    /// Keys and tensor names must be UTF-8.
    fn name(&mut self, what: &str) -> std::result::Result<String, PErr> {
        let at = self.pos;
        let raw = self.bytes_str()?;
        String::from_utf8(raw.to_vec())
            .map_err(|_| PErr::Fmt(FormatError::malformed(self.file, what, format!("not UTF-8 at offset {at}"))))
    }

    fn value(&mut self, ty: ValueType, depth: usize) -> std::result::Result<Value, PErr> {
        Ok(match ty {
            ValueType::U8 => Value::U8(self.arr::<1>()?[0]),
            ValueType::I8 => Value::I8(self.arr::<1>()?[0] as i8),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.arr()?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.arr()?)),
            ValueType::U32 => Value::U32(self.u32()?),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.arr()?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.arr()?)),
            ValueType::U64 => Value::U64(self.u64()?),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.arr()?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.arr()?)),
            ValueType::Bool => {
                let at = self.pos;
                match self.arr::<1>()?[0] {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    v => return Err(FormatError::malformed(self.file, "bool value", format!("byte {v} at offset {at}")).into()),
                }
            }
            // Values (token strings) may hold invalid UTF-8 in the wild; keep them readable.
            ValueType::String => Value::String(String::from_utf8_lossy(self.bytes_str()?).into_owned()),
            ValueType::Array => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(FormatError::LimitExceeded { file: self.file.into(), what: "array nesting", value: depth as u64 + 1, limit: MAX_ARRAY_DEPTH as u64 }.into());
                }
                let at = self.pos;
                let ety_id = self.u32()?;
                let ety = ValueType::from_id(ety_id).ok_or_else(|| FormatError::malformed(self.file, "array element type", format!("unknown id {ety_id} at offset {at}")))?;
                let n = self.u64()?;
                // Each element needs at least min_size bytes: a lying count runs out of data here,
                // before anything is allocated.
                let need = n.checked_mul(ety.min_size() as u64).ok_or(PErr::Short(u64::MAX))?;
                if need > self.remaining() as u64 {
                    return Err(PErr::Short((self.pos as u64).saturating_add(need)));
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.value(ety, depth + 1)?);
                }
                Value::Array(ety, v)
            }
        })
    }
}

fn parse_inner(file: &str, b: &[u8]) -> std::result::Result<GgufHeader, PErr> {
    let mut c = Cur { b, pos: 0, file };
    let magic = c.arr::<4>()?;
    if &magic != MAGIC {
        return Err(FormatError::BadMagic { file: file.into(), expected: "GGUF", found: magic.to_vec() }.into());
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        return Err(FormatError::UnsupportedVersion { file: file.into(), what: "GGUF", expected: "2 or 3", found: version as u64 }.into());
    }
    let n_tensors = c.u64()?;
    let n_kv = c.u64()?;

    let mut metadata = Metadata::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..n_kv {
        let key = c.name("metadata key")?;
        let at = c.pos;
        let tid = c.u32()?;
        let ty = ValueType::from_id(tid).ok_or_else(|| FormatError::malformed(file, format!("metadata `{key}`"), format!("unknown value type {tid} at offset {at}")))?;
        let v = c.value(ty, 0)?;
        if !seen.insert(key.clone()) {
            return Err(FormatError::DuplicateKey { file: file.into(), key }.into());
        }
        metadata.push_unchecked(key, v);
    }

    let alignment = match metadata.get(ALIGNMENT_KEY) {
        None => DEFAULT_ALIGNMENT,
        Some(v) => match v.as_i64() {
            Some(a) if a > 0 && (a as u64).is_power_of_two() && (a as u64) <= MAX_ALIGNMENT => a as u64,
            _ => return Err(FormatError::malformed(file, ALIGNMENT_KEY, format!("expected a power of two up to {MAX_ALIGNMENT}, found {v:?}")).into()),
        },
    };

    // A tensor entry has at least 8 (name len) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
    let cap = (n_tensors as usize).min(c.remaining() / 24 + 1);
    let mut tensors = Vec::with_capacity(cap);
    let mut names = std::collections::HashSet::new();
    for _ in 0..n_tensors {
        let name = c.name("tensor name")?;
        let n_dims = c.u32()? as usize;
        if n_dims > MAX_DIMS {
            return Err(FormatError::BadTensor { file: file.into(), tensor: name, detail: format!("{n_dims} dimensions (ggml allows at most {MAX_DIMS})") }.into());
        }
        let mut ne = [0u64; MAX_DIMS];
        for d in ne.iter_mut().take(n_dims) {
            *d = c.u64()?;
        }
        let tid = c.u32()?;
        let offset = c.u64()?;
        let ty = GgmlType::from_id(tid).ok_or_else(|| FormatError::UnknownType { file: file.into(), tensor: name.clone(), id: tid })?;
        let ne = &ne[..n_dims];
        if ne.iter().any(|&d| d > i64::MAX as u64 || usize::try_from(d).is_err()) {
            return Err(FormatError::BadTensor { file: file.into(), tensor: name, detail: format!("dimension out of range in {ne:?}") }.into());
        }
        let info = TensorInfo { name: name.clone(), ty, shape: ne_to_shape(ne) };
        let n = checked_elems(&info.shape).filter(|&n| n as u64 <= i64::MAX as u64).ok_or_else(|| FormatError::BadTensor { file: file.into(), tensor: name.clone(), detail: format!("element count of {ne:?} overflows") })?;
        let size = match info.n_bytes() {
            Ok(s) => s as u64,
            Err(FormatError::RowNotDivisible { ty, row, block, .. }) => {
                return Err(FormatError::BadTensor { file: file.into(), tensor: name, detail: format!("row of {row} elements is not a multiple of the {ty} block size {block}") }.into())
            }
            Err(_) => return Err(FormatError::BadTensor { file: file.into(), tensor: name, detail: format!("{n} elements of {ty} overflow") }.into()),
        };
        if !names.insert(name.clone()) {
            return Err(FormatError::DuplicateTensor { file: file.into(), tensor: name }.into());
        }
        tensors.push(GgufTensor { info, offset, size });
    }
    let data_offset = align_up(c.pos as u64, alignment).ok_or(PErr::Short(u64::MAX))?;
    Ok(GgufHeader { version, metadata, tensors, alignment, data_offset })
}

/// Parses the header from a prefix of the file. Tensor extents are not checked (the file length is
/// unknown); call `validate_extents` once it is.
pub fn parse_prefix(file: &str, prefix: &[u8]) -> Result<HeaderParse> {
    match parse_inner(file, prefix) {
        Ok(h) => Ok(HeaderParse::Done(h)),
        Err(PErr::Short(total)) => Ok(HeaderParse::NeedMore { total }),
        Err(PErr::Fmt(e)) => Err(e),
    }
}

/// Parses a whole file and validates every tensor extent.
pub fn parse(file: &str, bytes: &[u8]) -> Result<GgufHeader> {
    let h = match parse_inner(file, bytes) {
        Ok(h) => h,
        Err(PErr::Short(total)) => {
            return Err(FormatError::Truncated { file: file.into(), offset: bytes.len() as u64, needed: total.saturating_sub(bytes.len() as u64), len: bytes.len() as u64 })
        }
        Err(PErr::Fmt(e)) => return Err(e),
    };
    validate_extents(file, &h, bytes.len() as u64)?;
    Ok(h)
}

/// Every tensor aligned, inside the file, and no two overlapping.
pub fn validate_extents(file: &str, h: &GgufHeader, file_len: u64) -> Result<()> {
    if h.data_offset > file_len && !h.tensors.is_empty() {
        return Err(FormatError::Truncated { file: file.into(), offset: file_len, needed: h.data_offset - file_len, len: file_len });
    }
    let data_len = file_len.saturating_sub(h.data_offset);
    let mut spans: Vec<(u64, u64, &str)> = Vec::with_capacity(h.tensors.len());
    for t in &h.tensors {
        if t.offset % h.alignment != 0 {
            return Err(FormatError::Misaligned { file: file.into(), tensor: t.info.name.clone(), offset: t.offset, alignment: h.alignment });
        }
        let end = t.offset.checked_add(t.size).filter(|&e| e <= data_len);
        let Some(end) = end else {
            return Err(FormatError::OutOfBounds { file: file.into(), tensor: t.info.name.clone(), start: t.offset, end: t.offset.saturating_add(t.size), len: data_len });
        };
        spans.push((t.offset, end, &t.info.name));
    }
    // Zero-sized tensors overlap nothing.
    spans.retain(|s| s.1 > s.0);
    spans.sort();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(FormatError::Overlap { file: file.into(), a: w[0].2.into(), b: w[1].2.into() });
        }
    }
    Ok(())
}
