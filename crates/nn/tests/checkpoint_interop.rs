//! Interoperability with Hugging Face's Python `safetensors`: fixtures written
//! by `tests/fixtures/make_fixture.py` (committed; no Python needed here).

use tapegrad_nn::checkpoint::{load_into, load_safetensors, to_bytes, CheckpointError};
use tapegrad_tensor::Tensor;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn loads_exactly_the_values_numpy_wrote() {
    let t = load_safetensors::<f64>(fixture("reference.safetensors")).unwrap();
    let names: Vec<&str> = t.keys().map(String::as_str).collect();
    assert_eq!(names, ["embed", "empty", "fc1.bias", "fc1.weight", "scale"]);

    // fc1.weight was float32 [[1.5, -2.25, 0.0], [-0.0, 1e-40, 3.4028234663852886e38]]:
    // compare f32 bit patterns so -0.0 and the subnormal 1e-40 are checked exactly.
    let w = load_safetensors::<f32>(fixture("reference.safetensors")).unwrap();
    let w = &w["fc1.weight"];
    assert_eq!(w.shape(), &[2, 3]);
    let expected = [1.5f32, -2.25, 0.0, -0.0, 1e-40, f32::MAX];
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&w.to_vec()), bits(&expected));

    // float32 0.1 widened to f64 is 0.10000000149011612, not 0.1.
    assert_eq!(t["fc1.bias"].to_vec(), vec![0.1f32 as f64, -7.0]);
    assert_eq!(t["scale"].shape(), &[] as &[usize]);
    assert_eq!(t["scale"].item(), 0.1);
    assert_eq!(t["empty"].shape(), &[0, 3]);
    // Python wrote 123456789.123456789; as an f64 that is 123456789.12345679.
    let embed = [1.0 / 3.0, -1e-300, 123456789.12345679, f64::from_bits(1)];
    assert_eq!(t["embed"].shape(), &[2, 2]);
    let bits64 = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits64(&t["embed"].to_vec()), bits64(&embed));
}

#[test]
fn load_into_checks_the_python_file_too() {
    let expected = [
        ("embed", vec![2, 2]),
        ("empty", vec![0, 3]),
        ("fc1.bias", vec![2]),
        ("fc1.weight", vec![3, 2]),
        ("scale", vec![]),
    ];
    let path = fixture("reference.safetensors");
    let err = load_into::<f32, _, _>(&path, &expected).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{path}: tensor 'fc1.weight': expected shape [3, 2], found [2, 3]")
    );
}

#[test]
fn other_dtypes_are_refused_by_name() {
    let path = fixture("int64.safetensors");
    let err = load_safetensors::<f32>(&path).unwrap_err();
    assert!(matches!(&err, CheckpointError::UnsupportedDtype { name, .. } if name == "step"));
    assert_eq!(
        err.to_string(),
        format!("{path}: tensor 'step': expected dtype F32 or F64, found I64")
    );
}

#[test]
fn tapegrad_writes_the_same_bytes_as_python() {
    // make_fixture.py: fc1.weight = arange(6).reshape(2, 3) / 4, fc1.bias = [-1, 0.5], scale = 3.
    let weight = Tensor::from_vec((0..6).map(|i| i as f32 / 4.0).collect(), &[2, 3]);
    let ours = to_bytes(&[
        ("scale", Tensor::scalar(3.0f32)),
        ("fc1.weight", weight),
        ("fc1.bias", Tensor::from_vec(vec![-1.0, 0.5], &[2])),
    ])
    .unwrap();
    let theirs = std::fs::read(fixture("same_bytes.safetensors")).unwrap();
    assert_eq!(ours, theirs);
}
