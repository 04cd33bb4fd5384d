//! Reading a safetensors file in order: the 8-byte header length, then the
//! header, then (only once the header is valid and the file's length
//! agrees with it) the data. A file whose prefix claims a huge header, or
//! whose header claims more (or less) data than the file holds, fails
//! after reading at most the header; a device such as `/dev/zero` fails
//! after its first bytes.

use super::header::{self, format_error};
use super::CheckpointError;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The bytes of the safetensors file at `path` (prefix, header and data),
/// read only as far as the header says they go and checked on the way.
pub(crate) fn read_file(path: &Path, file: &str) -> Result<Vec<u8>, CheckpointError> {
    let io = |error| CheckpointError::Io {
        file: file.to_string(),
        error,
    };
    let f = File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    // Devices and pipes report no useful length: read them as streams.
    let file_len = meta.is_file().then_some(meta.len());
    let mut reader = BufReader::new(f);
    let mut bytes = Vec::with_capacity(8);
    read_part(&mut reader, &mut bytes, 8, file)?;
    if bytes.len() < 8 {
        let message = format!(
            "expected an 8-byte header length, found {} bytes",
            bytes.len()
        );
        return Err(format_error(file, 0, message));
    }
    let prefix: [u8; 8] = bytes[..8].try_into().expect("8 bytes");
    let available = file_len.map_or(u64::MAX, |len| len - 8);
    let n = header::header_len(prefix, available, file)?;
    read_part(&mut reader, &mut bytes, n, file)?;
    let (metadata, data_start) = header::parse(&bytes, file)?;
    let declared = header::declared_data_len(&metadata);
    if let Some(len) = file_len {
        check_file_len(len, data_start, declared, file)?;
    }
    header::check_layout(&metadata, declared, data_start, file)?;
    // One byte more than declared, to see trailing data on a stream.
    read_part(&mut reader, &mut bytes, declared.saturating_add(1), file)?;
    let found = bytes.len() as u64 - data_start;
    if found != declared {
        let message = format!("header declares {declared} bytes of data, found {found}");
        return Err(format_error(file, data_start, message));
    }
    Ok(bytes)
}

/// Fails unless a file of `len` bytes is exactly the prefix, the header and
/// the `declared` bytes of data.
fn check_file_len(
    len: u64,
    data_start: u64,
    declared: u64,
    file: &str,
) -> Result<(), CheckpointError> {
    let expected = data_start.checked_add(declared);
    if expected == Some(len) {
        return Ok(());
    }
    let expected = expected.map_or("more than 2^64".to_string(), |e| e.to_string());
    let message = format!(
        "the file is {len} bytes, its header declares {expected} \
         ({data_start} of length and header, then {declared} of data)"
    );
    Err(format_error(file, data_start, message))
}

/// Appends up to `n` more bytes of `reader` to `bytes` (fewer at its end),
/// growing the buffer with the bytes actually read, not with `n`.
fn read_part(
    reader: &mut impl Read,
    bytes: &mut Vec<u8>,
    n: u64,
    file: &str,
) -> Result<(), CheckpointError> {
    let read = reader.by_ref().take(n).read_to_end(bytes);
    read.map(|_| ()).map_err(|error| CheckpointError::Io {
        file: file.to_string(),
        error,
    })
}
