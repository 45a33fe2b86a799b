//! Named tensors in and out of safetensors files for the stage commands: inputs are checked by
//! name, shape and dtype with errors that name the tensor; outputs are written atomically.

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Inputs {
    path: PathBuf,
    bytes: Vec<u8>,
}

/// A tensor read back as f32 or i64 values with its shape.
pub struct Host<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

impl Inputs {
    pub fn open(path: &Path) -> Result<Inputs, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: not a safetensors file: {e}", path.display()))?;
        Ok(Inputs { path: path.to_path_buf(), bytes })
    }

    fn view(&self, name: &str) -> Result<TensorView<'_>, String> {
        let st = SafeTensors::deserialize(&self.bytes).map_err(|e| e.to_string())?;
        st.tensor(name).map_err(|_| format!("{}: input tensor '{name}' is missing", self.path.display()))
    }

    /// `name` as f32 (f32, f16, bf16 or integer storage), checking its shape against `want`
    /// (None = any size on that axis).
    pub fn f32(&self, name: &str, want: &[Option<usize>]) -> Result<Host<f32>, String> {
        let v = self.view(name)?;
        self.check_shape(name, v.shape(), want)?;
        let d = v.data();
        let data: Vec<f32> = match v.dtype() {
            Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => d.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::BF16 => d.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::I64 => d.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(),
            other => return Err(format!("{}: tensor '{name}' has dtype {other:?}, expected a float", self.path.display())),
        };
        Ok(Host { shape: v.shape().to_vec(), data })
    }

    /// `name` as i64 (int64 or int32 storage).
    pub fn i64(&self, name: &str, want: &[Option<usize>]) -> Result<Host<i64>, String> {
        let v = self.view(name)?;
        self.check_shape(name, v.shape(), want)?;
        let d = v.data();
        let data = match v.dtype() {
            Dtype::I64 => d.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
            Dtype::I32 => d.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as i64).collect(),
            other => return Err(format!("{}: tensor '{name}' has dtype {other:?}, expected int64", self.path.display())),
        };
        Ok(Host { shape: v.shape().to_vec(), data })
    }

    fn check_shape(&self, name: &str, got: &[usize], want: &[Option<usize>]) -> Result<(), String> {
        let ok = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| w.is_none_or(|w| w == *g));
        if !ok {
            let w: Vec<String> = want.iter().map(|w| w.map_or("*".into(), |v| v.to_string())).collect();
            return Err(format!("{}: tensor '{name}' has shape {got:?}, expected [{}]", self.path.display(), w.join(", ")));
        }
        Ok(())
    }
}

/// Output tensors (f32 or i64), written to a temporary file and renamed into place, so a
/// failed command leaves no partial output.
#[derive(Default)]
pub struct Outputs {
    f32s: BTreeMap<String, (Vec<usize>, Vec<u8>)>,
    i64s: BTreeMap<String, (Vec<usize>, Vec<u8>)>,
}

impl Outputs {
    pub fn f32(&mut self, name: &str, shape: &[usize], data: &[f32]) {
        self.f32s.insert(name.into(), (shape.to_vec(), bytemuck::cast_slice(data).to_vec()));
    }
    pub fn i64(&mut self, name: &str, shape: &[usize], data: &[i64]) {
        self.i64s.insert(name.into(), (shape.to_vec(), bytemuck::cast_slice(data).to_vec()));
    }
    pub fn write(&self, path: &Path) -> Result<(), String> {
        let mut views = Vec::new();
        for (n, (s, b)) in &self.f32s {
            views.push((n.clone(), TensorView::new(Dtype::F32, s.clone(), b).map_err(|e| e.to_string())?));
        }
        for (n, (s, b)) in &self.i64s {
            views.push((n.clone(), TensorView::new(Dtype::I64, s.clone(), b).map_err(|e| e.to_string())?));
        }
        let bytes = safetensors::serialize(views, None).map_err(|e| e.to_string())?;
        write_atomic(path, &bytes)
    }
}

/// Writes `bytes` next to `path` and renames, so readers never see a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}
