//! The bundled UCI handwritten digits (`data/digits.csv.gz`): 8x8 images, 10 classes.

use super::{source, DataError, Dataset, Location};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use tapegrad_tensor::{Float, Tensor};

/// Pixels per digit image (8 x 8).
pub const DIGITS_PIXELS: usize = 64;
/// Largest pixel value in the digits CSV (pixels are counts of set cells in a 4x4 block).
pub const DIGITS_MAX_PIXEL: i64 = 16;
/// Number of digit classes.
pub const DIGITS_CLASSES: usize = 10;
/// Longest CSV line accepted, in bytes: far above a valid line (65 values of up
/// to 2 digits), low enough that a corrupt file cannot make one huge line buffer.
const MAX_LINE_BYTES: usize = 4096;

/// The path of the digits file shipped with tapegrad (`<workspace>/data/digits.csv.gz`),
/// found from this crate's manifest directory, so it works from any working directory.
pub fn digits_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/digits.csv.gz")
}

/// Loads the bundled digits: 1,797 images `[1, 8, 8]` scaled to `[0, 1]`, labels `0..=9`.
///
/// ```
/// let digits = tapegrad_nn::data::load_bundled_digits::<f32>()?;
/// assert_eq!(digits.len(), 1797);
/// assert_eq!(digits.class_counts()[0], 178);
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
pub fn load_bundled_digits<E: Float>() -> Result<Dataset<E>, DataError> {
    load_digits(digits_path())
}

/// Loads a digits CSV (plain, or gzip-compressed: detected from its first bytes).
///
/// Each line holds 65 integers: 64 pixels `0..=16` of an 8x8 image in
/// row-major order, then the label `0..=9`. Pixels are divided by 16.
pub fn load_digits<E: Float>(path: impl AsRef<Path>) -> Result<Dataset<E>, DataError> {
    let path = path.as_ref();
    parse_digits_csv(source::open(path)?, &path.display().to_string())
}

/// Parses digits CSV text from `reader`; `file` names it in errors.
///
/// Blank lines are skipped; `\r\n` line ends and spaces around values are accepted.
///
/// ```
/// use tapegrad_nn::data::parse_digits_csv;
/// let mut line = vec!["16"; 64].join(",");
/// line.push_str(",7\n");
/// let ds = parse_digits_csv::<f64, _>(line.as_bytes(), "one.csv")?;
/// assert_eq!((ds.len(), ds.labels()[0]), (1, 7));
/// assert_eq!(ds.images().get(&[0, 0, 7, 7]), 1.0);
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
pub fn parse_digits_csv<E: Float, R: BufRead>(
    mut reader: R,
    file: &str,
) -> Result<Dataset<E>, DataError> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    let mut buf = Vec::new();
    let mut line = 0;
    while let Some(text) = next_line(&mut reader, &mut buf, file, line + 1)? {
        line += 1;
        if text.trim().is_empty() {
            continue;
        }
        let label = parse_line(text, file, line, &mut pixels)?;
        labels.push(label);
    }
    if labels.is_empty() {
        let at = Location::Line(line + 1);
        return Err(DataError::Empty {
            file: file.to_string(),
            at,
        });
    }
    let samples = Tensor::from_vec(pixels, &[labels.len(), 1, 8, 8]);
    Ok(Dataset::new(samples, labels, DIGITS_CLASSES))
}

/// Reads line `line` into `buf`; `None` at end of input.
fn next_line<'b, R: BufRead>(
    reader: &mut R,
    buf: &'b mut Vec<u8>,
    file: &str,
    line: usize,
) -> Result<Option<&'b str>, DataError> {
    buf.clear();
    let limit = MAX_LINE_BYTES as u64 + 1;
    let n = reader.by_ref().take(limit).read_until(b'\n', buf);
    let n = n.map_err(|error| DataError::Io {
        file: file.to_string(),
        at: Some(Location::Line(line)),
        error,
    })?;
    if n == 0 {
        return Ok(None);
    }
    if n > MAX_LINE_BYTES {
        let limit = MAX_LINE_BYTES;
        return Err(DataError::LineTooLong {
            file: file.to_string(),
            line,
            limit,
        });
    }
    match std::str::from_utf8(buf) {
        Ok(text) => Ok(Some(text)),
        Err(_) => Err(DataError::NotText {
            file: file.to_string(),
            line,
        }),
    }
}

/// Checks one sample line, appends its scaled pixels, and returns its label.
fn parse_line<E: Float>(
    text: &str,
    file: &str,
    line: usize,
    pixels: &mut Vec<E>,
) -> Result<usize, DataError> {
    let found = text.split(',').count();
    if found != DIGITS_PIXELS + 1 {
        let expected = DIGITS_PIXELS + 1;
        return Err(DataError::FieldCount {
            file: file.to_string(),
            line,
            expected,
            found,
        });
    }
    let scale = 1.0 / DIGITS_MAX_PIXEL as f64;
    let mut label = 0;
    for (i, field) in text.split(',').enumerate() {
        let at = Location::Cell {
            line,
            column: i + 1,
        };
        let value = parse_int(field, file, at)?;
        if i < DIGITS_PIXELS {
            if !(0..=DIGITS_MAX_PIXEL).contains(&value) {
                let (file, max) = (file.to_string(), DIGITS_MAX_PIXEL);
                return Err(DataError::PixelOutOfRange {
                    file,
                    at,
                    value,
                    max,
                });
            }
            pixels.push(E::from_f64(value as f64 * scale));
        } else {
            if !(0..DIGITS_CLASSES as i64).contains(&value) {
                let (file, at, num_classes) = (file.to_string(), Location::Line(line), 10);
                return Err(DataError::LabelOutOfRange {
                    file,
                    at,
                    value,
                    num_classes,
                });
            }
            label = value as usize;
        }
    }
    Ok(label)
}

/// Parses one CSV value as an integer.
fn parse_int(field: &str, file: &str, at: Location) -> Result<i64, DataError> {
    let field = field.trim();
    field.parse().map_err(|_| DataError::NotAnInteger {
        file: file.to_string(),
        at,
        text: field.chars().take(32).collect(),
    })
}
