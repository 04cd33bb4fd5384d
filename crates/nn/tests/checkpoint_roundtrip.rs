//! Checkpoints: exact round trips, dtype conversion, and validation errors.

use std::collections::BTreeMap;
use tapegrad_nn::checkpoint::{
    check_tensors, from_bytes, load_into, load_safetensors, save_safetensors, to_bytes,
    CheckpointError,
};
use tapegrad_tensor::Tensor;

/// A scratch file path unique to this test process and `name`.
fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "tapegrad-ckpt-{}-{name}.safetensors",
        std::process::id()
    ))
}

fn bits32(t: &Tensor<f32>) -> Vec<u32> {
    t.to_vec().iter().map(|x| x.to_bits()).collect()
}

fn model_f32() -> Vec<(String, Tensor<f32>)> {
    let w = [1.5, -0.0, f32::MIN_POSITIVE / 4.0, f32::MAX, -1e-7, 0.1];
    vec![
        (
            "layers.0.weight".into(),
            Tensor::from_vec(w.to_vec(), &[2, 3]),
        ),
        (
            "layers.0.bias".into(),
            Tensor::from_vec(vec![0.25, -3.0], &[2]),
        ),
        ("temperature".into(), Tensor::scalar(0.7)),
        ("empty".into(), Tensor::zeros(&[0, 4])),
    ]
}

#[test]
fn f32_round_trips_bit_for_bit_through_a_file() {
    let path = scratch("f32");
    let model = model_f32();
    save_safetensors(&path, &model).unwrap();
    let loaded = load_safetensors::<f32>(&path).unwrap();
    assert_eq!(loaded.len(), model.len());
    for (name, t) in &model {
        assert_eq!(loaded[name].shape(), t.shape(), "{name}");
        assert_eq!(bits32(&loaded[name]), bits32(t), "{name}");
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn f64_round_trips_bit_for_bit_in_memory() {
    let values = vec![std::f64::consts::PI, -1e-310, 1.0 / 3.0, f64::MAX];
    let t = Tensor::<f64>::from_vec(values.clone(), &[2, 1, 2]);
    let bytes = to_bytes(&[("x", t)]).unwrap();
    let back = from_bytes::<f64>(&bytes).unwrap();
    let bits: Vec<u64> = back["x"].to_vec().iter().map(|x| x.to_bits()).collect();
    assert_eq!(bits, values.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    assert_eq!(back["x"].shape(), &[2, 1, 2]);
}

#[test]
fn the_file_is_standard_safetensors() {
    let bytes = to_bytes(&[
        ("b", Tensor::<f32>::ones(&[2])),
        ("a", Tensor::<f32>::zeros(&[1])),
    ])
    .unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    assert!(
        header.contains(r#""a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#),
        "{header}"
    );
    assert!(
        header.contains(r#""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}"#),
        "{header}"
    );
    assert_eq!(
        bytes[8 + n..],
        [0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0x80, 0x3f]
    );
    let wide = to_bytes(&[("c", Tensor::<f64>::ones(&[1]))]).unwrap();
    assert!(String::from_utf8_lossy(&wide).contains(r#""dtype":"F64""#));
}

#[test]
fn strided_views_are_saved_in_logical_order() {
    let t = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).t();
    let back = from_bytes::<f32>(&to_bytes(&[("t", t.clone())]).unwrap()).unwrap();
    assert_eq!(back["t"].shape(), &[3, 2]);
    assert_eq!(back["t"].to_vec(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
}

#[test]
fn loading_converts_between_f32_and_f64() {
    let bytes = to_bytes(&model_f32()).unwrap();
    let wide = from_bytes::<f64>(&bytes).unwrap();
    let w = &model_f32()[0].1;
    assert_eq!(
        wide["layers.0.weight"].to_vec(),
        w.to_f64_vec(),
        "f32 -> f64 is exact"
    );
    let narrow_bytes = to_bytes(&[("x", Tensor::<f64>::from_vec(vec![0.1, 1e300], &[2]))]).unwrap();
    let narrow = from_bytes::<f32>(&narrow_bytes).unwrap();
    assert_eq!(
        narrow["x"].to_vec(),
        vec![0.1f32, f32::INFINITY],
        "f64 -> f32 rounds"
    );
}

#[test]
fn load_into_returns_tensors_in_the_expected_order() {
    let path = scratch("order");
    save_safetensors(&path, &model_f32()).unwrap();
    let expected = [
        ("temperature", vec![]),
        ("layers.0.bias", vec![2]),
        ("layers.0.weight", vec![2, 3]),
        ("empty", vec![0, 4]),
    ];
    let got = load_into::<f32, _, _>(&path, &expected).unwrap();
    assert_eq!(got[0].item(), 0.7);
    assert_eq!(got[1].to_vec(), vec![0.25, -3.0]);
    let file = path.display().to_string();

    let err = load_into::<f32, _, _>(&path, &[("temperature", vec![1])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{file}: tensor 'temperature': expected shape [1], found []")
    );

    let mut missing = expected.to_vec();
    missing.push(("layers.1.weight", vec![4, 2]));
    let err = load_into::<f32, _, _>(&path, &missing).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{file}: tensor 'layers.1.weight': expected in the file, not found")
    );

    let err = load_into::<f32, _, _>(&path, &expected[1..]).unwrap_err();
    assert!(matches!(&err, CheckpointError::Unexpected { name, .. } if name == "temperature"));
    assert_eq!(
        err.to_string(),
        format!("{file}: tensor 'temperature': found in the file, not expected")
    );
    std::fs::remove_file(path).unwrap();
}

#[test]
fn check_tensors_names_the_wrong_shape() {
    let mut map = BTreeMap::new();
    map.insert("fc1.weight".to_string(), Tensor::<f32>::zeros(&[64, 128]));
    let err = check_tensors(map, &[("fc1.weight", [128, 64])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "<memory>: tensor 'fc1.weight': expected shape [128, 64], found [64, 128]"
    );
}

#[test]
fn bad_names_are_refused_when_saving() {
    let t = Tensor::<f32>::zeros(&[1]);
    let err = to_bytes(&[("a", t.clone()), ("a", t.clone())]).unwrap_err();
    assert_eq!(err.to_string(), "tensor name 'a': given twice");
    let err = to_bytes(&[("__metadata__", t)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tensor name '__metadata__': reserved by the safetensors format"
    );
    assert!(to_bytes::<f32, &str>(&[]).is_ok());
}

#[test]
fn io_errors_name_the_file() {
    let path = scratch("does-not-exist");
    let err = load_safetensors::<f32>(&path).unwrap_err();
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());
    let dir_as_file = std::env::temp_dir();
    assert!(matches!(
        save_safetensors(&dir_as_file, &model_f32()),
        Err(CheckpointError::Io { .. })
    ));
}
