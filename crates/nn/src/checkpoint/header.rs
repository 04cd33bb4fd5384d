//! Checking a safetensors header and data layout before `safetensors` reads it.
//!
//! The `safetensors` crate (0.4 and 0.8 alike) validates too, but its errors
//! carry no position, and its final size check (`end + 8 + n`) overflows for
//! offsets near `usize::MAX`: a panic in builds with overflow checks (debug,
//! `cargo test`). Everything it relies on is checked here first, with the
//! byte offset of each problem.

use super::CheckpointError;
use safetensors::tensor::{Metadata, TensorInfo};

/// Largest header accepted (the limit `safetensors` applies).
pub(crate) const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Checks that `bytes` is a well-formed safetensors file.
pub(crate) fn check(bytes: &[u8], file: &str) -> Result<(), CheckpointError> {
    let (metadata, data_start) = parse(bytes, file)?;
    check_layout(&metadata, bytes.len() as u64 - data_start, data_start, file)
}

/// The header of `bytes` (which start with the 8-byte length prefix and
/// hold at least the header after it) and where the data starts.
pub(crate) fn parse(bytes: &[u8], file: &str) -> Result<(Metadata, u64), CheckpointError> {
    let header = header_text(bytes, file)?;
    let metadata: Metadata = serde_json::from_str(header).map_err(|e| {
        let offset = 8 + json_offset(header, e.line(), e.column());
        format_error(file, offset, format!("invalid header JSON: {e}"))
    })?;
    Ok((metadata, 8 + header.len() as u64))
}

/// The header length the 8-byte `prefix` gives, checked against the limit
/// and against the `available` bytes after the prefix.
pub(crate) fn header_len(
    prefix: [u8; 8],
    available: u64,
    file: &str,
) -> Result<u64, CheckpointError> {
    let n = u64::from_le_bytes(prefix);
    if n > MAX_HEADER_BYTES {
        let message = format!("header length {n} is over the {MAX_HEADER_BYTES}-byte limit");
        return Err(format_error(file, 0, message));
    }
    if n > available {
        let message = format!("header length says {n} bytes, found {available} after it");
        return Err(format_error(file, 0, message));
    }
    Ok(n)
}

/// The header JSON text, after checking the 8-byte length prefix and UTF-8.
fn header_text<'b>(bytes: &'b [u8], file: &str) -> Result<&'b str, CheckpointError> {
    let Some(prefix) = bytes.first_chunk::<8>() else {
        let message = format!(
            "expected an 8-byte header length, found {} bytes",
            bytes.len()
        );
        return Err(format_error(file, 0, message));
    };
    let n = header_len(*prefix, bytes.len() as u64 - 8, file)?;
    let header = &bytes[8..8 + n as usize];
    std::str::from_utf8(header).map_err(|e| {
        let offset = 8 + e.valid_up_to() as u64;
        format_error(file, offset, "expected UTF-8 JSON header text".to_string())
    })
}

/// Where the last tensor's data ends (0 for no tensors): the length of the
/// data section the header declares.
pub(crate) fn declared_data_len(metadata: &Metadata) -> u64 {
    let ends = metadata
        .tensors()
        .into_values()
        .map(|t| t.data_offsets.1 as u64);
    ends.max().unwrap_or(0)
}

/// Checks that the tensors tile the data section exactly, in offset order,
/// each with as many bytes as its shape and dtype need.
pub(crate) fn check_layout(
    metadata: &Metadata,
    data_len: u64,
    data_start: u64,
    file: &str,
) -> Result<(), CheckpointError> {
    let mut infos: Vec<(String, &TensorInfo)> = metadata.tensors().into_iter().collect();
    infos.sort_by(|a, b| (a.1.data_offsets, &a.0).cmp(&(b.1.data_offsets, &b.0)));
    let mut pos = 0u64;
    for (name, info) in &infos {
        let (start, end) = (info.data_offsets.0 as u64, info.data_offsets.1 as u64);
        let at = data_start + pos;
        let problem = if start != pos {
            Some(format!(
                "tensor '{name}': expected data to start at {pos}, found {start}"
            ))
        } else if end < start || end > data_len {
            Some(format!(
                "tensor '{name}': data offsets [{start}, {end}] are outside the \
                 {data_len}-byte data section"
            ))
        } else {
            size_problem(name, info, end - start)
        };
        if let Some(message) = problem {
            return Err(format_error(file, at, message));
        }
        pos = end;
    }
    if pos != data_len {
        let message = format!(
            "expected end of file after the last tensor, found {} more bytes",
            data_len - pos
        );
        return Err(format_error(file, data_start + pos, message));
    }
    Ok(())
}

/// A message if `info`'s shape and dtype do not need exactly `found` bytes.
fn size_problem(name: &str, info: &TensorInfo, found: u64) -> Option<String> {
    // Strides multiply every size but zeros, so that product must fit too.
    let fits = info
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d.max(1)));
    let count = fits.map(|_| info.shape.iter().product::<usize>());
    let Some(bytes) = count.and_then(|c| c.checked_mul(info.dtype.size())) else {
        return Some(format!("tensor '{name}': shape {:?} overflows", info.shape));
    };
    (bytes as u64 != found).then(|| {
        format!(
            "tensor '{name}': shape {:?} of {:?} needs {bytes} bytes, found {found}",
            info.shape, info.dtype
        )
    })
}

/// The byte offset of a 1-based `line` and `column` in `text` (column 0: line start).
fn json_offset(text: &str, line: usize, column: usize) -> u64 {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len()) as u64
}

pub(crate) fn format_error(file: &str, offset: u64, message: String) -> CheckpointError {
    CheckpointError::Format {
        file: file.to_string(),
        offset,
        message,
    }
}
