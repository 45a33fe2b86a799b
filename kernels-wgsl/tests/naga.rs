//! Every kernel variant parses and validates with naga and translates to SPIR-V, MSL and
//! HLSL, so Vulkan, Metal and DX12 breakage shows on Linux without a device.

use naga::back::{hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use x2edit_kernels::{source, Kernel};

fn check(kernel: Kernel, v: x2edit_kernels::Variant) -> Result<(), String> {
    let src = source(kernel, v).map_err(|e| e.to_string())?;
    let module = naga::front::wgsl::parse_str(&src).map_err(|e| e.emit_to_string(&src))?;
    let caps = Capabilities::SHADER_FLOAT16 | Capabilities::SUBGROUP;
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string(&src))?;
    let entry = module
        .entry_points
        .iter()
        .position(|e| e.name == kernel.entry())
        .ok_or_else(|| format!("no entry point {}", kernel.entry()))?;
    let _ = entry;
    spv::write_vec(&module, &info, &spv::Options::default(), None).map_err(|e| format!("spv: {e}"))?;
    let mut msl_out = String::new();
    msl::Writer::new(&mut msl_out)
        .write(&module, &info, &msl::Options::default(), &msl::PipelineOptions::default())
        .map_err(|e| format!("msl: {e}"))?;
    let mut hlsl_out = String::new();
    hlsl::Writer::new(&mut hlsl_out, &hlsl::Options::default(), &hlsl::PipelineOptions::default())
        .write(&module, &info, None)
        .map_err(|e| format!("hlsl: {e}"))?;
    Ok(())
}

#[test]
fn naga_validate_all() {
    let mut failures = Vec::new();
    let mut count = 0;
    for &k in Kernel::ALL {
        for v in k.variants(true) {
            count += 1;
            if let Err(e) = check(k, v) {
                failures.push(format!("{k:?} {v:?}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} variants failed:\n{}", failures.len(), failures.join("\n"));
    println!("{count} kernel variants validated and translated to SPIR-V, MSL and HLSL");
}
