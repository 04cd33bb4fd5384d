//! The bundled digits file and the digits CSV parser: contents and error messages.

use std::io::Write;
use tapegrad_nn::data::{
    digits_path, load_bundled_digits, load_digits, parse_digits_csv, DataError, Dataset,
};

/// A scratch directory unique to this test process and `name`.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tapegrad-data-digits-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn parse(text: &str) -> Result<Dataset<f32>, DataError> {
    parse_digits_csv(text.as_bytes(), "t.csv")
}

/// A valid line: 64 pixels all `pixel`, then `label`.
fn line(pixel: u32, label: u32) -> String {
    let mut fields = vec![pixel.to_string(); 64];
    fields.push(label.to_string());
    fields.join(",")
}

#[test]
fn bundled_digits_have_the_uci_test_set_counts() {
    let digits = load_bundled_digits::<f32>().unwrap();
    assert_eq!(digits.len(), 1797);
    assert_eq!(digits.num_classes(), 10);
    // From the file itself:
    //   zcat data/digits.csv.gz | awk -F, '{print $65}' | sort -n | uniq -c
    // (the same counts as scikit-learn's load_digits, which ships this set).
    assert_eq!(
        digits.class_counts(),
        vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
    assert_eq!(digits.features().shape(), &[1797, 64]);
    assert_eq!(digits.images().shape(), &[1797, 1, 8, 8]);
    assert_eq!(digits.sample_shape(), &[1, 8, 8]);
}

#[test]
fn pixels_are_scaled_by_16_in_row_major_order() {
    let digits = load_bundled_digits::<f64>().unwrap();
    // First line of the file: 0,0,5,13,9,1,0,0, 0,0,13,15,10,15,5,0, ... ,0 (a zero).
    let x = digits.features();
    let first_row: Vec<f64> = x.to_vec()[..16].to_vec();
    let expected = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0];
    let expected: Vec<f64> = expected.iter().map(|&p| p as f64 / 16.0).collect();
    assert_eq!(first_row, expected);
    assert_eq!(digits.labels()[0], 0);
    assert_eq!(digits.labels()[1796], 8);
    // images() is the same data: row 1, column 2 of image 0 is pixel 10.
    assert_eq!(digits.images().get(&[0, 0, 1, 2]), 13.0 / 16.0);
    // Sum of all pixels: zcat ... | awk -F, '{for(i=1;i<=64;i++) t+=$i} END {print t}' = 561718.
    assert_eq!(x.to_vec().iter().sum::<f64>(), 561718.0 / 16.0);
    let (lo, hi) = x
        .to_vec()
        .iter()
        .fold((1.0f64, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
    assert_eq!((lo, hi), (0.0, 1.0));
}

#[test]
fn f32_and_f64_loads_agree() {
    let a = load_bundled_digits::<f32>().unwrap();
    let b = load_bundled_digits::<f64>().unwrap();
    assert_eq!(a.cast::<f64>().features().to_vec(), b.features().to_vec());
    assert_eq!(a.labels(), b.labels());
}

#[test]
fn digits_path_is_absolute_so_any_working_directory_works() {
    let path = digits_path();
    assert!(path.is_absolute(), "{}", path.display());
    assert!(path.exists(), "{}", path.display());
}

#[test]
fn plain_and_gzip_files_load_the_same() {
    let dir = scratch("plain");
    let gz = std::fs::read(digits_path()).unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text).unwrap();
    let plain = dir.join("digits.csv");
    std::fs::write(&plain, &text).unwrap();
    let a = load_digits::<f32>(&plain).unwrap();
    let b = load_bundled_digits::<f32>().unwrap();
    assert_eq!(a.features().to_vec(), b.features().to_vec());
    assert_eq!(a.labels(), b.labels());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn blank_lines_crlf_and_spaces_are_accepted() {
    let text = format!(
        "\n{}\r\n\n {} \n",
        line(16, 3),
        line(0, 9).replace(',', " , ")
    );
    let ds = parse(&text).unwrap();
    assert_eq!(ds.labels(), &[3, 9]);
    assert_eq!(ds.features().to_vec()[0], 1.0);
    assert_eq!(ds.features().to_vec()[64], 0.0);
}

#[test]
fn wrong_value_count_names_line_expected_and_found() {
    let short = vec!["1"; 64].join(",");
    let text = format!("{}\n{}\n{short}\n", line(1, 1), line(2, 2));
    let err = parse(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv line 3: expected 65 values, found 64"
    );
    assert!(matches!(
        err,
        DataError::FieldCount {
            line: 3,
            expected: 65,
            found: 64,
            ..
        }
    ));
}

#[test]
fn out_of_range_pixel_and_label_are_errors() {
    let mut fields = vec!["0"; 65];
    fields[11] = "17";
    let text = format!("{}\n{}\n", line(0, 0), fields.join(","));
    assert_eq!(
        parse(&text).unwrap_err().to_string(),
        "t.csv: pixel 17 at line 2, column 12 is not in 0..=16"
    );
    let text = format!("{}\n{}\n{}\n", line(0, 0), line(0, 1), line(0, 12));
    assert_eq!(
        parse(&text).unwrap_err().to_string(),
        "t.csv: label 12 at line 3 is not in 0..=9"
    );
    let text = line(0, 0).replacen("0", "-1", 1);
    let err = parse(&text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv: pixel -1 at line 1, column 1 is not in 0..=16"
    );
}

#[test]
fn non_integers_empty_files_long_lines_and_binary_are_errors() {
    let text = line(0, 0).replacen("0", "1.5", 1);
    let msg = parse(&text).unwrap_err().to_string();
    assert_eq!(
        msg,
        "t.csv line 1, column 1: expected an integer, found \"1.5\""
    );

    let msg = parse("\n\n").unwrap_err().to_string();
    assert_eq!(msg, "t.csv line 3: expected a sample, found end of file");

    let msg = parse(&"1".repeat(10_000)).unwrap_err().to_string();
    assert_eq!(msg, "t.csv line 1: expected at most 4096 bytes, found more");

    let bytes = [line(0, 0).as_bytes(), b"\n\xff\xfe\n"].concat();
    let err = parse_digits_csv::<f32, _>(&bytes[..], "t.csv").unwrap_err();
    assert_eq!(err.to_string(), "t.csv line 2: expected UTF-8 text");
}

#[test]
fn missing_and_corrupt_files_name_the_file() {
    let dir = scratch("corrupt");
    let missing = dir.join("nope.csv.gz");
    let err = load_digits::<f32>(&missing).unwrap_err();
    assert!(
        err.to_string().starts_with(&missing.display().to_string()),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some());

    // A gzip file cut in half: the error says how far reading got.
    let gz = std::fs::read(digits_path()).unwrap();
    let cut = dir.join("cut.csv.gz");
    std::fs::File::create(&cut)
        .unwrap()
        .write_all(&gz[..gz.len() / 2])
        .unwrap();
    let err = load_digits::<f32>(&cut).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}: line ", cut.display())),
        "{msg}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
