//! Fuzzing `from_bytes`: random, truncated, bit-flipped and hostile
//! safetensors bytes never panic, and every error says where.

use proptest::prelude::*;
use tapegrad_nn::checkpoint::{from_bytes, load_safetensors, to_bytes};
use tapegrad_tensor::Tensor;

fn valid() -> Vec<u8> {
    let w = Tensor::<f32>::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    to_bytes(&[("w", w), ("b", Tensor::from_vec(vec![0.5, -0.5], &[2]))]).unwrap()
}

/// A file with `header` as its JSON header and `data` after it.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Decodes; on error, checks the message gives a byte offset or a tensor name.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = from_bytes::<f32>(bytes) {
        let msg = e.to_string();
        prop_assert!(
            msg.contains("byte ") || msg.contains("tensor '"),
            "no position in {:?}",
            msg
        );
    }
    Ok(())
}

/// Writes `bytes` to a scratch file and loads it: the file reader (which
/// reads the header first and checks the file length before the data) must
/// accept exactly what `from_bytes` accepts, and its errors must name the
/// file and a byte offset or tensor.
fn check_file(bytes: &[u8]) -> Result<(), TestCaseError> {
    static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "tapegrad-ckfuzz-{}-{case}.safetensors",
        std::process::id()
    ));
    std::fs::write(&path, bytes).unwrap();
    let loaded = load_safetensors::<f32>(&path);
    std::fs::remove_file(&path).unwrap();
    let in_memory = from_bytes::<f32>(bytes);
    prop_assert_eq!(
        loaded.is_ok(),
        in_memory.is_ok(),
        "{:?} vs {:?}",
        loaded,
        in_memory
    );
    if let Err(e) = loaded {
        let msg = e.to_string();
        let named = msg.starts_with(&format!("{}: ", path.display()));
        prop_assert!(named, "no file name in {:?}", msg);
        prop_assert!(
            msg.contains("byte ") || msg.contains("tensor '"),
            "no position in {:?}",
            msg
        );
    }
    Ok(())
}

#[test]
fn every_truncation_and_extension_of_a_file_is_an_error_before_the_data() {
    let bytes = valid();
    for len in 0..bytes.len() {
        check_file(&bytes[..len]).unwrap();
    }
    check_file(&bytes).unwrap();
    let mut longer = bytes.clone();
    longer.push(0);
    check_file(&longer).unwrap();
}

#[test]
fn every_truncation_is_an_error_with_a_byte_offset() {
    let bytes = valid();
    for len in 0..bytes.len() {
        let msg = from_bytes::<f32>(&bytes[..len]).unwrap_err().to_string();
        assert!(msg.contains("byte "), "length {len}: {msg}");
    }
    assert_eq!(from_bytes::<f32>(&bytes).unwrap().len(), 2);
}

#[test]
fn hostile_length_prefixes_get_precise_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            vec![1, 2, 3],
            "byte 0: expected an 8-byte header length, found 3 bytes",
        ),
        (
            [&u64::MAX.to_le_bytes()[..], b"{}"].concat(),
            "byte 0: header length 18446744073709551615 is over the 100000000-byte limit",
        ),
        (
            [&50u64.to_le_bytes()[..], b"{}"].concat(),
            "byte 0: header length says 50 bytes, found 2 after it",
        ),
        // '{"a":' ends at column 5 of the header, which starts at byte 8.
        (
            file("{\"a\":", &[]),
            "byte 12: invalid header JSON: EOF while parsing a value at line 1 column 5",
        ),
        (
            file("{}", &[9]),
            "byte 10: expected end of file after the last tensor, found 1 more bytes",
        ),
    ];
    for (bytes, expected) in cases {
        let msg = from_bytes::<f32>(&bytes).unwrap_err().to_string();
        assert_eq!(msg, format!("<memory>: {expected}"));
    }
    let mut not_utf8 = file("{\"a\":1}", &[]);
    not_utf8[10] = 0xff;
    let msg = from_bytes::<f32>(&not_utf8).unwrap_err().to_string();
    assert_eq!(msg, "<memory>: byte 10: expected UTF-8 JSON header text");
}

#[test]
fn inconsistent_tensor_entries_name_the_tensor_and_its_data_offset() {
    let entry = |shape: &str, start: u64, end: u64| {
        format!(
            "{{\"a\":{{\"dtype\":\"F32\",\"shape\":[{shape}],\"data_offsets\":[{start},{end}]}}}}"
        )
    };
    let cases = [
        (
            entry("2", 0, 8),
            4,
            "tensor 'a': data offsets [0, 8] are outside the 4-byte data section",
        ),
        (
            entry("3", 0, 8),
            8,
            "tensor 'a': shape [3] of F32 needs 12 bytes, found 8",
        ),
        (
            entry("1", 4, 8),
            8,
            "tensor 'a': expected data to start at 0, found 4",
        ),
    ];
    for (header, data_len, expected) in cases {
        // The offset given is where the tensor's data should start: right after the header.
        let msg = from_bytes::<f32>(&file(&header, &vec![0; data_len]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            format!("<memory>: byte {}: {expected}", 8 + header.len())
        );
    }
}

#[test]
fn offsets_near_usize_max_are_an_error_not_a_panic() {
    // safetensors' own check computes end + 8 + n, which overflows for these
    // ends: a panic under overflow checks (`cargo test` without --release).
    for end in [u64::MAX, u64::MAX - 8, u64::MAX - 100, 1 << 63] {
        let header =
            format!("{{\"a\":{{\"dtype\":\"U8\",\"shape\":[{end}],\"data_offsets\":[0,{end}]}}}}");
        let msg = from_bytes::<f32>(&file(&header, &[0; 8]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("are outside the 8-byte data section"), "{msg}");
    }
    let zeros =
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4294967296,4294967296],\"data_offsets\":[0,0]}}";
    let msg = from_bytes::<f32>(&file(zeros, &[]))
        .unwrap_err()
        .to_string();
    let at = 8 + zeros.len();
    let expected = "tensor 'a': shape [0, 4294967296, 4294967296] overflows";
    assert_eq!(msg, format!("<memory>: byte {at}: {expected}"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        check(&bytes)?;
    }

    #[test]
    fn bit_flips_never_panic(bit in 0usize..4096) {
        let mut bytes = valid();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        check(&bytes)?;
        check_file(&bytes)?;
    }

    #[test]
    fn random_headers_never_panic(
        dtype in prop::sample::select(vec!["F32", "F64", "I64", "U8", "BOOL", "F8_E5M2", "X"]),
        shape in proptest::collection::vec(prop_oneof![0u64..4, Just(u64::MAX), any::<u64>()], 0..4),
        start in prop_oneof![0u64..16, any::<u64>()],
        end in prop_oneof![0u64..16, any::<u64>()],
        data in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let shape: Vec<String> = shape.iter().map(u64::to_string).collect();
        let header = format!(
            "{{\"t\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{start},{end}]}}}}",
            shape.join(",")
        );
        check(&file(&header, &data))?;
        check_file(&file(&header, &data))?;
    }
}
