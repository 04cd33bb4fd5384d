//! Opening data files, plain or gzip-compressed (detected by the gzip magic bytes).

use super::DataError;
use flate2::bufread::MultiGzDecoder;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// The two bytes every gzip stream starts with.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True if `bytes` start like a gzip stream.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// A reader over `inner`'s content, decompressed if it starts with the gzip magic bytes.
pub(crate) fn maybe_gunzip<'a, R: BufRead + 'a>(
    mut inner: R,
    file: &str,
) -> Result<Box<dyn BufRead + 'a>, DataError> {
    let head = inner.fill_buf().map_err(|error| DataError::Io {
        file: file.to_string(),
        at: Some(super::Location::Byte(0)),
        error,
    })?;
    if is_gzip(head) {
        Ok(Box::new(BufReader::new(MultiGzDecoder::new(inner))))
    } else {
        Ok(Box::new(inner))
    }
}

/// Opens `path` for reading, decompressing gzip transparently.
pub(crate) fn open(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let file = File::open(path).map_err(|error| DataError::Io {
        file: path.display().to_string(),
        at: None,
        error,
    })?;
    maybe_gunzip(BufReader::new(file), &path.display().to_string())
}

/// Reads up to `buf.len()` bytes, stopping early only at end of input.
pub(crate) fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
