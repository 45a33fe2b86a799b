//! ggml tensor types and the tensor descriptor shared by every format.

use crate::error::{FormatError, Result};
use std::fmt;
use std::str::FromStr;

/// A ggml element type. The ids are ggml's (`ggml.h` `enum ggml_type`), so they go into GGUF unchanged.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    I8,
    I16,
    I32,
    I64,
    F64,
    BF16,
}

/// Super-block size of the K-quants.
pub const QK_K: usize = 256;

impl GgmlType {
    pub const ALL: [GgmlType; 18] = [
        GgmlType::F32, GgmlType::F16, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
        GgmlType::Q8_0, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K,
        GgmlType::I8, GgmlType::I16, GgmlType::I32, GgmlType::I64, GgmlType::F64, GgmlType::BF16,
    ];

    pub fn id(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0, F16 => 1, Q4_0 => 2, Q4_1 => 3, Q5_0 => 6, Q5_1 => 7, Q8_0 => 8, Q2_K => 10,
            Q3_K => 11, Q4_K => 12, Q5_K => 13, Q6_K => 14, I8 => 24, I16 => 25, I32 => 26, I64 => 27,
            F64 => 28, BF16 => 30,
        }
    }

    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.id() == id)
    }

    /// Elements per block (1 for plain types).
    pub fn block_elems(self) -> usize {
        use GgmlType::*;
        match self {
            Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 => 32,
            Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => QK_K,
            _ => 1,
        }
    }

    /// Bytes per block (`ggml-common.h` sizes; checked against the block structs in `codec`).
    pub fn block_bytes(self) -> usize {
        use GgmlType::*;
        match self {
            F32 | I32 => 4,
            F16 | BF16 | I16 => 2,
            I8 => 1,
            I64 | F64 => 8,
            Q4_0 => 18,
            Q4_1 => 20,
            Q5_0 => 22,
            Q5_1 => 24,
            Q8_0 => 34,
            Q2_K => 84,
            Q3_K => 110,
            Q4_K => 144,
            Q5_K => 176,
            Q6_K => 210,
        }
    }

    /// Bytes of a row of `n` elements; an error when `n` is not a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Result<usize> {
        let be = self.block_elems();
        if !n.is_multiple_of(be) {
            return Err(FormatError::RowNotDivisible { tensor: String::new(), ty: self.name(), row: n, block: be });
        }
        (n / be).checked_mul(self.block_bytes()).ok_or_else(|| FormatError::Invalid {
            what: format!("{} row", self.name()),
            detail: format!("{n} elements overflow the address space"),
        })
    }

    /// Bytes of `n_elems` elements whose innermost dimension is `row` (checked).
    pub fn tensor_bytes(self, row: usize, n_elems: usize) -> Result<usize> {
        if row == 0 {
            return Ok(0);
        }
        let rows = n_elems / row;
        self.row_bytes(row)?.checked_mul(rows).ok_or_else(|| FormatError::Invalid {
            what: format!("{} tensor", self.name()),
            detail: format!("{n_elems} elements overflow the address space"),
        })
    }

    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "f32", F16 => "f16", Q4_0 => "q4_0", Q4_1 => "q4_1", Q5_0 => "q5_0", Q5_1 => "q5_1",
            Q8_0 => "q8_0", Q2_K => "q2_k", Q3_K => "q3_k", Q4_K => "q4_k", Q5_K => "q5_k", Q6_K => "q6_k",
            I8 => "i8", I16 => "i16", I32 => "i32", I64 => "i64", F64 => "f64", BF16 => "bf16",
        }
    }

    pub fn is_quantized(self) -> bool {
        self.block_elems() > 1
    }

    /// Types `convert --type` and `--rule` accept (those we can quantize to).
    pub fn is_target(self) -> bool {
        use GgmlType::*;
        matches!(self, F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4_K | Q5_K | Q6_K)
    }

    /// llama.cpp `general.file_type` (`llama_ftype`) for a file mostly of this type.
    pub fn file_type(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0, F16 => 1, Q4_0 => 2, Q4_1 => 3, Q8_0 => 7, Q5_0 => 8, Q5_1 => 9, Q2_K => 10,
            Q3_K => 12, Q4_K => 15, Q5_K => 17, Q6_K => 18, BF16 => 32,
            I8 | I16 | I32 | I64 | F64 => 0,
        }
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GgmlType {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        GgmlType::ALL
            .iter()
            .copied()
            .find(|t| t.is_target() && t.name() == lower)
            .ok_or_else(|| FormatError::Invalid {
                what: "type".into(),
                detail: format!("`{s}` is not one of q8_0|q4_0|q4_1|q5_0|q5_1|q4_k|q5_k|q6_k|f16|bf16|f32"),
            })
    }
}

/// One tensor of a checkpoint. `shape` is always PyTorch/numpy order (outermost first): a Linear weight
/// is `[out, in]`. GGUF's reversed `ne` order is converted only in `gguf::ne_to_shape`/`shape_to_ne`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub ty: GgmlType,
    pub shape: Vec<usize>,
}

impl TensorInfo {
    pub fn n_elems(&self) -> usize {
        self.shape.iter().product()
    }
    /// Innermost dimension (ggml's ne0); 1 for scalars.
    pub fn row_len(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }
    /// Bytes of the data in its stored type.
    pub fn n_bytes(&self) -> Result<usize> {
        self.ty.tensor_bytes(self.row_len(), self.n_elems()).map_err(|e| match e {
            FormatError::RowNotDivisible { ty, row, block, .. } => {
                FormatError::RowNotDivisible { tensor: self.name.clone(), ty, row, block }
            }
            e => e,
        })
    }
}

/// Checked product of dimensions; None on overflow.
pub(crate) fn checked_elems(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}
