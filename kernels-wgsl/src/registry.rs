//! Every kernel, its family (= WGSL file), entry point and the variants it comes in.

/// Storage type of activations. Arithmetic is always f32; f16 halves memory and bandwidth
/// and needs the SHADER_F16 feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Act {
    F32,
    F16,
}

impl Act {
    pub fn wgsl(self) -> &'static str {
        match self {
            Act::F32 => "f32",
            Act::F16 => "f16",
        }
    }
    pub fn bytes(self) -> usize {
        match self {
            Act::F32 => 4,
            Act::F16 => 2,
        }
    }
}

/// Storage format of a weight matrix on the GPU (the ggml types we decode in-kernel).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightFormat {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q4_K,
    Q5_K,
    Q6_K,
}

impl WeightFormat {
    pub const ALL: [WeightFormat; 11] = [
        WeightFormat::F32,
        WeightFormat::F16,
        WeightFormat::BF16,
        WeightFormat::Q8_0,
        WeightFormat::Q4_0,
        WeightFormat::Q4_1,
        WeightFormat::Q5_0,
        WeightFormat::Q5_1,
        WeightFormat::Q4_K,
        WeightFormat::Q5_K,
        WeightFormat::Q6_K,
    ];
    pub const FLOATS: [WeightFormat; 3] = [WeightFormat::F32, WeightFormat::F16, WeightFormat::BF16];

    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::F16 => "f16",
            WeightFormat::BF16 => "bf16",
            WeightFormat::Q8_0 => "q8_0",
            WeightFormat::Q4_0 => "q4_0",
            WeightFormat::Q4_1 => "q4_1",
            WeightFormat::Q5_0 => "q5_0",
            WeightFormat::Q5_1 => "q5_1",
            WeightFormat::Q4_K => "q4_k",
            WeightFormat::Q5_K => "q5_k",
            WeightFormat::Q6_K => "q6_k",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, WeightFormat::F32 | WeightFormat::F16 | WeightFormat::BF16)
    }

    /// Elements per block (1 for float formats).
    pub fn block_elems(self) -> usize {
        match self {
            WeightFormat::F32 | WeightFormat::F16 | WeightFormat::BF16 => 1,
            WeightFormat::Q4_K | WeightFormat::Q5_K | WeightFormat::Q6_K => 256,
            _ => 32,
        }
    }

    /// Bytes per block in a GGUF file (ggml's layout).
    pub fn file_block_bytes(self) -> usize {
        match self {
            WeightFormat::F32 => 4,
            WeightFormat::F16 | WeightFormat::BF16 => 2,
            WeightFormat::Q8_0 => 34,
            WeightFormat::Q4_0 => 18,
            WeightFormat::Q4_1 => 20,
            WeightFormat::Q5_0 => 22,
            WeightFormat::Q5_1 => 24,
            WeightFormat::Q4_K => 144,
            WeightFormat::Q5_K => 176,
            WeightFormat::Q6_K => 210,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Matmul,
    MatmulSubgroup,
    Gather,
    Attention,
    AttentionSubgroup,
    Norm,
    Rope,
    Elementwise,
    Reduce,
    Moe,
    Conv,
    ConvSubgroup,
    Image,
    Sampler,
}

impl Family {
    /// Families written for subgroups of at least `MIN_SUBGROUP` lanes (the SUBGROUP feature).
    pub fn needs_subgroups(self) -> bool {
        matches!(self, Family::MatmulSubgroup | Family::AttentionSubgroup | Family::ConvSubgroup)
    }

    /// The WGSL file (under `wgsl/`) that holds this family.
    pub fn file(self) -> &'static str {
        match self {
            Family::Matmul => "matmul",
            Family::MatmulSubgroup => "matmul_sg",
            Family::Gather => "gather",
            Family::Attention => "attention",
            Family::AttentionSubgroup => "attention_sg",
            Family::Norm => "norm",
            Family::Rope => "rope",
            Family::Elementwise => "elementwise",
            Family::Reduce => "reduce",
            Family::Moe => "moe",
            Family::Conv => "conv",
            Family::ConvSubgroup => "conv_sg",
            Family::Image => "image",
            Family::Sampler => "sampler",
        }
    }
}

/// One compiled instance of a kernel: activation types in and out, weight format, and a
/// compile-time width class (attention's maximum head dim), 0 where unused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    pub input: Act,
    pub output: Act,
    pub weight: Option<WeightFormat>,
    pub width: u32,
}

impl Variant {
    pub fn new(act: Act) -> Variant {
        Variant { input: act, output: act, weight: None, width: 0 }
    }
    pub fn io(input: Act, output: Act) -> Variant {
        Variant { input, output, weight: None, width: 0 }
    }
    pub fn with_weight(self, w: WeightFormat) -> Variant {
        Variant { weight: Some(w), ..self }
    }
    pub fn with_width(self, width: u32) -> Variant {
        Variant { width, ..self }
    }
    pub fn needs_f16(&self) -> bool {
        self.input == Act::F16 || self.output == Act::F16
    }
}

/// What a kernel's source depends on, which decides its valid variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Needs {
    /// Uses neither In nor Out: one f32 variant.
    Nothing,
    /// Reads In and/or writes Out.
    Acts,
    /// Acts plus any weight format.
    AnyWeight,
    /// Acts plus a float weight format (element access).
    FloatWeight,
    /// Acts plus a width class.
    Width,
}

macro_rules! kernels {
    ($($k:ident => ($fam:ident, $entry:literal, $needs:ident)),* $(,)?) => {
        /// Every kernel of the library.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kernel { $($k),* }
        impl Kernel {
            pub const ALL: &'static [Kernel] = &[$(Kernel::$k),*];
            pub fn family(self) -> Family { match self { $(Kernel::$k => Family::$fam),* } }
            pub fn entry(self) -> &'static str { match self { $(Kernel::$k => $entry),* } }
            fn needs(self) -> Needs { match self { $(Kernel::$k => Needs::$needs),* } }
        }
    };
}

kernels! {
    Matmul => (Matmul, "main", AnyWeight),
    MatmulGrouped => (Matmul, "grouped", AnyWeight),
    MatmulSubgroup => (MatmulSubgroup, "main", AnyWeight),
    MatmulGroupedSubgroup => (MatmulSubgroup, "grouped", AnyWeight),
    GatherRows => (Gather, "main", AnyWeight),
    Attention => (Attention, "main", Width),
    AttentionSubgroup => (AttentionSubgroup, "main", Width),
    RmsNorm => (Norm, "rms_norm", Acts),
    LayerNorm => (Norm, "layer_norm", Acts),
    LayerNormModulate => (Norm, "layer_norm_modulate", Acts),
    RopeFlux => (Rope, "flux", Acts),
    RopeHalf => (Rope, "half", Acts),
    Map => (Elementwise, "map", Acts),
    Binary => (Elementwise, "binary", Acts),
    GatedResidual => (Elementwise, "gated_residual", Acts),
    SwiGlu => (Elementwise, "swiglu", Acts),
    Fill => (Elementwise, "fill", Nothing),
    Softmax => (Reduce, "softmax", Acts),
    MeanRows => (Reduce, "mean_rows", Acts),
    Argmax => (Reduce, "argmax", Acts),
    MoeTop2 => (Moe, "top2", Nothing),
    MoeOffsets => (Moe, "offsets", Nothing),
    MoeScatter => (Moe, "scatter", Nothing),
    MoeCombine => (Moe, "combine", Acts),
    MoeCombineDense => (Moe, "combine_dense", Acts),
    Conv2d => (Conv, "conv2d", FloatWeight),
    Conv2dSubgroup => (ConvSubgroup, "conv2d", FloatWeight),
    GroupNormStats => (Image, "group_norm_stats", Acts),
    GroupNormApply => (Image, "group_norm_apply", Acts),
    Upsample2x => (Image, "upsample2x", Acts),
    EulerStep => (Sampler, "euler_step", Acts),
    TimestepEmbedding => (Sampler, "timestep_embedding", Acts),
}

impl Kernel {
    /// Width classes of a `Needs::Width` kernel.
    fn widths(self) -> impl Iterator<Item = u32> {
        let max = if self == Kernel::AttentionSubgroup { crate::ATTENTION_SG_MAX_WIDTH } else { u32::MAX };
        crate::ATTENTION_WIDTHS.into_iter().filter(move |&w| w <= max)
    }

    /// Whether `v` is a valid instance of this kernel.
    pub fn accepts(self, v: &Variant) -> bool {
        let weight_ok = match (self.needs(), v.weight) {
            (Needs::AnyWeight, Some(_)) => true,
            (Needs::FloatWeight, Some(w)) => w.is_float(),
            (Needs::AnyWeight | Needs::FloatWeight, None) => false,
            (_, Some(_)) => false,
            (_, None) => true,
        };
        let width_ok = match self.needs() {
            Needs::Width => self.widths().any(|w| w == v.width),
            _ => v.width == 0,
        };
        let acts_ok = self.needs() != Needs::Nothing || (v.input == Act::F32 && v.output == Act::F32);
        weight_ok && width_ok && acts_ok
    }

    /// Every variant the tests must cover: all weight formats and widths, with f32
    /// activations and, where `f16` is available, the f16 and mixed activation pairs.
    pub fn variants(self, f16: bool) -> Vec<Variant> {
        let mut acts = vec![(Act::F32, Act::F32)];
        if f16 && self.needs() != Needs::Nothing {
            acts.extend([(Act::F16, Act::F16), (Act::F32, Act::F16), (Act::F16, Act::F32)]);
        }
        let mut out = Vec::new();
        for (i, o) in acts {
            let base = Variant::io(i, o);
            match self.needs() {
                Needs::Nothing | Needs::Acts => out.push(base),
                Needs::AnyWeight => out.extend(WeightFormat::ALL.iter().map(|&w| base.with_weight(w))),
                Needs::FloatWeight => out.extend(WeightFormat::FLOATS.iter().map(|&w| base.with_weight(w))),
                Needs::Width => out.extend(self.widths().map(|w| base.with_width(w))),
            }
        }
        out
    }
}
