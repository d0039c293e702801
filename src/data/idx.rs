//! Reading IDX files, the format the MNIST family of data sets ships in.
//!
//! An IDX file is a tiny header followed by one dense array:
//!
//! ```text
//! byte 0..2   two zero bytes
//! byte 2      element type (0x08 = unsigned byte, the only type accepted here)
//! byte 3      number of dimensions d
//! 4*d bytes   the dimensions, each a big-endian u32
//! rest        the elements, row-major, last dimension fastest
//! ```
//!
//! Files are often distributed gzip-compressed (`*.gz`); [`parse_idx`] detects
//! that from the gzip magic bytes `1f 8b`, so callers never need to care.
//!
//! Nothing here trusts the header: the product of the dimensions must equal
//! the number of payload bytes exactly, and no buffer is sized from header
//! values, so a corrupt or hostile file gives an error, never a huge
//! allocation or a panic.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use super::DataError;

/// Upper bound on the decompressed size of a gzip-compressed IDX file.
///
/// The largest supported file (60,000 MNIST-sized images) is 47 MB; anything
/// that inflates past 1 GiB is corrupt or not an IDX file, and is refused
/// before it can exhaust memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;

/// IDX element type code for unsigned bytes.
const TYPE_U8: u8 = 0x08;

/// The most dimensions accepted (images with channels would be 4-D).
const MAX_DIMS: usize = 4;

/// One array read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions from the header, outermost first (e.g. `[n, 28, 28]`).
    pub dims: Vec<usize>,
    /// The elements, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Parses an IDX file held in memory, raw or gzip-compressed.
///
/// Only unsigned-byte arrays (type `0x08`) with 1 to 4 dimensions, each
/// greater than zero, are accepted, and the payload must be exactly as long
/// as the dimensions say: a short file and a file with trailing bytes are
/// both errors. `what` names the file in error messages (a path, or a
/// description such as "embedded digit labels").
pub fn parse_idx(bytes: &[u8], what: &str) -> Result<IdxArray, DataError> {
    let plain = if bytes.starts_with(&[0x1f, 0x8b]) {
        Cow::Owned(gunzip(bytes, what, MAX_DECOMPRESSED_BYTES)?)
    } else {
        Cow::Borrowed(bytes)
    };
    parse_plain(plain, what)
}

/// Reads and parses the IDX file at `path` (raw or gzip-compressed).
///
/// I/O errors name the path; format errors are those of [`parse_idx`].
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_idx(&bytes, &path.display().to_string())
}

/// Decompresses a gzip stream (all members), refusing output above `limit`.
fn gunzip(bytes: &[u8], what: &str, limit: u64) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::new();
    // Read at most one byte past the limit: that byte's presence is how we
    // know the limit was exceeded, without inflating the rest.
    flate2::read::MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DataError::TooLarge {
            what: what.to_string(),
            limit,
        });
    }
    Ok(out)
}

/// Validates the header of uncompressed IDX bytes and splits off the payload.
fn parse_plain(bytes: Cow<'_, [u8]>, what: &str) -> Result<IdxArray, DataError> {
    let header_err = |detail: String| DataError::IdxHeader {
        what: what.to_string(),
        detail,
    };

    if bytes.len() < 4 {
        return Err(header_err(format!(
            "only {} bytes, shorter than the 4-byte magic number",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(header_err(format!(
            "magic number starts with {:02x} {:02x}, not 00 00",
            bytes[0], bytes[1]
        )));
    }
    if bytes[2] != TYPE_U8 {
        return Err(header_err(format!(
            "element type 0x{:02x} ({}), but only 0x08 (unsigned byte) is supported",
            bytes[2],
            type_name(bytes[2])
        )));
    }
    let ndims = usize::from(bytes[3]);
    if !(1..=MAX_DIMS).contains(&ndims) {
        return Err(header_err(format!(
            "{ndims} dimensions, but 1 to {MAX_DIMS} are supported"
        )));
    }
    let header_len = 4 + 4 * ndims;
    if bytes.len() < header_len {
        return Err(header_err(format!(
            "the header needs {header_len} bytes for {ndims} dimensions, but the file has only {}",
            bytes.len()
        )));
    }

    let mut dims = Vec::with_capacity(ndims);
    // u128 cannot overflow: at most four factors below 2^32.
    let mut expected: u128 = 1;
    for (k, chunk) in bytes[4..header_len].chunks_exact(4).enumerate() {
        let d = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if d == 0 {
            return Err(header_err(format!("dimension {k} is 0")));
        }
        expected *= u128::from(d);
        dims.push(d);
    }

    let actual = bytes.len() - header_len;
    if expected != actual as u128 {
        return Err(DataError::IdxLength {
            what: what.to_string(),
            dims: dims
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x"),
            expected,
            actual,
        });
    }
    // The product equals a real buffer length, so every dimension fits usize.
    let dims = dims.into_iter().map(|d| d as usize).collect();

    let data = match bytes {
        Cow::Borrowed(b) => b[header_len..].to_vec(),
        Cow::Owned(mut v) => {
            v.drain(..header_len);
            v
        }
    };
    Ok(IdxArray { dims, data })
}

/// Human-readable name of an IDX element type code, for error messages.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0b => "i16",
        0x0c => "i32",
        0x0d => "f32",
        0x0e => "f64",
        _ => "not an IDX type",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Builds raw IDX bytes with the given type byte, dimensions and payload.
    pub(crate) fn idx_bytes(type_byte: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, type_byte, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    /// Gzip-compresses `bytes`.
    pub(crate) fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).expect("writing to a Vec cannot fail");
        enc.finish().expect("writing to a Vec cannot fail")
    }

    fn sample_payload() -> Vec<u8> {
        (0..2 * 3 * 4).map(|i| (i * 10) as u8).collect()
    }

    fn err_text(r: Result<IdxArray, DataError>) -> String {
        match r {
            Ok(a) => panic!("expected an error, got dims {:?}", a.dims),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn raw_idx_round_trips_dims_and_data() {
        let payload = sample_payload();
        let a = parse_idx(&idx_bytes(8, &[2, 3, 4], &payload), "t").unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, payload);
    }

    #[test]
    fn gzipped_idx_round_trips_dims_and_data() {
        let payload = sample_payload();
        let a = parse_idx(&gz(&idx_bytes(8, &[2, 3, 4], &payload)), "t").unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, payload);
    }

    #[test]
    fn one_and_four_dimensional_idx_are_accepted() {
        let a = parse_idx(&idx_bytes(8, &[3], &[7, 8, 9]), "t").unwrap();
        assert_eq!(a.dims, vec![3]);
        let a = parse_idx(&idx_bytes(8, &[1, 2, 1, 2], &[1, 2, 3, 4]), "t").unwrap();
        assert_eq!(a.dims, vec![1, 2, 1, 2]);
    }

    #[test]
    fn idx_with_wrong_magic_is_an_error_naming_the_file() {
        let mut b = idx_bytes(8, &[3], &[1, 2, 3]);
        b[0] = 0x50; // e.g. a PNG or text file
        let msg = err_text(parse_idx(&b, "my-images.idx"));
        assert!(msg.contains("my-images.idx"), "{msg}");
        assert!(msg.contains("magic"), "{msg}");
        b[0] = 0;
        b[1] = 1;
        assert!(matches!(
            parse_idx(&b, "t"),
            Err(DataError::IdxHeader { .. })
        ));
    }

    #[test]
    fn idx_with_a_non_byte_element_type_is_an_error() {
        let msg = err_text(parse_idx(
            &idx_bytes(0x0d, &[1], &[0, 0, 0, 0]),
            "floats.idx",
        ));
        assert!(msg.contains("floats.idx"), "{msg}");
        assert!(msg.contains("0x0d"), "{msg}");
        assert!(msg.contains("f32"), "{msg}");
    }

    #[test]
    fn idx_with_zero_dimensions_is_an_error() {
        let msg = err_text(parse_idx(&idx_bytes(8, &[], &[]), "t"));
        assert!(msg.contains("0 dimensions"), "{msg}");
    }

    #[test]
    fn idx_with_five_dimensions_is_an_error() {
        let msg = err_text(parse_idx(&idx_bytes(8, &[1, 1, 1, 1, 1], &[0]), "t"));
        assert!(msg.contains("5 dimensions"), "{msg}");
    }

    #[test]
    fn idx_with_a_zero_sized_dimension_is_an_error() {
        let msg = err_text(parse_idx(&idx_bytes(8, &[0, 28, 28], &[]), "t"));
        assert!(msg.contains("dimension 0 is 0"), "{msg}");
    }

    #[test]
    fn idx_shorter_than_its_header_is_an_error() {
        assert!(matches!(
            parse_idx(&[0, 0], "t"),
            Err(DataError::IdxHeader { .. })
        ));
        let mut b = idx_bytes(8, &[2, 3], &[]);
        b.truncate(9); // header needs 12 bytes
        assert!(matches!(
            parse_idx(&b, "t"),
            Err(DataError::IdxHeader { .. })
        ));
    }

    #[test]
    fn truncated_idx_payload_is_an_error_with_both_lengths() {
        let payload = sample_payload();
        let b = idx_bytes(8, &[2, 3, 4], &payload[..20]);
        let msg = err_text(parse_idx(&b, "short.idx"));
        assert!(msg.contains("short.idx"), "{msg}");
        assert!(msg.contains("2x3x4"), "{msg}");
        assert!(msg.contains("24"), "{msg}");
        assert!(msg.contains("20"), "{msg}");
    }

    #[test]
    fn idx_with_trailing_bytes_is_an_error() {
        let mut payload = sample_payload();
        payload.push(0);
        let r = parse_idx(&idx_bytes(8, &[2, 3, 4], &payload), "t");
        assert!(matches!(
            r,
            Err(DataError::IdxLength {
                expected: 24,
                actual: 25,
                ..
            })
        ));
    }

    #[test]
    fn idx_header_claiming_huge_dims_is_rejected_without_allocating() {
        // 2^32-1 cubed would be ~8e28 bytes; must fail on length, not OOM.
        let b = idx_bytes(8, &[u32::MAX, u32::MAX, u32::MAX], &[1, 2, 3]);
        assert!(matches!(
            parse_idx(&b, "t"),
            Err(DataError::IdxLength { .. })
        ));
    }

    #[test]
    fn corrupt_gzip_is_an_error_naming_the_file() {
        let mut b = gz(&idx_bytes(8, &[2, 3, 4], &sample_payload()));
        let mid = b.len() / 2;
        for byte in &mut b[10..mid] {
            *byte ^= 0x5a;
        }
        let msg = err_text(parse_idx(&b, "broken.gz"));
        assert!(msg.contains("broken.gz"), "{msg}");
        assert!(msg.contains("gzip"), "{msg}");
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let b = gz(&idx_bytes(8, &[2, 3, 4], &sample_payload()));
        assert!(matches!(
            parse_idx(&b[..b.len() - 6], "t"),
            Err(DataError::Gzip { .. })
        ));
    }

    #[test]
    fn gzip_output_over_the_limit_is_refused() {
        let b = gz(&vec![0u8; 10_000]);
        assert!(gunzip(&b, "t", 10_000).is_ok());
        let r = gunzip(&b, "bomb.gz", 9_999);
        match r {
            Err(e @ DataError::TooLarge { .. }) => assert!(e.to_string().contains("bomb.gz")),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn reading_a_missing_file_is_an_io_error_naming_the_path() {
        let p = Path::new("/nonexistent/shaderprop/train-images-idx3-ubyte");
        match read_idx(p) {
            Err(e @ DataError::Io { .. }) => {
                assert!(e.to_string().contains(&p.display().to_string()))
            }
            other => panic!("expected Io, got {other:?}"),
        }
    }
}
