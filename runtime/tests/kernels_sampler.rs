//! The flow sampler's Euler step and the sinusoidal timestep embedding.

mod common;
use common::*;
use x2edit_kernels::reference;
use x2edit_runtime::ops;

both_paths!(euler_step_f32, euler_step_f16, |path| {
    let gpu = gpu(path);
    let mut rng = Rng::new(1);
    let n = 1000 * 64 + 3;
    let x = rng.vec(n, 1.0);
    let v = round(path, &rng.vec(n, 1.0));
    let xt = gpu.upload_f32(&x, &[n]).unwrap();
    let vt = gpu.upload_act(&v, &[n], act_dtype(path)).unwrap();
    ops::euler_step(gpu, &xt, &vt, 0.75, 0.5).unwrap();
    let mut want = x.clone();
    reference::euler_step(&mut want, &v, 0.75, 0.5);
    assert_close("euler step", &gpu.read_f32(&xt).unwrap(), &want, 1e-7);
});

#[test]
fn timestep_embedding_matches_diffusers() {
    // FLUX: 256 channels, max period 1e4, cos first, t = sigma * 1000 up to 1000.
    let gpu = gpu(Path::F32);
    let freqs = reference::timestep_freqs(128, 10000.0, 0.0);
    let ft = gpu.upload_f32(&freqs, &[128]).unwrap();
    for t in [0.0, 1.0, 252.0, 750.0, 1000.0, 3504.0] {
        let y = ops::timestep_embedding(gpu, t, &ft, true).unwrap();
        let want = reference::timestep_embedding(t, &freqs, true);
        assert_close(&format!("timestep embedding t={t}"), &gpu.read_f32(&y).unwrap(), &want, 2e-6);
    }
}
