//! Fuzzing the data parsers: random, truncated and bit-flipped input never
//! panics, and every error says where the problem is.

use proptest::prelude::*;
use std::io::Write;
use tapegrad_nn::data::{
    digits_path, parse_digits_csv, parse_idx, parse_idx_limited, DataError, IdxArray, IdxData,
};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A small valid MNIST-like image file.
fn valid_idx() -> Vec<u8> {
    IdxArray::new(vec![3, 2, 2], IdxData::U8((0..12).collect())).to_bytes()
}

/// The first lines of the real digits file, as text.
fn digits_text(lines: usize) -> String {
    let gz = std::fs::read(digits_path()).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    text.lines().take(lines).map(|l| format!("{l}\n")).collect()
}

/// Parses IDX bytes; on error, checks the message gives a byte offset.
fn check_idx(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = parse_idx(bytes) {
        let msg = e.to_string();
        prop_assert!(msg.contains("byte "), "no position in {:?}", msg);
    }
    Ok(())
}

/// Parses digits CSV bytes; on error, checks the message gives a line.
fn check_csv(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = parse_digits_csv::<f32, _>(bytes, "fuzz.csv") {
        let msg = e.to_string();
        prop_assert!(msg.contains("line "), "no position in {:?}", msg);
    }
    Ok(())
}

#[test]
fn every_truncation_of_a_valid_idx_file_is_an_error_with_a_byte_offset() {
    let plain = valid_idx();
    for bytes in [plain.clone(), gzip(&plain)] {
        for len in 0..bytes.len() {
            let msg = parse_idx(&bytes[..len]).unwrap_err().to_string();
            assert!(msg.contains("byte "), "length {len}: {msg}");
        }
        assert!(parse_idx(&bytes).is_ok());
    }
}

#[test]
fn every_truncation_of_digits_text_parses_or_names_a_line() {
    let text = digits_text(3);
    for len in 0..text.len() {
        check_csv(&text.as_bytes()[..len]).unwrap();
    }
    // Cut at a line end, it parses; cut inside the first line, it cannot.
    assert_eq!(
        parse_digits_csv::<f32, _>(text.as_bytes(), "t")
            .unwrap()
            .len(),
        3
    );
    assert!(parse_digits_csv::<f32, _>(&text.as_bytes()[..100], "t").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_parse_idx(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        check_idx(&bytes)?;
    }

    #[test]
    fn random_headers_never_panic_parse_idx(
        ty in prop::sample::select(vec![8u8, 9, 11, 12, 13, 14, 0, 7]),
        dims in proptest::collection::vec(any::<u32>(), 0..5),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = vec![0, 0, ty, dims.len() as u8];
        bytes.extend(dims.iter().flat_map(|d| d.to_be_bytes()));
        bytes.extend(tail);
        check_idx(&bytes)?;
        check_idx(&gzip(&bytes))?;
    }

    #[test]
    fn declared_sizes_over_the_limit_are_refused_from_the_header(
        dims in proptest::collection::vec(1u32..64, 1..4),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
        gzipped: bool,
    ) {
        // The declared size against limits just below, at and above it.
        let size: u64 = dims.iter().map(|&d| d as u64).product();
        let mut bytes = vec![0, 0, 8, dims.len() as u8];
        bytes.extend(dims.iter().flat_map(|d| d.to_be_bytes()));
        bytes.extend(tail);
        let bytes = if gzipped { gzip(&bytes) } else { bytes };
        let below = parse_idx_limited(&bytes, size - 1).unwrap_err();
        let refused = matches!(below, DataError::TooLarge { claimed, .. } if claimed == size);
        prop_assert!(refused, "{:?}", below);
        prop_assert!(below.to_string().contains("byte 4"), "{}", below);
        for limit in [size, size + 1] {
            let at = parse_idx_limited(&bytes, limit);
            let not_too_large = !matches!(at, Err(DataError::TooLarge { .. }));
            prop_assert!(not_too_large, "{:?}", at);
        }
    }

    #[test]
    fn bit_flips_in_an_idx_header_never_panic(bit in 0usize..16 * 8, gzipped: bool) {
        let mut bytes = valid_idx();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let bytes = if gzipped { gzip(&bytes) } else { bytes };
        check_idx(&bytes)?;
    }

    #[test]
    fn bit_flips_in_gzip_streams_never_panic(bit in 0usize..80 * 8) {
        let mut bytes = gzip(&valid_idx());
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        check_idx(&bytes)?;
    }

    #[test]
    fn random_bytes_never_panic_the_digits_parser(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_csv(&bytes)?;
    }

    #[test]
    fn random_csv_like_text_never_panics(text in "[0-9,\\-\n ]{0,400}") {
        check_csv(text.as_bytes())?;
    }

    #[test]
    fn corrupted_digits_lines_never_panic(pos in 0usize..400, byte in any::<u8>()) {
        let mut bytes = digits_text(2).into_bytes();
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        check_csv(&bytes)?;
    }
}
