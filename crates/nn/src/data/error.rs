//! `DataError`: what was wrong with a data file, and where.

use std::fmt;

/// A place in a data file, for error messages.
///
/// Lines and columns count from 1 (as editors show them); byte offsets count
/// from 0 (as `xxd` and `od` show them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A line of a text file.
    Line(usize),
    /// A value in a CSV file: line, then comma-separated column.
    Cell {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
    },
    /// A byte offset in a binary file (after gzip decompression, if any).
    Byte(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Cell { line, column } => write!(f, "line {line}, column {column}"),
            Location::Byte(offset) => write!(f, "byte {offset}"),
        }
    }
}

/// Why a data set could not be read: each variant names the file, the place
/// in it ([`Location`]) and what was expected versus found.
///
/// ```
/// use tapegrad_nn::data::parse_digits_csv;
/// let err = parse_digits_csv::<f32, _>(&b"1,2,3\n"[..], "tiny.csv").unwrap_err();
/// assert_eq!(err.to_string(), "tiny.csv line 1: expected 65 values, found 3");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read (gzip corruption shows up here too).
    Io {
        /// The file.
        file: String,
        /// How far reading had got, if known.
        at: Option<Location>,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A CSV line with the wrong number of comma-separated values.
    FieldCount {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
        /// Values a line must have.
        expected: usize,
        /// Values the line has.
        found: usize,
    },
    /// A CSV value that is not an integer.
    NotAnInteger {
        /// The file.
        file: String,
        /// Where the value is.
        at: Location,
        /// The text found (cut to 32 characters).
        text: String,
    },
    /// A CSV line that is longer than any valid line could be.
    LineTooLong {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
        /// The longest line accepted, in bytes.
        limit: usize,
    },
    /// A CSV line that is not UTF-8 text.
    NotText {
        /// The file.
        file: String,
        /// The line, from 1.
        line: usize,
    },
    /// A pixel value outside `0..=max`.
    PixelOutOfRange {
        /// The file.
        file: String,
        /// Where the pixel is.
        at: Location,
        /// The value found.
        value: i64,
        /// The largest valid pixel value.
        max: i64,
    },
    /// A class label outside `0..num_classes`.
    LabelOutOfRange {
        /// The file.
        file: String,
        /// Where the label is.
        at: Location,
        /// The value found.
        value: i64,
        /// Number of classes: labels must be below it.
        num_classes: usize,
    },
    /// A file with no samples in it.
    Empty {
        /// The file.
        file: String,
        /// Where a sample was expected.
        at: Location,
    },
    /// An IDX file whose magic number is not `0x0000TTNN` with a known type `TT`.
    BadMagic {
        /// The file.
        file: String,
        /// The offset of the offending byte (0 or 2).
        offset: u64,
        /// The four magic bytes found, as a big-endian number.
        found: u32,
    },
    /// An IDX file of another element type than the caller needs.
    UnexpectedType {
        /// The file.
        file: String,
        /// What the caller needs (e.g. `"u8 (0x08)"`).
        expected: &'static str,
        /// What the file holds.
        found: &'static str,
    },
    /// An IDX file with another number of dimensions than the caller needs.
    UnexpectedDims {
        /// The file.
        file: String,
        /// Dimensions needed.
        expected: usize,
        /// Dimensions in the file.
        found: usize,
    },
    /// IDX dimensions whose product does not fit in memory addresses.
    SizeOverflow {
        /// The file.
        file: String,
        /// The dimensions declared.
        dims: Vec<u64>,
    },
    /// An IDX header declaring more data than the reader accepts
    /// ([`IDX_MAX_BYTES`](super::IDX_MAX_BYTES) by default); nothing after
    /// the header was read.
    TooLarge {
        /// The file.
        file: String,
        /// The dimensions declared.
        dims: Vec<u64>,
        /// Bytes of data they declare.
        claimed: u64,
        /// The most bytes accepted.
        limit: u64,
    },
    /// A file that ends before its header says it should.
    Truncated {
        /// The file.
        file: String,
        /// Where the truncated part starts.
        offset: u64,
        /// What is truncated: `"header"` or `"data"`.
        part: &'static str,
        /// Bytes the header says the part has.
        expected: u64,
        /// Bytes actually there.
        found: u64,
    },
    /// A file with bytes left over after the data its header declares.
    TrailingBytes {
        /// The file.
        file: String,
        /// Where the data should have ended.
        offset: u64,
    },
    /// Image and label files that do not hold the same number of items.
    CountMismatch {
        /// The image file.
        images: String,
        /// The label file.
        labels: String,
        /// Number of images.
        num_images: usize,
        /// Number of labels.
        num_labels: usize,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        match self {
            Io {
                file,
                at: None,
                error,
            } => write!(f, "{file}: {error}"),
            Io {
                file,
                at: Some(at),
                error,
            } => write!(f, "{file}: {at}: {error}"),
            FieldCount {
                file,
                line,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{file} line {line}: expected {expected} values, found {found}"
                )
            }
            NotAnInteger { file, at, text } => {
                write!(f, "{file} {at}: expected an integer, found {text:?}")
            }
            LineTooLong { file, line, limit } => {
                write!(
                    f,
                    "{file} line {line}: expected at most {limit} bytes, found more"
                )
            }
            NotText { file, line } => write!(f, "{file} line {line}: expected UTF-8 text"),
            PixelOutOfRange {
                file,
                at,
                value,
                max,
            } => {
                write!(f, "{file}: pixel {value} at {at} is not in 0..={max}")
            }
            LabelOutOfRange {
                file,
                at,
                value,
                num_classes,
            } => {
                let max = num_classes.saturating_sub(1);
                write!(f, "{file}: label {value} at {at} is not in 0..={max}")
            }
            Empty { file, at } => write!(f, "{file} {at}: expected a sample, found end of file"),
            BadMagic { .. } | UnexpectedType { .. } | UnexpectedDims { .. } => self.fmt_header(f),
            _ => self.fmt_size(f),
        }
    }
}

impl DataError {
    /// `Display` for errors in an IDX header's magic number.
    fn fmt_header(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        match self {
            BadMagic {
                file,
                offset: 0,
                found,
            } => write!(
                f,
                "{file}: byte 0: expected an IDX magic number 0x0000TTNN, found {found:#010x}"
            ),
            BadMagic {
                file,
                offset,
                found,
            } => write!(
                f,
                "{file}: byte {offset}: expected an IDX type code 0x08, 0x09, 0x0b, 0x0c, \
                 0x0d or 0x0e, found {:#04x}",
                (found >> 8) & 0xff
            ),
            UnexpectedType {
                file,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{file}: byte 2: expected element type {expected}, found {found}"
                )
            }
            UnexpectedDims {
                file,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{file}: byte 3: expected {expected} dimensions, found {found}"
                )
            }
            _ => unreachable!("fmt_header is only called for header errors"),
        }
    }

    /// `Display` for IDX size errors.
    fn fmt_size(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DataError::*;
        match self {
            SizeOverflow { file, dims } => {
                write!(
                    f,
                    "{file}: byte 4: dimensions {dims:?} overflow the address space"
                )
            }
            TooLarge {
                file,
                dims,
                claimed,
                limit,
            } => write!(
                f,
                "{file}: byte 4: dimensions {dims:?} declare {claimed} bytes of data, \
                 over the limit of {limit}"
            ),
            Truncated {
                file,
                offset,
                part,
                expected,
                found,
            } => write!(
                f,
                "{file}: byte {offset}: truncated: header says {expected} bytes of {part}, \
                 found {found}"
            ),
            TrailingBytes { file, offset } => write!(
                f,
                "{file}: byte {offset}: expected end of file after the declared data, found more"
            ),
            CountMismatch {
                images,
                labels,
                num_images,
                num_labels,
            } => write!(
                f,
                "{labels}: byte 4: expected {num_images} labels (one per image in {images}), \
                 found {num_labels}"
            ),
            _ => unreachable!("fmt_size is only called for size errors"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}
