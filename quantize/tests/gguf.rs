//! GGUF reader and writer: gguf-py's file read exactly, every metadata type round-tripped, prefix
//! parsing, alignment and tensor tables in any order.

mod common;
use common::*;
use x2edit_quantize::gguf::reader::{self, parse_prefix, HeaderParse};
use x2edit_quantize::gguf::writer::{encode_header, GgufWriter};
use x2edit_quantize::{Checkpoint, GgmlType, Metadata, TensorInfo, Value, ValueType};

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn gguf_reads_gguf_py_file_exactly() {
    let ck = Checkpoint::open(&fixtures().join("all_metadata_types.gguf")).unwrap();
    let md = ck.metadata();
    assert_eq!(md.get("general.architecture"), Some(&Value::String("testarch".into())));
    assert_eq!(md.get("t.u8"), Some(&Value::U8(200)));
    assert_eq!(md.get("t.i8"), Some(&Value::I8(-100)));
    assert_eq!(md.get("t.u16"), Some(&Value::U16(60000)));
    assert_eq!(md.get("t.i16"), Some(&Value::I16(-30000)));
    assert_eq!(md.get("t.u32"), Some(&Value::U32(4_000_000_000)));
    assert_eq!(md.get("t.i32"), Some(&Value::I32(-2_000_000_000)));
    assert_eq!(md.get("t.f32"), Some(&Value::F32(3.5)));
    assert_eq!(md.get("t.u64"), Some(&Value::U64(18_000_000_000_000_000_000)));
    assert_eq!(md.get("t.i64"), Some(&Value::I64(-9_000_000_000_000_000_000)));
    assert_eq!(md.get("t.f64"), Some(&Value::F64(-2.25)));
    assert_eq!(md.get("t.bool"), Some(&Value::Bool(true)));
    assert_eq!(md.get("t.string"), Some(&Value::String("héllo wörld".into())));
    assert_eq!(md.get("t.arr_i32"), Some(&Value::i32s([1, -2, 3])));
    assert_eq!(md.get("t.arr_str"), Some(&Value::strings(["a", "bc", ""])));
    assert_eq!(md.get("t.arr_f32"), Some(&Value::Array(ValueType::F32, vec![Value::F32(0.5), Value::F32(-1.0)])));
    assert_eq!(md.get("t.arr_bool"), Some(&Value::Array(ValueType::Bool, vec![Value::Bool(true), Value::Bool(false), Value::Bool(true)])));
    assert_eq!(md.get("t.arr_u64"), Some(&Value::Array(ValueType::U64, vec![Value::U64(1), Value::U64(2), Value::U64(1 << 63)])));
    assert_eq!(md.get("t.arr_u8"), Some(&Value::Array(ValueType::U8, vec![Value::U8(0), Value::U8(255)])));
    assert_eq!(md.get("t.arr_nested"), Some(&Value::Array(ValueType::Array, vec![Value::i32s([1, 2]), Value::i32s([3])])));

    let shapes: Vec<(&str, GgmlType, Vec<usize>)> = ck.tensors().iter().map(|t| (t.name.as_str(), t.ty, t.shape.clone())).collect();
    assert_eq!(shapes, vec![
        ("plain_f32", GgmlType::F32, vec![2, 3, 4]),
        ("plain_f16", GgmlType::F16, vec![3, 4]),
        ("quant_q8_0", GgmlType::Q8_0, vec![3, 64]),
        ("quant_q4_k", GgmlType::Q4_K, vec![2, 256]),
        ("scalar_like", GgmlType::F32, vec![1]),
    ]);
    let fx = |n: &str| f32s(&std::fs::read(fixtures().join(n)).unwrap());
    assert_eq!(ck.to_f32("plain_f32").unwrap(), fx("gguf_expect_plain_f32.f32"));
    let half: Vec<f32> = fx("gguf_expect_plain_f32.f32")[..12].iter().map(|x| half_round(x * 0.5)).collect();
    assert_eq!(ck.to_f32("plain_f16").unwrap(), half);
    assert_eq!(ck.to_f32("quant_q8_0").unwrap(), fx("gguf_expect_quant_q8_0.f32"));
    let q4k: Vec<u32> = ck.to_f32("quant_q4_k").unwrap().iter().map(|x| x.to_bits()).collect();
    let exp: Vec<u32> = fx("gguf_expect_quant_q4_k.f32").iter().map(|x| x.to_bits()).collect();
    assert_eq!(q4k, exp);
    assert_eq!(ck.to_f32("scalar_like").unwrap(), vec![7.0]);
}

fn half_round(x: f32) -> f32 {
    half::f16::from_f32(x).to_f32()
}

fn all_types_metadata() -> Metadata {
    let mut md = Metadata::new();
    md.set("general.architecture", Value::String("test".into()));
    md.set("general.alignment", Value::U32(64));
    md.set("u8", Value::U8(7));
    md.set("i8", Value::I8(-7));
    md.set("u16", Value::U16(65535));
    md.set("i16", Value::I16(-32768));
    md.set("u32", Value::U32(u32::MAX));
    md.set("i32", Value::I32(i32::MIN));
    md.set("f32", Value::F32(-0.0));
    md.set("bool", Value::Bool(false));
    md.set("string", Value::String("ünï\u{1F600}".into()));
    md.set("empty_string", Value::String(String::new()));
    md.set("u64", Value::U64(u64::MAX));
    md.set("i64", Value::I64(i64::MIN));
    md.set("f64", Value::F64(f64::MIN_POSITIVE));
    md.set("arr_empty", Value::Array(ValueType::U32, vec![]));
    md.set("arr_f64", Value::Array(ValueType::F64, vec![Value::F64(1.5), Value::F64(-3.0)]));
    md.set("arr_i16", Value::Array(ValueType::I16, vec![Value::I16(-1), Value::I16(2)]));
    md.set("arr_nested", Value::Array(ValueType::Array, vec![Value::strings(["x"]), Value::Array(ValueType::Bool, vec![Value::Bool(true)])]));
    md
}

#[test]
fn gguf_roundtrip_all_metadata_types() {
    let md = all_types_metadata();
    let tensors = vec![
        TensorInfo { name: "a".into(), ty: GgmlType::F32, shape: vec![3] },
        TensorInfo { name: "empty".into(), ty: GgmlType::F32, shape: vec![0, 4] },
        TensorInfo { name: "b".into(), ty: GgmlType::Q8_0, shape: vec![2, 32] },
        TensorInfo { name: "c".into(), ty: GgmlType::BF16, shape: vec![1, 2, 3, 5] },
    ];
    let mut w = GgufWriter::new(Vec::new(), "mem", &md, tensors.clone()).unwrap();
    w.write_data(&f32_bytes(&[1.0, 2.0, 3.0])).unwrap();
    let mut q = vec![0u8; 68];
    x2edit_quantize::codec::quantize_row(GgmlType::Q8_0, &data("b", 64), &mut q).unwrap();
    // Chunks of any size.
    w.write_data(&q[..5]).unwrap();
    w.write_data(&q[5..]).unwrap();
    assert!(w.write_data(&[0u8; 61]).is_err(), "c holds 60 bytes");
    w.write_data(&[0u8; 60]).unwrap();
    let bytes = w.finish().unwrap();
    let h = reader::parse("mem", &bytes).unwrap();
    assert_eq!(h.alignment, 64);
    assert!(h.tensors.iter().all(|t| t.offset % 64 == 0));
    assert_eq!(h.data_offset % 64, 0);
    let back: Vec<(&str, &Value)> = h.metadata.iter().collect();
    let orig: Vec<(&str, &Value)> = md.iter().collect();
    assert_eq!(back, orig);
    assert_eq!(h.tensors.iter().map(|t| t.info.clone()).collect::<Vec<_>>(), tensors);
    let ck = Checkpoint::from_bytes("mem", bytes).unwrap();
    assert_eq!(ck.to_f32("a").unwrap(), vec![1.0, 2.0, 3.0]);
    assert_eq!(ck.data("b").unwrap().as_ref(), &q[..]);
    assert_eq!(ck.to_f32("empty").unwrap(), Vec::<f32>::new());
}

#[test]
fn gguf_writer_rejects_missing_data_and_heterogeneous_arrays() {
    let t = vec![TensorInfo { name: "a".into(), ty: GgmlType::F32, shape: vec![2] }];
    let w = GgufWriter::new(Vec::new(), "mem", &Metadata::new(), t.clone()).unwrap();
    assert!(w.finish().is_err());
    let mut md = Metadata::new();
    md.set("bad", Value::Array(ValueType::U8, vec![Value::U8(1), Value::I8(1)]));
    assert!(GgufWriter::new(Vec::new(), "mem", &md, t).is_err());
    let q = vec![TensorInfo { name: "q".into(), ty: GgmlType::Q4_0, shape: vec![2, 30] }];
    assert!(GgufWriter::new(Vec::new(), "mem", &Metadata::new(), q).is_err());
}

#[test]
fn gguf_prefix_parse_says_how_many_bytes_it_needs() {
    let bytes = std::fs::read(fixtures().join("all_metadata_types.gguf")).unwrap();
    let full = reader::parse("f", &bytes).unwrap();
    let mut n = 0usize;
    let mut steps = 0;
    loop {
        match parse_prefix("f", &bytes[..n]).unwrap() {
            HeaderParse::NeedMore { total } => {
                assert!(total as usize > n && total as usize <= bytes.len());
                n = total as usize;
                steps += 1;
            }
            HeaderParse::Done(h) => {
                assert_eq!(h.data_offset, full.data_offset);
                assert_eq!(h.tensors.len(), full.tensors.len());
                reader::validate_extents("f", &h, bytes.len() as u64).unwrap();
                break;
            }
        }
    }
    assert!(steps > 3, "grows by what it needs ({steps} steps)");
    assert!(n as u64 <= full.data_offset);
}

#[test]
fn gguf_tensor_table_in_any_order() {
    // Data for "second" lies before the data for "first".
    let a = TensorInfo { name: "first".into(), ty: GgmlType::F32, shape: vec![2] };
    let b = TensorInfo { name: "second".into(), ty: GgmlType::F32, shape: vec![3] };
    let mut bytes = encode_header(&Metadata::new(), &[(a, 32), (b, 0)]).unwrap();
    bytes.resize(bytes.len().div_ceil(32) * 32, 0);
    let mut data = vec![0u8; 64];
    data[..12].copy_from_slice(&f32_bytes(&[4.0, 5.0, 6.0]));
    data[32..40].copy_from_slice(&f32_bytes(&[1.0, 2.0]));
    bytes.extend(data);
    let ck = Checkpoint::from_bytes("mem", bytes).unwrap();
    assert_eq!(ck.to_f32("first").unwrap(), vec![1.0, 2.0]);
    assert_eq!(ck.to_f32("second").unwrap(), vec![4.0, 5.0, 6.0]);
}

#[test]
fn gguf_types_ids_and_sizes_match_ggml() {
    for ty in GgmlType::ALL {
        assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
    }
    assert_eq!(GgmlType::from_id(4), None);
    assert_eq!("Q4_K".parse::<GgmlType>().unwrap(), GgmlType::Q4_K);
    assert!("q2_k".parse::<GgmlType>().is_err(), "not a conversion target");
    assert_eq!(GgmlType::Q6_K.row_bytes(512).unwrap(), 420);
    assert!(GgmlType::Q8_0.row_bytes(33).is_err());
}
