//! Times raw WGSL matmul formulations on the adapter (kernel design experiments, not a product
//! path): `cargo run --release --example wgsl_probe -- 512`.
use std::time::Instant;
use wgpu::util::DeviceExt;

const HEAD: &str = "struct P { m: u32, n: u32, k: u32, _p: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;
";

fn kernels() -> Vec<(&'static str, String, [u32; 3], u32)> {
    vec![
        ("naive 1x1", format!("{HEAD}@compute @workgroup_size(8,8,1) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            let n = g.x; let m = g.y; if (n >= p.n || m >= p.m) {{ return; }}
            var s = 0.0; for (var k = 0u; k < p.k; k++) {{ s = fma(X[m * p.k + k], W[n * p.k + k], s); }}
            Y[m * p.n + n] = s; }}"), [8, 8, 1], 1),
        ("4x4 lanes over n", format!("{HEAD}@compute @workgroup_size(8,8,1) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            let n0 = g.x * 4u; let m0 = g.y * 4u; if (n0 >= p.n || m0 >= p.m) {{ return; }}
            var a: array<vec4<f32>, 4>;
            for (var k = 0u; k < p.k; k++) {{
                let w = vec4<f32>(W[n0 * p.k + k], W[(n0 + 1u) * p.k + k], W[(n0 + 2u) * p.k + k], W[(n0 + 3u) * p.k + k]);
                a[0] = fma(vec4<f32>(X[m0 * p.k + k]), w, a[0]);
                a[1] = fma(vec4<f32>(X[(m0 + 1u) * p.k + k]), w, a[1]);
                a[2] = fma(vec4<f32>(X[(m0 + 2u) * p.k + k]), w, a[2]);
                a[3] = fma(vec4<f32>(X[(m0 + 3u) * p.k + k]), w, a[3]);
            }}
            for (var r = 0u; r < 4u; r++) {{ for (var c = 0u; c < 4u; c++) {{ Y[(m0 + r) * p.n + n0 + c] = a[r][c]; }} }} }}"), [8, 8, 1], 4),
        ("4x4 k-vec4", format!("{HEAD}@compute @workgroup_size(8,8,1) fn main(@builtin(global_invocation_id) g: vec3<u32>) {{
            let n0 = g.x * 4u; let m0 = g.y * 4u; if (n0 >= p.n || m0 >= p.m) {{ return; }}
            var a: array<f32, 16>;
            for (var k = 0u; k < p.k; k += 4u) {{
                var x: array<vec4<f32>, 4>; var w: array<vec4<f32>, 4>;
                for (var i = 0u; i < 4u; i++) {{
                    let xb = (m0 + i) * p.k + k; let wb = (n0 + i) * p.k + k;
                    x[i] = vec4<f32>(X[xb], X[xb + 1u], X[xb + 2u], X[xb + 3u]);
                    w[i] = vec4<f32>(W[wb], W[wb + 1u], W[wb + 2u], W[wb + 3u]);
                }}
                for (var r = 0u; r < 4u; r++) {{ for (var c = 0u; c < 4u; c++) {{ a[r * 4u + c] += dot(x[r], w[c]); }} }}
            }}
            for (var r = 0u; r < 4u; r++) {{ for (var c = 0u; c < 4u; c++) {{ Y[(m0 + r) * p.n + n0 + c] = a[r * 4u + c]; }} }} }}"), [8, 8, 1], 4),
    ]
}

fn main() {
    let s: u32 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(256);
    let (m, n, k) = (s, s, s);
    let inst = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapter = pollster::block_on(inst.request_adapter(&Default::default())).unwrap();
    let (dev, q) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    let mk = |data: &[f32], usage| dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(data), usage });
    let x = mk(&vec![0.5; (m * k) as usize], wgpu::BufferUsages::STORAGE);
    let w = mk(&vec![0.25; (n * k) as usize], wgpu::BufferUsages::STORAGE);
    let y = mk(&vec![0.0; (m * n) as usize], wgpu::BufferUsages::STORAGE);
    let params = dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents: bytemuck::cast_slice(&[m, n, k, 0]), usage: wgpu::BufferUsages::UNIFORM });
    for (name, src, _, per) in kernels() {
        let module = dev.create_shader_module(wgpu::ShaderModuleDescriptor { label: None, source: wgpu::ShaderSource::Wgsl(src.into()) });
        let pipe = dev.create_compute_pipeline(&wgpu::ComputePipelineDescriptor { label: None, layout: None, module: &module, entry_point: Some("main"), compilation_options: Default::default(), cache: None });
        let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipe.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: x.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: w.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 3, resource: y.as_entire_binding() },
            ],
        });
        let run = || {
            let mut enc = dev.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipe);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(n / per / 8, m / per / 8, 1);
            }
            q.submit([enc.finish()]);
            dev.poll(wgpu::PollType::wait_indefinitely()).unwrap();
        };
        run();
        let t = Instant::now();
        run();
        let secs = t.elapsed().as_secs_f64();
        println!("{name:<20} {s}^3: {:.1} ms, {:.2} GFLOP/s", secs * 1e3, 2.0 * (m * n * k) as f64 / secs / 1e9);
    }
}
