//! Writes a FLUX.1-dev-shaped BFL safetensors file (hidden 3072, FLUX.1-dev tensor shapes) with a
//! chosen number of double and single blocks and deterministic pseudo-random bf16 values, streaming
//! (bounded memory). Used to measure the converter's peak memory:
//!
//!     cargo run --release -p x2edit-quantize --example make_flux_shaped -- OUT.safetensors 2 2
//!     /usr/bin/time -v target/release/x2edit-quantize convert --type q8_0 OUT.safetensors OUT.gguf

use std::io::Write;

fn shapes(double: usize, single: usize) -> Vec<(String, Vec<usize>)> {
    let h = 3072;
    let mut v: Vec<(String, Vec<usize>)> = Vec::new();
    let lin = |v: &mut Vec<(String, Vec<usize>)>, n: &str, o: usize, i: usize| {
        v.push((format!("{n}.weight"), vec![o, i]));
        v.push((format!("{n}.bias"), vec![o]));
    };
    lin(&mut v, "img_in", h, 64);
    lin(&mut v, "txt_in", h, 4096);
    for e in ["time_in", "guidance_in"] {
        lin(&mut v, &format!("{e}.in_layer"), h, 256);
        lin(&mut v, &format!("{e}.out_layer"), h, h);
    }
    lin(&mut v, "vector_in.in_layer", h, 768);
    lin(&mut v, "vector_in.out_layer", h, h);
    for n in 0..double {
        let b = format!("double_blocks.{n}");
        for s in ["img", "txt"] {
            lin(&mut v, &format!("{b}.{s}_mod.lin"), 6 * h, h);
            lin(&mut v, &format!("{b}.{s}_attn.qkv"), 3 * h, h);
            lin(&mut v, &format!("{b}.{s}_attn.proj"), h, h);
            lin(&mut v, &format!("{b}.{s}_mlp.0"), 4 * h, h);
            lin(&mut v, &format!("{b}.{s}_mlp.2"), h, 4 * h);
            v.push((format!("{b}.{s}_attn.norm.query_norm.scale"), vec![128]));
            v.push((format!("{b}.{s}_attn.norm.key_norm.scale"), vec![128]));
        }
    }
    for n in 0..single {
        let b = format!("single_blocks.{n}");
        lin(&mut v, &format!("{b}.linear1"), 3 * h + 4 * h, h);
        lin(&mut v, &format!("{b}.linear2"), h, h + 4 * h);
        lin(&mut v, &format!("{b}.modulation.lin"), 3 * h, h);
        v.push((format!("{b}.norm.query_norm.scale"), vec![128]));
        v.push((format!("{b}.norm.key_norm.scale"), vec![128]));
    }
    lin(&mut v, "final_layer.adaLN_modulation.1", 2 * h, h);
    lin(&mut v, "final_layer.linear", 64, h);
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: make_flux_shaped OUT.safetensors DOUBLE_BLOCKS SINGLE_BLOCKS");
        std::process::exit(2);
    }
    let (double, single) = (args[2].parse().expect("DOUBLE_BLOCKS"), args[3].parse().expect("SINGLE_BLOCKS"));
    let sh = shapes(double, single);
    let mut header = serde_json::Map::new();
    let mut off = 0usize;
    for (n, s) in &sh {
        let bytes = s.iter().product::<usize>() * 2;
        header.insert(n.clone(), serde_json::json!({"dtype": "BF16", "shape": s, "data_offsets": [off, off + bytes]}));
        off += bytes;
    }
    let mut h = serde_json::to_vec(&header).expect("json");
    h.resize(h.len().div_ceil(8) * 8, b' ');
    let f = std::fs::File::create(&args[1]).expect("create");
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    w.write_all(&(h.len() as u64).to_le_bytes()).unwrap();
    w.write_all(&h).unwrap();
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut buf = Vec::with_capacity(1 << 20);
    for (_, shape) in &sh {
        let mut left: usize = shape.iter().product();
        while left > 0 {
            let n = left.min(1 << 19);
            buf.clear();
            for _ in 0..n {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // Roughly N(0, 0.02): weights of a trained transformer have this scale.
                let x = ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.07;
                buf.extend_from_slice(&half::bf16::from_f32(x).to_le_bytes());
            }
            w.write_all(&buf).unwrap();
            left -= n;
        }
    }
    w.flush().unwrap();
    let params: usize = sh.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
    eprintln!("wrote {} ({} tensors, {} parameters, {} bytes of bf16)", args[1], sh.len(), params, off);
}
