//! The IDX file format of MNIST and Fashion-MNIST: read, parse and write.
//!
//! An IDX file is a 4-byte magic number `0x00 0x00 TT NN` (`TT` the element
//! type, `NN` the number of dimensions), `NN` big-endian `u32` dimensions,
//! then the elements in row-major order, big-endian. MNIST images are
//! `0x00000803` (`u8`, `[N, rows, cols]`), labels `0x00000801` (`u8`, `[N]`).
//! Files may be gzip-compressed (`.idx.gz`, or `-ubyte.gz` as distributed);
//! compression is detected from the gzip magic bytes, not the name.
//!
//! The header is read first: the data size it declares (the product of
//! the dimensions times the element size, in checked arithmetic) must be
//! at most [`IDX_MAX_BYTES`] (or the limit given to [`read_idx_limited`] /
//! [`parse_idx_limited`]), and at most that many bytes (plus one, to see
//! trailing data) are then read or inflated, so a small gzip file whose
//! header claims a huge array costs no more memory than its claim allows.

use super::source::{self, read_up_to};
use super::DataError;
use std::io::{BufRead, Read, Write};
use std::path::Path;

/// The largest data section (in bytes, after decompression) [`read_idx`]
/// and [`parse_idx`] accept: 4 GiB, eight times EMNIST's largest file.
/// A header declaring more is refused with [`DataError::TooLarge`] before
/// any data is read; [`read_idx_limited`] takes another limit.
pub const IDX_MAX_BYTES: u64 = 1 << 32;

/// The element type of an IDX file (byte 2 of the magic number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxType {
    /// `0x08`: unsigned byte (MNIST pixels and labels).
    U8,
    /// `0x09`: signed byte.
    I8,
    /// `0x0B`: big-endian `i16`.
    I16,
    /// `0x0C`: big-endian `i32`.
    I32,
    /// `0x0D`: big-endian `f32`.
    F32,
    /// `0x0E`: big-endian `f64`.
    F64,
}

impl IdxType {
    /// The type for a magic-number type code, if it is one.
    pub fn from_code(code: u8) -> Option<IdxType> {
        use IdxType::*;
        Some(match code {
            0x08 => U8,
            0x09 => I8,
            0x0B => I16,
            0x0C => I32,
            0x0D => F32,
            0x0E => F64,
            _ => return None,
        })
    }

    /// The magic-number type code.
    pub fn code(self) -> u8 {
        use IdxType::*;
        match self {
            U8 => 0x08,
            I8 => 0x09,
            I16 => 0x0B,
            I32 => 0x0C,
            F32 => 0x0D,
            F64 => 0x0E,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        use IdxType::*;
        match self {
            U8 | I8 => 1,
            I16 => 2,
            I32 | F32 => 4,
            F64 => 8,
        }
    }

    /// A name for messages, e.g. `"u8 (0x08)"`.
    pub fn name(self) -> &'static str {
        use IdxType::*;
        match self {
            U8 => "u8 (0x08)",
            I8 => "i8 (0x09)",
            I16 => "i16 (0x0b)",
            I32 => "i32 (0x0c)",
            F32 => "f32 (0x0d)",
            F64 => "f64 (0x0e)",
        }
    }
}

/// The elements of an IDX file, in row-major order, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum IdxData {
    /// `0x08` elements.
    U8(Vec<u8>),
    /// `0x09` elements.
    I8(Vec<i8>),
    /// `0x0B` elements.
    I16(Vec<i16>),
    /// `0x0C` elements.
    I32(Vec<i32>),
    /// `0x0D` elements.
    F32(Vec<f32>),
    /// `0x0E` elements.
    F64(Vec<f64>),
}

impl IdxData {
    /// The element type.
    pub fn idx_type(&self) -> IdxType {
        match self {
            IdxData::U8(_) => IdxType::U8,
            IdxData::I8(_) => IdxType::I8,
            IdxData::I16(_) => IdxType::I16,
            IdxData::I32(_) => IdxType::I32,
            IdxData::F32(_) => IdxType::F32,
            IdxData::F64(_) => IdxType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// True if there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes `bytes` (big-endian, a whole number of elements) as elements of `ty`.
    fn from_be_bytes(ty: IdxType, bytes: &[u8]) -> IdxData {
        fn decode<T, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
            let chunks = bytes.chunks_exact(N);
            chunks
                .map(|c| f(c.try_into().expect("chunks of N")))
                .collect()
        }
        match ty {
            IdxType::U8 => IdxData::U8(bytes.to_vec()),
            IdxType::I8 => IdxData::I8(decode(bytes, i8::from_be_bytes)),
            IdxType::I16 => IdxData::I16(decode(bytes, i16::from_be_bytes)),
            IdxType::I32 => IdxData::I32(decode(bytes, i32::from_be_bytes)),
            IdxType::F32 => IdxData::F32(decode(bytes, f32::from_be_bytes)),
            IdxType::F64 => IdxData::F64(decode(bytes, f64::from_be_bytes)),
        }
    }

    /// Appends the elements big-endian to `out`.
    fn write_be_bytes(&self, out: &mut Vec<u8>) {
        match self {
            IdxData::U8(v) => out.extend_from_slice(v),
            IdxData::I8(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
            IdxData::I16(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
            IdxData::I32(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
            IdxData::F32(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
            IdxData::F64(v) => out.extend(v.iter().flat_map(|x| x.to_be_bytes())),
        }
    }
}

/// An n-dimensional array read from (or to be written to) an IDX file.
///
/// ```
/// use tapegrad_nn::data::{parse_idx, IdxArray, IdxData};
/// let labels = IdxArray::new(vec![3], IdxData::U8(vec![7, 2, 1]));
/// let bytes = labels.to_bytes();
/// assert_eq!(&bytes[..8], &[0, 0, 8, 1, 0, 0, 0, 3]); // magic 0x00000801, N = 3
/// assert_eq!(parse_idx(&bytes)?, labels);
/// # Ok::<(), tapegrad_nn::data::DataError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    dims: Vec<usize>,
    data: IdxData,
}

impl IdxArray {
    /// An array of shape `dims` holding `data` in row-major order.
    ///
    /// # Panics
    /// If the product of `dims` is not `data.len()`, there are more than 255
    /// dimensions, or a dimension exceeds `u32::MAX` (IDX cannot store them).
    #[track_caller]
    pub fn new(dims: Vec<usize>, data: IdxData) -> IdxArray {
        let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(data.len()) || dims.len() > 255 || dims.iter().any(|&d| d > u32::MAX as usize)
        {
            panic!(
                "IdxArray::new: {} elements cannot have IDX shape {:?}",
                data.len(),
                dims
            );
        }
        IdxArray { dims, data }
    }

    /// The dimensions (`[N, rows, cols]` for MNIST images).
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// The elements.
    pub fn data(&self) -> &IdxData {
        &self.data
    }

    /// The elements, by value.
    pub fn into_data(self) -> IdxData {
        self.data
    }

    /// The array encoded as an (uncompressed) IDX file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let ty = self.data.idx_type();
        let mut out = Vec::with_capacity(4 + 4 * self.dims.len() + self.data.len() * ty.size());
        out.extend_from_slice(&[0, 0, ty.code(), self.dims.len() as u8]);
        for &d in &self.dims {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        self.data.write_be_bytes(&mut out);
        out
    }
}

/// Parses an IDX file held in memory (gzip-compressed or not).
///
/// Errors name the byte offset (into the decompressed stream) where the
/// problem is; the data size the header declares is checked against
/// [`IDX_MAX_BYTES`] and then against the bytes present, and no more than
/// it is ever inflated.
///
/// # Errors
/// A [`DataError`] naming `<memory>` and the byte offset.
pub fn parse_idx(bytes: &[u8]) -> Result<IdxArray, DataError> {
    parse_named(bytes, "<memory>")
}

/// [`parse_idx`] accepting at most `max_bytes` bytes of data.
///
/// # Errors
/// As [`parse_idx`]; [`DataError::TooLarge`] if the header declares more
/// than `max_bytes` bytes of data.
pub fn parse_idx_limited(bytes: &[u8], max_bytes: u64) -> Result<IdxArray, DataError> {
    let file = "<memory>";
    read_from(source::maybe_gunzip(bytes, file)?, file, max_bytes)
}

/// Reads an IDX file (`.idx`, or gzip-compressed `.idx.gz`) of at most
/// [`IDX_MAX_BYTES`] bytes of data.
///
/// # Errors
/// A [`DataError`] naming the file and the byte offset of the problem.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray, DataError> {
    read_idx_limited(path, IDX_MAX_BYTES)
}

/// [`read_idx`] accepting at most `max_bytes` bytes of data.
///
/// # Errors
/// As [`read_idx`]; [`DataError::TooLarge`] if the header declares more
/// than `max_bytes` bytes of data.
pub fn read_idx_limited(path: impl AsRef<Path>, max_bytes: u64) -> Result<IdxArray, DataError> {
    let path = path.as_ref();
    read_from(source::open(path)?, &path.display().to_string(), max_bytes)
}

/// Writes `array` to `path` as IDX, gzip-compressed if `path` ends in `.gz`.
///
/// # Errors
/// [`DataError::Io`] naming `path` if it cannot be created or written.
pub fn write_idx(path: impl AsRef<Path>, array: &IdxArray) -> Result<(), DataError> {
    let path = path.as_ref();
    let io_err = |error| DataError::Io {
        file: path.display().to_string(),
        at: None,
        error,
    };
    let bytes = array.to_bytes();
    let file = std::fs::File::create(path).map_err(io_err)?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        gz.write_all(&bytes).map_err(io_err)?;
        gz.finish().map_err(io_err)?;
        Ok(())
    } else {
        std::io::BufWriter::new(file)
            .write_all(&bytes)
            .map_err(io_err)
    }
}

/// [`parse_idx`] with a name for error messages.
pub(crate) fn parse_named(bytes: &[u8], file: &str) -> Result<IdxArray, DataError> {
    read_from(source::maybe_gunzip(bytes, file)?, file, IDX_MAX_BYTES)
}

/// Reads one IDX array of at most `max_bytes` bytes of data from `reader`,
/// which must hold nothing after it.
fn read_from(
    mut reader: Box<dyn BufRead + '_>,
    file: &str,
    max_bytes: u64,
) -> Result<IdxArray, DataError> {
    let (ty, dims) = read_header(&mut reader, file)?;
    let offset = 4 + 4 * dims.len() as u64;
    let too_big = || DataError::SizeOverflow {
        file: file.to_string(),
        dims: dims.iter().map(|&d| d as u64).collect(),
    };
    // Zero-size dims aside, the shape must be addressable (tensor strides are
    // products of the other dims even when one of them is 0).
    let strides_fit = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d.max(1)));
    let count = strides_fit.map(|_| dims.iter().product::<usize>());
    let nbytes = count.and_then(|n| n.checked_mul(ty.size()));
    let nbytes = nbytes
        .filter(|&n| n < isize::MAX as usize)
        .ok_or_else(too_big)?;
    if nbytes as u64 > max_bytes {
        return Err(DataError::TooLarge {
            file: file.to_string(),
            dims: dims.iter().map(|&d| d as u64).collect(),
            claimed: nbytes as u64,
            limit: max_bytes,
        });
    }
    // Read (inflate) at most one byte past the declared size: the buffer
    // grows with the bytes actually present, so a lying header cannot make
    // us allocate its claim, and trailing data is seen without reading it.
    let mut data = Vec::new();
    let limit = nbytes as u64 + 1;
    let read = reader.by_ref().take(limit).read_to_end(&mut data);
    read.map_err(|error| io_error(file, offset + data.len() as u64, error))?;
    if data.len() < nbytes {
        let (expected, found) = (nbytes as u64, data.len() as u64);
        let file = file.to_string();
        return Err(DataError::Truncated {
            file,
            offset,
            part: "data",
            expected,
            found,
        });
    }
    if data.len() > nbytes {
        let offset = offset + nbytes as u64;
        return Err(DataError::TrailingBytes {
            file: file.to_string(),
            offset,
        });
    }
    Ok(IdxArray {
        dims,
        data: IdxData::from_be_bytes(ty, &data),
    })
}

/// Reads the magic number and dimensions.
fn read_header(reader: &mut dyn Read, file: &str) -> Result<(IdxType, Vec<usize>), DataError> {
    let mut magic = [0u8; 4];
    read_header_bytes(reader, &mut magic, 0, file)?;
    let found = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::BadMagic {
            file: file.to_string(),
            offset: 0,
            found,
        });
    }
    let Some(ty) = IdxType::from_code(magic[2]) else {
        return Err(DataError::BadMagic {
            file: file.to_string(),
            offset: 2,
            found,
        });
    };
    let mut raw = vec![0u8; 4 * magic[3] as usize];
    read_header_bytes(reader, &mut raw, 4, file)?;
    let dims = raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok((ty, dims))
}

/// Fills `buf` with the header bytes that start at `offset`, or says the header is truncated.
fn read_header_bytes(
    reader: &mut dyn Read,
    buf: &mut [u8],
    offset: u64,
    file: &str,
) -> Result<(), DataError> {
    let n = read_up_to(reader, buf).map_err(|error| io_error(file, offset, error))?;
    if n < buf.len() {
        let (expected, found) = (offset + buf.len() as u64, offset + n as u64);
        let file = file.to_string();
        return Err(DataError::Truncated {
            file,
            offset,
            part: "header",
            expected,
            found,
        });
    }
    Ok(())
}

fn io_error(file: &str, offset: u64, error: std::io::Error) -> DataError {
    DataError::Io {
        file: file.to_string(),
        at: Some(super::Location::Byte(offset)),
        error,
    }
}
