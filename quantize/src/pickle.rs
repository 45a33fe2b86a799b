//! A restricted unpickler for PyTorch state dicts. It executes nothing: it interprets the opcodes a
//! `torch.save(state_dict)` stream uses (protocols 2-5) and knows five kinds of globals —
//! `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`,
//! the typed storages `torch.*Storage`, and `torch.device`-free persistent ids `('storage', type, key,
//! location, numel)`. Any other opcode or global is an error. Depth, memo size, string lengths and the
//! total number of values built are bounded, so a hostile pickle cannot exhaust memory or stack.

use crate::error::{FormatError, Result};
use crate::types::GgmlType;
use std::collections::HashMap;

const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 20;
const MAX_DEPTH: usize = 64;
const MAX_STR: usize = 1 << 20;
/// Budget of value nodes created (clones from the memo included).
const MAX_NODES: usize = 1 << 24;
const MAX_DICT_DEPTH: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    /// A typed storage class; None for storages of a dtype we cannot read (uint8, bool, complex).
    Storage(Option<GgmlType>, &'static str),
}

/// A tensor as the pickle describes it: a view into a storage (a zip entry `data/<key>`).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage_key: String,
    pub dtype: GgmlType,
    pub storage_numel: u64,
    /// In elements.
    pub offset: u64,
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
enum V {
    Mark,
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(usize),
    Tuple(Vec<V>),
    List(Vec<V>),
    Dict(Vec<(V, V)>),
    Global(Global),
    Storage { key: String, dtype: Option<GgmlType>, type_name: &'static str, numel: u64 },
    Tensor(TensorRef),
}

impl V {
    fn nodes(&self) -> usize {
        match self {
            V::Tuple(v) | V::List(v) => 1 + v.iter().map(V::nodes).sum::<usize>(),
            V::Dict(v) => 1 + v.iter().map(|(a, b)| a.nodes() + b.nodes()).sum::<usize>(),
            _ => 1,
        }
    }
    fn depth(&self) -> usize {
        match self {
            V::Tuple(v) | V::List(v) => 1 + v.iter().map(V::depth).max().unwrap_or(0),
            V::Dict(v) => 1 + v.iter().map(|(a, b)| a.depth().max(b.depth())).max().unwrap_or(0),
            _ => 0,
        }
    }
}

fn resolve_global(module: &str, name: &str) -> Option<Global> {
    use GgmlType::*;
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch", "FloatStorage") => Global::Storage(Some(F32), "FloatStorage"),
        ("torch", "HalfStorage") => Global::Storage(Some(F16), "HalfStorage"),
        ("torch", "BFloat16Storage") => Global::Storage(Some(BF16), "BFloat16Storage"),
        ("torch", "DoubleStorage") => Global::Storage(Some(F64), "DoubleStorage"),
        ("torch", "LongStorage") => Global::Storage(Some(I64), "LongStorage"),
        ("torch", "IntStorage") => Global::Storage(Some(I32), "IntStorage"),
        ("torch", "ShortStorage") => Global::Storage(Some(I16), "ShortStorage"),
        ("torch", "CharStorage") => Global::Storage(Some(I8), "CharStorage"),
        ("torch", "ByteStorage") => Global::Storage(None, "ByteStorage"),
        ("torch", "BoolStorage") => Global::Storage(None, "BoolStorage"),
        _ => return None,
    })
}

struct Machine<'a> {
    file: &'a str,
    b: &'a [u8],
    pos: usize,
    stack: Vec<V>,
    memo: HashMap<u32, V>,
    nodes: usize,
}

impl<'a> Machine<'a> {
    fn err(&self, d: impl Into<String>) -> FormatError {
        FormatError::Pickle { file: self.file.into(), detail: format!("{} (at byte {})", d.into(), self.pos) }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| self.err(format!("truncated: {n} more bytes needed")))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn line(&mut self) -> Result<String> {
        let rest = &self.b[self.pos..];
        let n = rest.iter().take(MAX_STR).position(|&c| c == b'\n').ok_or_else(|| self.err("unterminated text line"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.err("text line is not UTF-8"))?.to_string();
        self.pos += n + 1;
        Ok(s)
    }
    fn string(&mut self, n: u64) -> Result<String> {
        if n > MAX_STR as u64 {
            return Err(FormatError::LimitExceeded { file: self.file.into(), what: "pickle string length", value: n, limit: MAX_STR as u64 });
        }
        let raw = self.take(n as usize)?;
        String::from_utf8(raw.to_vec()).map_err(|_| self.err("string is not UTF-8"))
    }
    fn push(&mut self, v: V) -> Result<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(FormatError::LimitExceeded { file: self.file.into(), what: "pickle stack", value: self.stack.len() as u64 + 1, limit: MAX_STACK as u64 });
        }
        self.charge(1)?;
        self.stack.push(v);
        Ok(())
    }
    fn charge(&mut self, n: usize) -> Result<()> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(FormatError::LimitExceeded { file: self.file.into(), what: "pickle values", value: self.nodes as u64, limit: MAX_NODES as u64 });
        }
        Ok(())
    }
    fn pop(&mut self) -> Result<V> {
        match self.stack.pop() {
            Some(V::Mark) | None => Err(self.err("stack underflow")),
            Some(v) => Ok(v),
        }
    }
    fn top(&mut self) -> Result<&mut V> {
        match self.stack.last_mut() {
            Some(V::Mark) | None => Err(FormatError::Pickle { file: self.file.into(), detail: "stack underflow".into() }),
            Some(v) => Ok(v),
        }
    }
    /// Items above the topmost mark (the mark is removed).
    fn pop_mark(&mut self) -> Result<Vec<V>> {
        let m = self.stack.iter().rposition(|v| *v == V::Mark).ok_or_else(|| self.err("no mark on the stack"))?;
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items)
    }
    fn container(&mut self, v: V) -> Result<()> {
        if v.depth() > MAX_DEPTH {
            return Err(FormatError::LimitExceeded { file: self.file.into(), what: "pickle nesting depth", value: v.depth() as u64, limit: MAX_DEPTH as u64 });
        }
        self.push(v)
    }
    fn memo_put(&mut self, k: u32) -> Result<()> {
        let v = match self.stack.last() {
            Some(V::Mark) | None => return Err(self.err("memo put with an empty stack")),
            Some(v) => v.clone(),
        };
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&k) {
            return Err(FormatError::LimitExceeded { file: self.file.into(), what: "pickle memo", value: self.memo.len() as u64 + 1, limit: MAX_MEMO as u64 });
        }
        self.charge(v.nodes())?;
        self.memo.insert(k, v);
        Ok(())
    }
    fn memo_get(&mut self, k: u32) -> Result<()> {
        let v = self.memo.get(&k).cloned().ok_or_else(|| self.err(format!("memo key {k} is not defined")))?;
        self.charge(v.nodes())?;
        self.push(v)
    }
    fn check_depth(&self, items: &[V]) -> Result<()> {
        let d = items.iter().map(V::depth).max().unwrap_or(0) + 1;
        if d > MAX_DEPTH {
            return Err(FormatError::LimitExceeded { file: self.file.into(), what: "pickle nesting depth", value: d as u64, limit: MAX_DEPTH as u64 });
        }
        Ok(())
    }
    fn set_items(&mut self, items: Vec<V>) -> Result<()> {
        self.check_depth(&items)?;
        if !items.len().is_multiple_of(2) {
            return Err(self.err("odd number of items for a dict"));
        }
        let mut it = items.into_iter();
        let mut pairs = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        match self.top()? {
            V::Dict(d) => {
                d.extend(pairs);
                Ok(())
            }
            _ => Err(self.err("SETITEM(S) on something that is not a dict")),
        }
    }
    fn append(&mut self, items: Vec<V>) -> Result<()> {
        self.check_depth(&items)?;
        match self.top()? {
            V::List(l) => {
                l.extend(items);
                Ok(())
            }
            _ => Err(self.err("APPEND(S) on something that is not a list")),
        }
    }

    fn reduce(&mut self, f: V, args: V) -> Result<V> {
        let V::Tuple(args) = args else { return Err(self.err("REDUCE arguments are not a tuple")) };
        match f {
            V::Global(Global::OrderedDict) if args.is_empty() => Ok(V::Dict(Vec::new())),
            V::Global(Global::RebuildTensorV2) if (6..=7).contains(&args.len()) => self.rebuild_tensor(&args),
            V::Global(Global::RebuildParameter) if (2..=3).contains(&args.len()) => match &args[0] {
                V::Tensor(t) => Ok(V::Tensor(t.clone())),
                _ => Err(self.err("_rebuild_parameter of something that is not a tensor")),
            },
            other => Err(self.err(format!("REDUCE of {other:?} with {} arguments is not allowed", args.len()))),
        }
    }

    fn ints(&self, v: &V, what: &str) -> Result<Vec<usize>> {
        match v {
            V::Tuple(items) => items
                .iter()
                .map(|x| match x {
                    V::Int(i) if *i >= 0 && (*i as u64) < (1u64 << 48) => Ok(*i as usize),
                    _ => Err(self.err(format!("{what}: {x:?} is not a valid size"))),
                })
                .collect(),
            _ => Err(self.err(format!("{what} is not a tuple"))),
        }
    }

    fn rebuild_tensor(&self, a: &[V]) -> Result<V> {
        let V::Storage { key, dtype, type_name, numel } = &a[0] else {
            return Err(self.err("_rebuild_tensor_v2: first argument is not a storage"));
        };
        let Some(dtype) = dtype else {
            return Err(FormatError::UnsupportedDtype { file: self.file.into(), tensor: format!("storage {key}"), dtype: (*type_name).into(), hint: "only float and signed integer storages are read" });
        };
        let V::Int(offset) = a[1] else { return Err(self.err("_rebuild_tensor_v2: storage offset is not an int")) };
        let shape = self.ints(&a[2], "tensor size")?;
        let strides = self.ints(&a[3], "tensor stride")?;
        if shape.len() != strides.len() || offset < 0 || offset as u64 > *numel {
            return Err(self.err(format!("tensor size {shape:?} / stride {strides:?} / offset {offset} disagree")));
        }
        // The last element addressed must lie inside the storage.
        if !shape.contains(&0) {
            let mut last = offset as u128;
            for (d, s) in shape.iter().zip(&strides) {
                last += (*d as u128 - 1) * *s as u128;
            }
            if last >= *numel as u128 {
                return Err(self.err(format!("tensor view (offset {offset}, size {shape:?}, stride {strides:?}) reaches past storage {key} of {numel} elements")));
            }
        }
        Ok(V::Tensor(TensorRef { storage_key: key.clone(), dtype: *dtype, storage_numel: *numel, offset: offset as u64, shape, strides }))
    }

    fn persistent_load(&mut self, pid: V) -> Result<V> {
        let V::Tuple(t) = pid else { return Err(self.err("persistent id is not a tuple")) };
        match t.as_slice() {
            [V::Str(tag), V::Global(Global::Storage(dtype, type_name)), key, V::Str(_location), V::Int(numel)] if tag == "storage" && *numel >= 0 => {
                let key = match key {
                    V::Str(s) => s.clone(),
                    V::Int(i) => i.to_string(),
                    _ => return Err(self.err("storage key is neither a string nor an int")),
                };
                if key.is_empty() || !key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    return Err(self.err(format!("storage key {key:?} is not a plain name")));
                }
                Ok(V::Storage { key, dtype: *dtype, type_name, numel: *numel as u64 })
            }
            _ => Err(self.err(format!("persistent id {t:?} is not ('storage', torch.*Storage, key, location, numel)"))),
        }
    }

    fn run(&mut self) -> Result<V> {
        loop {
            let op = self.arr::<1>()?[0];
            match op {
                0x80 => {
                    let p = self.arr::<1>()?[0];
                    if p > 5 {
                        return Err(self.err(format!("pickle protocol {p} is not supported")));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.push(V::Mark)?,
                b'N' => self.push(V::None)?,
                0x88 => self.push(V::Bool(true))?,
                0x89 => self.push(V::Bool(false))?,
                b'}' => self.push(V::Dict(Vec::new()))?,
                b']' => self.push(V::List(Vec::new()))?,
                b')' => self.push(V::Tuple(Vec::new()))?,
                b'K' => {
                    let v = self.arr::<1>()?[0] as i64;
                    self.push(V::Int(v))?
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.arr()?) as i64;
                    self.push(V::Int(v))?
                }
                b'J' => {
                    let v = i32::from_le_bytes(self.arr()?) as i64;
                    self.push(V::Int(v))?
                }
                0x8a => {
                    let n = self.arr::<1>()?[0] as usize;
                    if n > 8 {
                        return Err(self.err(format!("LONG1 of {n} bytes exceeds 64 bits")));
                    }
                    let raw = self.take(n)?;
                    let mut buf = if raw.last().is_some_and(|&x| x & 0x80 != 0) { [0xFFu8; 8] } else { [0u8; 8] };
                    buf[..n].copy_from_slice(raw);
                    self.push(V::Int(i64::from_le_bytes(buf)))?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.arr()?);
                    self.push(V::Float(v))?
                }
                b'X' => {
                    let n = u32::from_le_bytes(self.arr()?) as u64;
                    let s = self.string(n)?;
                    self.push(V::Str(s))?
                }
                0x8c => {
                    let n = self.arr::<1>()?[0] as u64;
                    let s = self.string(n)?;
                    self.push(V::Str(s))?
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.arr()?);
                    let s = self.string(n)?;
                    self.push(V::Str(s))?
                }
                b'U' | b'C' | b'T' | b'B' => {
                    let n = if op == b'U' || op == b'C' { self.arr::<1>()?[0] as usize } else { u32::from_le_bytes(self.arr()?) as usize };
                    if n > MAX_STR {
                        return Err(FormatError::LimitExceeded { file: self.file.into(), what: "pickle bytes length", value: n as u64, limit: MAX_STR as u64 });
                    }
                    self.take(n)?;
                    self.push(V::Bytes(n))?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.container(V::Tuple(items))?
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.container(V::Tuple(items))?
                }
                b'q' => {
                    let k = self.arr::<1>()?[0] as u32;
                    self.memo_put(k)?
                }
                b'r' => {
                    let k = u32::from_le_bytes(self.arr()?);
                    self.memo_put(k)?
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?
                }
                b'h' => {
                    let k = self.arr::<1>()?[0] as u32;
                    self.memo_get(k)?
                }
                b'j' => {
                    let k = u32::from_le_bytes(self.arr()?);
                    self.memo_get(k)?
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = resolve_global(&module, &name).ok_or_else(|| FormatError::PickleGlobal { file: self.file.into(), module, name })?;
                    self.push(V::Global(g))?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (V::Str(module), V::Str(name)) = (module, name) else { return Err(self.err("STACK_GLOBAL operands are not strings")) };
                    let g = resolve_global(&module, &name).ok_or_else(|| FormatError::PickleGlobal { file: self.file.into(), module, name })?;
                    self.push(V::Global(g))?
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v)?
                }
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = self.reduce(f, args)?;
                    self.push(v)?
                }
                b'b' => {
                    // BUILD: only the attribute dict of an OrderedDict (torch's `_metadata`) is allowed;
                    // it carries no tensors and is dropped.
                    let _state = self.pop()?;
                    if !matches!(self.top()?, V::Dict(_)) {
                        return Err(self.err("BUILD on something that is not a dict"));
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?
                }
                b'0' => {
                    self.pop()?;
                }
                other => {
                    self.pos -= 1;
                    return Err(self.err(format!("opcode 0x{other:02x} is not allowed")));
                }
            }
        }
    }
}

/// Parses a state-dict pickle into (name, tensor) pairs, in pickle order. Nested dicts are flattened
/// with `.` (e.g. `{"state_dict": {...}}`); non-tensor leaves are skipped.
pub fn parse_state_dict(file: &str, bytes: &[u8]) -> Result<Vec<(String, TensorRef)>> {
    let mut m = Machine { file, b: bytes, pos: 0, stack: Vec::new(), memo: HashMap::new(), nodes: 0 };
    let root = m.run()?;
    let mut out = Vec::new();
    flatten(file, "", root, 0, &mut out)?;
    Ok(out)
}

fn flatten(file: &str, prefix: &str, v: V, depth: usize, out: &mut Vec<(String, TensorRef)>) -> Result<()> {
    let V::Dict(items) = v else {
        return Err(FormatError::Pickle { file: file.into(), detail: "the pickle is not a dict of tensors".into() });
    };
    if depth > MAX_DICT_DEPTH {
        return Err(FormatError::LimitExceeded { file: file.into(), what: "state dict nesting", value: depth as u64, limit: MAX_DICT_DEPTH as u64 });
    }
    for (k, v) in items {
        let key = match k {
            V::Str(s) => s,
            V::Int(i) => i.to_string(),
            other => return Err(FormatError::Pickle { file: file.into(), detail: format!("state dict key {other:?} is not a string") }),
        };
        let name = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
        match v {
            V::Tensor(t) => out.push((name, t)),
            d @ V::Dict(_) => flatten(file, &name, d, depth + 1, out)?,
            _ => {}
        }
    }
    Ok(())
}
