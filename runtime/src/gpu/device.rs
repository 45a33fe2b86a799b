//! Adapter choice and device creation with the adapter's real limits and features.

use crate::error::{Error, Result};

/// Activation precision. f32 works everywhere; f16 needs SHADER_F16 (and halves activation
/// memory). Arithmetic and the residual streams stay f32 either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Precision> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            _ => Err(Error::invalid("precision", format!("'{s}' is not f32 or f16"))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    Vulkan,
    Metal,
    Dx12,
    Gl,
    BrowserWebGpu,
}

impl std::str::FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<BackendChoice> {
        match s.to_ascii_lowercase().as_str() {
            "vulkan" | "vk" => Ok(BackendChoice::Vulkan),
            "metal" | "mtl" => Ok(BackendChoice::Metal),
            "dx12" | "d3d12" => Ok(BackendChoice::Dx12),
            "gl" | "gles" | "opengl" => Ok(BackendChoice::Gl),
            "webgpu" => Ok(BackendChoice::BrowserWebGpu),
            _ => Err(Error::invalid("backend", format!("'{s}' is not vulkan, metal, dx12, gl or webgpu"))),
        }
    }
}

/// How to open the GPU. `from_env` reads X2EDIT_BACKEND, X2EDIT_ADAPTER (a substring of the
/// adapter name), X2EDIT_PRECISION (f32|f16) and X2EDIT_MAX_BINDING (bytes, to force a
/// smaller binding limit than the adapter's, as phones and browsers have).
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    pub backend: Option<BackendChoice>,
    pub adapter: Option<String>,
    /// None: f16 where the adapter has SHADER_F16, else f32.
    pub precision: Option<Precision>,
    pub max_binding: Option<u64>,
    /// Fill every new activation buffer with NaN (tests: unwritten elements show).
    pub poison: bool,
    /// Only the portable kernels, even where the adapter has subgroups (tests cover both;
    /// `X2EDIT_PORTABLE=1` works around a driver whose subgroups misbehave).
    pub portable: bool,
}

impl GpuOptions {
    pub fn from_env() -> Result<GpuOptions> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Ok(GpuOptions {
            backend: var("X2EDIT_BACKEND").map(|v| v.parse()).transpose()?,
            adapter: var("X2EDIT_ADAPTER"),
            precision: var("X2EDIT_PRECISION").map(|v| v.parse()).transpose()?,
            max_binding: var("X2EDIT_MAX_BINDING")
                .map(|v| v.parse::<u64>().map_err(|_| Error::invalid("X2EDIT_MAX_BINDING", format!("'{v}' is not a byte count"))))
                .transpose()?,
            poison: false,
            portable: var("X2EDIT_PORTABLE").is_some_and(|v| v != "0"),
        })
    }
}

/// What was opened, for reports and benchmarks.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, {}, {})", self.name, self.backend, self.device_type, self.driver)
    }
}

pub(super) struct Opened {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pub binding_limit: u64,
    pub f16: bool,
    pub subgroup: bool,
    pub precision: Precision,
}

fn backends(choice: Option<BackendChoice>) -> wgpu::Backends {
    match choice {
        None => wgpu::Backends::all(),
        Some(BackendChoice::Vulkan) => wgpu::Backends::VULKAN,
        Some(BackendChoice::Metal) => wgpu::Backends::METAL,
        Some(BackendChoice::Dx12) => wgpu::Backends::DX12,
        Some(BackendChoice::Gl) => wgpu::Backends::GL,
        Some(BackendChoice::BrowserWebGpu) => wgpu::Backends::BROWSER_WEBGPU,
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

async fn pick_adapter(instance: &wgpu::Instance, opts: &GpuOptions) -> Result<wgpu::Adapter> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let mut all = instance.enumerate_adapters(backends(opts.backend)).await;
        let names: Vec<String> = all.iter().map(|a| a.get_info().name).collect();
        if let Some(want) = &opts.adapter {
            let want = want.to_lowercase();
            all.retain(|a| a.get_info().name.to_lowercase().contains(&want));
        }
        all.sort_by_key(|a| rank(a.get_info().device_type));
        all.into_iter().next().ok_or_else(|| {
            Error::NoAdapter(if names.is_empty() {
                " (install a Vulkan driver, e.g. Mesa's lavapipe: apt-get install mesa-vulkan-drivers)".into()
            } else {
                format!(" matching '{}' among {names:?}", opts.adapter.clone().unwrap_or_default())
            })
        })
    }
    // The browser offers one adapter per request; names and backends are not ours to pick.
    #[cfg(target_arch = "wasm32")]
    {
        let _ = opts;
        instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter(format!(": {e}")))
    }
}

pub(super) async fn open(opts: &GpuOptions) -> Result<Opened> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends(opts.backend);
    let instance = wgpu::Instance::new(desc);
    let adapter = pick_adapter(&instance, opts).await?;
    let info = adapter.get_info();
    let summary = AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
    };
    let has_f16 = adapter.features().contains(wgpu::Features::SHADER_F16);
    let precision = match opts.precision {
        Some(Precision::F16) if !has_f16 => {
            return Err(Error::Unsupported(summary.name, "precision f16 (the adapter lacks SHADER_F16)".into()))
        }
        Some(p) => p,
        None if has_f16 => Precision::F16,
        None => Precision::F32,
    };
    let f16 = precision == Precision::F16;
    // Our subgroup kernels need subgroups of at least MIN_SUBGROUP lanes. Not in browsers yet:
    // their WGSL must say `enable subgroups;`, which naga (wgpu 30) cannot parse.
    let subgroup = !opts.portable
        && !cfg!(target_arch = "wasm32")
        && adapter.features().contains(wgpu::Features::SUBGROUP)
        && adapter.get_info().subgroup_min_size >= x2edit_kernels::MIN_SUBGROUP;
    let mut features = wgpu::Features::empty();
    if f16 {
        features |= wgpu::Features::SHADER_F16;
    }
    if subgroup {
        features |= wgpu::Features::SUBGROUP;
    }
    let limits = adapter.limits();
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("x2edit"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::Device { adapter: summary.name.clone(), reason: e.to_string() })?;
    let mut binding_limit = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
    if let Some(cap) = opts.max_binding {
        binding_limit = binding_limit.min(cap.max(1 << 16));
    }
    Ok(Opened { device, queue, adapter: summary, limits, binding_limit, f16, subgroup, precision })
}
