//! Compiled pipelines, cached by (kernel, variant).

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use x2edit_kernels::{source, Kernel, Variant};

pub(super) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    /// Bindings the entry point uses (the automatic layout holds only these, so a launcher
    /// may offer more and the extras are dropped), each with whether it is written.
    pub bindings: Vec<(u32, bool)>,
}

/// The bindings of group 0 that `entry` statically uses, and whether each is writable
/// (naga reflection).
fn used_bindings(src: &str, entry: &str) -> Result<Vec<(u32, bool)>> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| Error::Gpu(format!("parsing {entry}: {e}")))?;
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::empty(), naga::valid::Capabilities::all())
        .validate(&module)
        .map_err(|e| Error::Gpu(format!("validating {entry}: {e}")))?;
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .ok_or_else(|| Error::Gpu(format!("no entry point {entry}")))?;
    let uses = info.get_entry_point(index);
    Ok(module
        .global_variables
        .iter()
        .filter(|(h, _)| !uses[*h].is_empty())
        .filter_map(|(_, v)| {
            let writable = matches!(v.space, naga::AddressSpace::Storage { access } if access.contains(naga::StorageAccess::STORE));
            v.binding.as_ref().map(|b| (b.binding, writable))
        })
        .collect())
}

#[derive(Default)]
pub(super) struct Cache {
    map: Mutex<HashMap<(Kernel, Variant), Arc<Pipeline>>>,
}

impl Cache {
    pub fn get(&self, device: &wgpu::Device, kernel: Kernel, variant: Variant) -> Result<Arc<Pipeline>> {
        let key = (kernel, variant);
        if let Some(p) = self.map.lock().map_err(|_| Error::Gpu("pipeline cache lock".into()))?.get(&key) {
            return Ok(p.clone());
        }
        let src = source(kernel, variant)?;
        let bindings = used_bindings(&src, kernel.entry())?;
        let t0 = crate::clock::Stopwatch::start();
        let src_len = src.len();
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.family().file()),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry()),
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry()),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = pollster_block(scope.pop()) {
            return Err(Error::Gpu(format!("compiling {kernel:?} {variant:?}: {e}")));
        }
        let layout = pipeline.get_bind_group_layout(0);
        if std::env::var_os("X2EDIT_TRACE_COMPILE").is_some() {
            eprintln!("compiled {kernel:?} {variant:?} in {:.2}s ({} bytes of WGSL)", t0.secs(), src_len);
        }
        let p = Arc::new(Pipeline { pipeline, layout, bindings });
        self.map.lock().map_err(|_| Error::Gpu("pipeline cache lock".into()))?.insert(key, p.clone());
        Ok(p)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn pollster_block<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

/// On the web an error scope resolves asynchronously; errors surface through the
/// uncaptured-error handler instead.
#[cfg(target_arch = "wasm32")]
fn pollster_block<F: std::future::Future>(_f: F) -> Option<wgpu::Error> {
    None
}
