//! Tensor-name maps between the conventions users arrive with and the ones our GGUF files use.
//! A map produces `Planned` tensors: an output name and shape plus the source element ranges that
//! make it up, in order. Fusing q/k/v, splitting them, swapping the halves of a modulation weight and
//! reshaping a [C,C] linear into a [C,C,1,1] conv are all just lists of ranges, so the converter
//! streams every kind the same way and never holds a whole tensor.

pub mod flux;
pub mod qwen;
pub mod vae;
pub mod x2edit;

use crate::checkpoint::Checkpoint;
use crate::error::{FormatError, Result};
use crate::types::TensorInfo;

/// Elements `[start, start + len)` of source tensor `src`, flattened in PyTorch order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub src: String,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub shape: Vec<usize>,
    pub parts: Vec<Segment>,
}

impl Planned {
    /// The whole of `src` under a new name.
    pub fn direct(name: impl Into<String>, src: &TensorInfo) -> Self {
        Planned { name: name.into(), shape: src.shape.clone(), parts: vec![Segment { src: src.name.clone(), start: 0, len: src.n_elems() }] }
    }

    /// The whole of `src` under a new name and shape with the same number of elements.
    pub fn reshaped(name: impl Into<String>, src: &TensorInfo, shape: Vec<usize>) -> Result<Self> {
        let name = name.into();
        if shape.iter().product::<usize>() != src.n_elems() {
            return Err(FormatError::ShapeMismatch { tensor: src.name.clone(), expected: shape, found: src.shape.clone() });
        }
        Ok(Planned { name, shape, parts: vec![Segment { src: src.name.clone(), start: 0, len: src.n_elems() }] })
    }

    /// Sources stacked along dim 0 (q, k, v -> qkv); all trailing dims must agree.
    pub fn concat_rows(name: impl Into<String>, srcs: &[&TensorInfo]) -> Result<Self> {
        let name = name.into();
        let first = srcs.first().ok_or_else(|| FormatError::Invalid { what: name.clone(), detail: "nothing to concatenate".into() })?;
        let tail = first.shape.get(1..).unwrap_or(&[]).to_vec();
        let mut rows = 0;
        let mut parts = Vec::new();
        for s in srcs {
            if s.shape.is_empty() || s.shape[1..] != tail[..] {
                let mut expected = vec![s.shape.first().copied().unwrap_or(0)];
                expected.extend(&tail);
                return Err(FormatError::ShapeMismatch { tensor: s.name.clone(), expected, found: s.shape.clone() });
            }
            rows += s.shape[0];
            parts.push(Segment { src: s.name.clone(), start: 0, len: s.n_elems() });
        }
        let mut shape = vec![rows];
        shape.extend(tail);
        Ok(Planned { name, shape, parts })
    }

    /// Rows `[r0, r1)` of `src` (dim 0), e.g. the q third of a fused qkv.
    pub fn rows(name: impl Into<String>, src: &TensorInfo, r0: usize, r1: usize) -> Result<Self> {
        let d0 = src.shape.first().copied().unwrap_or(0);
        if r0 > r1 || r1 > d0 {
            return Err(FormatError::BadTensor { file: String::new(), tensor: src.name.clone(), detail: format!("rows [{r0}, {r1}) of {d0}") });
        }
        let per_row = src.n_elems() / d0.max(1);
        let mut shape = src.shape.clone();
        shape[0] = r1 - r0;
        Ok(Planned { name: name.into(), shape, parts: vec![Segment { src: src.name.clone(), start: r0 * per_row, len: (r1 - r0) * per_row }] })
    }

    /// The two halves of dim 0 exchanged (FLUX final-layer shift/scale <-> diffusers scale/shift).
    pub fn swap_halves(name: impl Into<String>, src: &TensorInfo) -> Result<Self> {
        let d0 = src.shape.first().copied().unwrap_or(0);
        if d0 % 2 != 0 {
            return Err(FormatError::BadTensor { file: String::new(), tensor: src.name.clone(), detail: format!("cannot swap halves of {d0} rows") });
        }
        let half = src.n_elems() / 2;
        Ok(Planned {
            name: name.into(),
            shape: src.shape.clone(),
            parts: vec![Segment { src: src.name.clone(), start: half, len: half }, Segment { src: src.name.clone(), start: 0, len: half }],
        })
    }

    pub fn n_elems(&self) -> usize {
        self.shape.iter().product()
    }

    /// A plain rename of one whole source tensor (bytes can be copied as they are).
    pub fn is_direct(&self, ck: &Checkpoint) -> bool {
        matches!(self.parts.as_slice(), [s] if s.start == 0 && ck.get(&s.src).is_some_and(|t| t.n_elems() == s.len))
    }
}

/// Reads the planned tensor's elements `[start, start + out.len())` into `out` (f32).
pub fn read_planned(ck: &Checkpoint, p: &Planned, start: usize, out: &mut [f32]) -> Result<()> {
    let end = start + out.len();
    let mut base = 0;
    for seg in &p.parts {
        let (s0, s1) = (base, base + seg.len);
        let (a, b) = (start.max(s0), end.min(s1));
        if a < b {
            ck.read_f32(&seg.src, seg.start + (a - s0), &mut out[a - start..b - start])?;
        }
        base = s1;
    }
    if base != p.n_elems() {
        return Err(FormatError::Invalid { what: format!("tensor `{}`", p.name), detail: format!("parts hold {base} elements, shape {:?} needs {}", p.shape, p.n_elems()) });
    }
    Ok(())
}

/// Tells the checkpoint the source pages behind elements `[start, start + len)` can go.
pub fn release_planned(ck: &Checkpoint, p: &Planned, start: usize, len: usize) {
    let end = start + len;
    let mut base = 0;
    for seg in &p.parts {
        let (s0, s1) = (base, base + seg.len);
        let (a, b) = (start.max(s0), end.min(s1));
        if a < b {
            ck.release_elems(&seg.src, seg.start + (a - s0), b - a);
        }
        base = s1;
    }
}

/// The whole planned tensor in f32 (tests, small tensors).
pub fn materialize(ck: &Checkpoint, p: &Planned) -> Result<Vec<f32>> {
    let mut v = vec![0f32; p.n_elems()];
    read_planned(ck, p, 0, &mut v)?;
    Ok(v)
}

/// Index N of a `prefix.N.` name.
pub(crate) fn block_index(name: &str, prefix: &str) -> Option<usize> {
    name.strip_prefix(prefix)?.split('.').next()?.parse().ok()
}

/// Number of blocks `prefix.N.` present (max index + 1).
pub(crate) fn count_blocks<'a>(names: impl Iterator<Item = &'a str>, prefix: &str) -> usize {
    names.filter_map(|n| block_index(n, prefix)).max().map_or(0, |m| m + 1)
}
