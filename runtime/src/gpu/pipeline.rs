//! Compiled pipelines, cached by (kernel, variant).

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use x2edit_kernels::{source, Kernel, Variant};

pub(super) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
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
        let t0 = std::time::Instant::now();
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
            eprintln!("compiled {kernel:?} {variant:?} in {:.2}s ({} bytes of WGSL)", t0.elapsed().as_secs_f64(), src_len);
        }
        let p = Arc::new(Pipeline { pipeline, layout });
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
