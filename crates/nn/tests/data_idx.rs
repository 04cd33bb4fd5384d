//! IDX files: round trips (plain and gzip), MNIST loaders and their error messages.

use std::path::PathBuf;
use tapegrad_nn::data::{
    load_mnist, load_mnist_images, load_mnist_labels, parse_idx, parse_idx_limited, read_idx,
    write_idx, DataError, IdxArray, IdxData, IdxType,
};

/// A scratch directory unique to this test process and `name`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tapegrad-data-idx-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn one_of_each_type() -> Vec<IdxArray> {
    vec![
        IdxArray::new(
            vec![2, 3, 2],
            IdxData::U8((0..12).map(|i| i * 21).collect()),
        ),
        IdxArray::new(vec![4], IdxData::I8(vec![-128, -1, 0, 127])),
        IdxArray::new(vec![2, 2], IdxData::I16(vec![-32768, -2, 258, 32767])),
        IdxArray::new(vec![3], IdxData::I32(vec![i32::MIN, 16909060, i32::MAX])),
        IdxArray::new(vec![1, 3], IdxData::F32(vec![1.5, -0.0, f32::MIN_POSITIVE])),
        IdxArray::new(vec![2], IdxData::F64(vec![std::f64::consts::PI, -1e300])),
        IdxArray::new(vec![0, 28, 28], IdxData::U8(vec![])),
        IdxArray::new(vec![], IdxData::F64(vec![2.5])),
    ]
}

#[test]
fn header_bytes_are_big_endian_as_in_the_mnist_spec() {
    // i32 array [1]: magic 00 00 0C 01, dim 00 00 00 01, value 0x01020304 big-endian.
    let a = IdxArray::new(vec![1], IdxData::I32(vec![0x0102_0304]));
    assert_eq!(a.to_bytes(), [0, 0, 0x0c, 1, 0, 0, 0, 1, 1, 2, 3, 4]);
    // The first bytes of MNIST's train-images-idx3-ubyte: 0x00000803, 60000, 28, 28.
    let header = [0, 0, 8, 3, 0, 0, 0xea, 0x60, 0, 0, 0, 28, 0, 0, 0, 28];
    let err = parse_idx(&header).unwrap_err().to_string();
    assert_eq!(
        err,
        "<memory>: byte 16: truncated: header says 47040000 bytes of data, found 0"
    );
}

#[test]
fn every_type_round_trips_in_memory_and_gzipped() {
    for array in one_of_each_type() {
        let bytes = array.to_bytes();
        assert_eq!(parse_idx(&bytes).unwrap(), array);
        assert_eq!(parse_idx(&gzip(&bytes)).unwrap(), array);
    }
}

#[test]
fn every_type_round_trips_through_files() {
    let dir = scratch("files");
    for (i, array) in one_of_each_type().into_iter().enumerate() {
        for name in [format!("a{i}.idx"), format!("a{i}.idx.gz")] {
            let path = dir.join(name);
            write_idx(&path, &array).unwrap();
            assert_eq!(read_idx(&path).unwrap(), array);
        }
        // The .gz file really is gzip; the .idx file really is not.
        let gz = std::fs::read(dir.join(format!("a{i}.idx.gz"))).unwrap();
        assert_eq!(gz[..2], [0x1f, 0x8b]);
        assert_eq!(
            std::fs::read(dir.join(format!("a{i}.idx"))).unwrap(),
            array.to_bytes()
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes MNIST-like image and label files into `dir`.
fn mnist_files(dir: &std::path::Path, images: IdxArray, labels: IdxArray) -> (PathBuf, PathBuf) {
    let (ip, lp) = (
        dir.join("images-idx3-ubyte.gz"),
        dir.join("labels-idx1-ubyte"),
    );
    write_idx(&ip, &images).unwrap();
    write_idx(&lp, &labels).unwrap();
    (ip, lp)
}

#[test]
fn mnist_loaders_scale_pixels_and_pair_labels() {
    let dir = scratch("mnist");
    let pixels: Vec<u8> = (0..3 * 4 * 5).map(|i| (i * 4) as u8).collect();
    let images = IdxArray::new(vec![3, 4, 5], IdxData::U8(pixels.clone()));
    let labels = IdxArray::new(vec![3], IdxData::U8(vec![9, 0, 4]));
    let (ip, lp) = mnist_files(&dir, images, labels);
    let x = load_mnist_images::<f64>(&ip).unwrap();
    assert_eq!(x.shape(), &[3, 4, 5]);
    let expected: Vec<f64> = pixels.iter().map(|&p| p as f64 / 255.0).collect();
    assert_eq!(x.to_vec(), expected);
    assert_eq!(load_mnist_labels(&lp).unwrap(), vec![9, 0, 4]);
    let ds = load_mnist::<f32>(&ip, &lp).unwrap();
    assert_eq!(ds.images().shape(), &[3, 1, 4, 5]);
    assert_eq!(ds.features().shape(), &[3, 20]);
    assert_eq!(ds.class_counts(), vec![1, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn mismatched_image_and_label_counts_are_an_error() {
    let dir = scratch("mismatch");
    let images = IdxArray::new(vec![3, 1, 1], IdxData::U8(vec![0, 1, 2]));
    let labels = IdxArray::new(vec![2], IdxData::U8(vec![1, 2]));
    let (ip, lp) = mnist_files(&dir, images, labels);
    let err = load_mnist::<f32>(&ip, &lp).unwrap_err();
    assert!(matches!(
        err,
        DataError::CountMismatch {
            num_images: 3,
            num_labels: 2,
            ..
        }
    ));
    let expected = format!(
        "{}: byte 4: expected 3 labels (one per image in {}), found 2",
        lp.display(),
        ip.display()
    );
    assert_eq!(err.to_string(), expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn labels_of_ten_or_more_are_an_error() {
    let dir = scratch("labels");
    let path = dir.join("labels.idx");
    write_idx(
        &path,
        &IdxArray::new(vec![4], IdxData::U8(vec![1, 2, 3, 12])),
    )
    .unwrap();
    let err = load_mnist_labels(&path).unwrap_err().to_string();
    // Header is 8 bytes (magic, one dimension), so label 3 is at byte 11.
    assert_eq!(
        err,
        format!("{}: label 12 at byte 11 is not in 0..=9", path.display())
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn wrong_dimensions_or_type_for_mnist_are_errors() {
    let dir = scratch("dims");
    let path = dir.join("train-images.idx");
    write_idx(&path, &IdxArray::new(vec![2, 2], IdxData::U8(vec![0; 4]))).unwrap();
    let err = load_mnist_images::<f32>(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("{}: byte 3: expected 3 dimensions, found 2", path.display())
    );
    write_idx(
        &path,
        &IdxArray::new(vec![1, 1, 1], IdxData::F32(vec![0.5])),
    )
    .unwrap();
    let err = load_mnist_images::<f32>(&path).unwrap_err().to_string();
    let expected = format!(
        "{}: byte 2: expected element type u8 (0x08), found f32 (0x0d)",
        path.display()
    );
    assert_eq!(err, expected);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn truncated_trailing_and_bad_magic_name_the_byte() {
    let bytes = IdxArray::new(vec![10, 10], IdxData::I16(vec![7; 100])).to_bytes();
    let err = parse_idx(&bytes[..12 + 150]).unwrap_err().to_string();
    assert_eq!(
        err,
        "<memory>: byte 12: truncated: header says 200 bytes of data, found 150"
    );
    let err = parse_idx(&bytes[..9]).unwrap_err().to_string();
    assert_eq!(
        err,
        "<memory>: byte 4: truncated: header says 12 bytes of header, found 9"
    );
    let err = parse_idx(&[&bytes[..], &[0]].concat())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "<memory>: byte 212: expected end of file after the declared data, found more"
    );
    let err = parse_idx(b"P5\n28 28\n255\n").unwrap_err().to_string();
    assert_eq!(
        err,
        "<memory>: byte 0: expected an IDX magic number 0x0000TTNN, found 0x50350a32"
    );
    let err = parse_idx(&[0, 0, 7, 1, 0, 0, 0, 0])
        .unwrap_err()
        .to_string();
    let expected = "<memory>: byte 2: expected an IDX type code 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e, found 0x07";
    assert_eq!(err, expected);
    assert!(matches!(
        parse_idx(&[]).unwrap_err(),
        DataError::Truncated {
            offset: 0,
            found: 0,
            ..
        }
    ));
}

#[test]
fn huge_declared_sizes_fail_fast_without_allocating_them() {
    // 2^32-1 cubed overflows 64 bits.
    let mut bytes = vec![0, 0, 8, 3];
    bytes.extend([0xff; 12]);
    let err = parse_idx(&bytes).unwrap_err();
    assert!(matches!(err, DataError::SizeOverflow { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("byte 4: dimensions [4294967295, 4294967295, 4294967295]"));
    // 8 TiB of f64 declared ((2^32 - 1) x 256 x 8 bytes), 8 bytes present, in plain and gzip
    // form: over the 4 GiB limit, refused from the header alone.
    let mut lie = vec![0, 0, 0x0e, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0];
    lie.extend([0; 8]);
    for bytes in [lie.clone(), gzip(&lie)] {
        let err = parse_idx(&bytes).unwrap_err().to_string();
        assert_eq!(
            err,
            "<memory>: byte 4: dimensions [4294967295, 256] declare 8796093020160 bytes of data, \
             over the limit of 4294967296"
        );
    }
    // Within the limit (2^31 x 8 bytes = 16 GiB accepted here), 8 bytes present: truncated,
    // without allocating the declared size (this test would abort if it did).
    let mut lie = vec![0, 0, 0x0e, 1, 0x80, 0, 0, 0];
    lie.extend([0; 8]);
    for bytes in [lie.clone(), gzip(&lie)] {
        let err = parse_idx_limited(&bytes, 1 << 34).unwrap_err().to_string();
        assert_eq!(
            err,
            "<memory>: byte 8: truncated: header says 17179869184 bytes of data, found 8"
        );
    }
}

#[test]
fn idx_type_codes_round_trip() {
    for code in 0..=255u8 {
        if let Some(t) = IdxType::from_code(code) {
            assert_eq!(t.code(), code);
            assert!(t.name().ends_with(&format!("({code:#04x})")));
        }
    }
}
