//! Streaming GGUF v3 writer. The header (metadata and the whole tensor table) is written first, since
//! every tensor's type and shape is known before its data is made; then the data arrives one tensor at a
//! time, in table order, in chunks of any size. Memory use is the caller's chunk, not the file.

use super::{align_up, shape_to_ne, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_DIMS, VERSION};
use crate::error::{FormatError, Result};
use crate::metadata::{Metadata, Value};
use crate::types::TensorInfo;
use std::io::Write;

pub struct GgufWriter<W: Write> {
    out: W,
    label: String,
    tensors: Vec<(TensorInfo, u64)>,
    alignment: u64,
    /// Index of the tensor being written and bytes of it written so far.
    current: usize,
    written: u64,
    pos: u64,
}

fn encode_value(buf: &mut Vec<u8>, v: &Value, what: &str) -> Result<()> {
    match v {
        Value::U8(x) => buf.push(*x),
        Value::I8(x) => buf.push(*x as u8),
        Value::U16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => buf.push(*x as u8),
        Value::String(s) => encode_str(buf, s),
        Value::U64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => buf.extend_from_slice(&x.to_le_bytes()),
        Value::Array(ety, items) => {
            buf.extend_from_slice(&(*ety as u32).to_le_bytes());
            buf.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for it in items {
                if it.ty() != *ety {
                    return Err(FormatError::Invalid { what: what.into(), detail: format!("array of {ety:?} holds a {:?}", it.ty()) });
                }
                encode_value(buf, it, what)?;
            }
        }
    }
    Ok(())
}

fn encode_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// The encoded header (without the padding before the data section).
pub fn encode_header(metadata: &Metadata, tensors: &[(TensorInfo, u64)]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    buf.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata.iter() {
        encode_str(&mut buf, k);
        buf.extend_from_slice(&(v.ty() as u32).to_le_bytes());
        encode_value(&mut buf, v, k)?;
    }
    for (t, offset) in tensors {
        if t.shape.len() > MAX_DIMS {
            return Err(FormatError::Invalid { what: format!("tensor `{}`", t.name), detail: format!("{} dimensions; GGUF allows {MAX_DIMS}", t.shape.len()) });
        }
        encode_str(&mut buf, &t.name);
        buf.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
        for d in shape_to_ne(&t.shape) {
            buf.extend_from_slice(&d.to_le_bytes());
        }
        buf.extend_from_slice(&t.ty.id().to_le_bytes());
        buf.extend_from_slice(&offset.to_le_bytes());
    }
    Ok(buf)
}

impl<W: Write> GgufWriter<W> {
    /// Writes the header for `tensors` (in the order their data will follow).
    pub fn new(out: W, label: &str, metadata: &Metadata, tensors: Vec<TensorInfo>) -> Result<Self> {
        let alignment = match metadata.get(ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v {
                Value::U32(a) if a.is_power_of_two() => *a as u64,
                _ => return Err(FormatError::Invalid { what: ALIGNMENT_KEY.into(), detail: format!("must be a u32 power of two, found {v:?}") }),
            },
        };
        let mut table = Vec::with_capacity(tensors.len());
        let mut offset = 0u64;
        for t in tensors {
            let size = t.n_bytes()? as u64;
            table.push((t, offset));
            offset = align_up(offset + size, alignment).unwrap_or(u64::MAX);
        }
        let header = encode_header(metadata, &table)?;
        let mut w = GgufWriter { out, label: label.into(), tensors: table, alignment, current: 0, written: 0, pos: 0 };
        w.put(&header)?;
        w.pad()?;
        w.skip_empty()?;
        Ok(w)
    }

    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b).map_err(|e| FormatError::io(&self.label, e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let n = (align_up(self.pos, self.alignment).unwrap_or(self.pos) - self.pos) as usize;
        self.put(&vec![0u8; n])
    }

    /// Tensors with no data are complete as soon as they start.
    fn skip_empty(&mut self) -> Result<()> {
        while self.current < self.tensors.len() && self.tensors[self.current].0.n_bytes()? == 0 {
            self.current += 1;
        }
        Ok(())
    }

    /// The tensor whose data is expected next, if any.
    pub fn next_tensor(&self) -> Option<&TensorInfo> {
        self.tensors.get(self.current).map(|(t, _)| t)
    }

    /// Appends data to the current tensor; a chunk may complete it but not spill into the next one.
    pub fn write_data(&mut self, chunk: &[u8]) -> Result<()> {
        let Some((t, _)) = self.tensors.get(self.current) else {
            return Err(FormatError::Invalid { what: self.label.clone(), detail: "data written after the last tensor".into() });
        };
        let size = t.n_bytes()? as u64;
        if self.written + chunk.len() as u64 > size {
            return Err(FormatError::Invalid { what: format!("tensor `{}`", t.name), detail: format!("{} bytes written, tensor holds {size}", self.written + chunk.len() as u64) });
        }
        self.put(chunk)?;
        self.written += chunk.len() as u64;
        if self.written == size {
            self.written = 0;
            self.current += 1;
            self.pad()?;
            self.skip_empty()?;
        }
        Ok(())
    }

    /// Checks every tensor got its data and flushes.
    pub fn finish(mut self) -> Result<W> {
        if let Some((t, _)) = self.tensors.get(self.current) {
            return Err(FormatError::Invalid { what: format!("tensor `{}`", t.name), detail: format!("only {} bytes of data were written", self.written) });
        }
        self.out.flush().map_err(|e| FormatError::io(&self.label, e))?;
        Ok(self.out)
    }
}
