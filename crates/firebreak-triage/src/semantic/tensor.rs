//! Base64 tensors of the committed model files (`exact_heads.json`,
//! `exact_neighbours.json`): decoded once at load, with their length checked.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The bytes of a base64 tensor, `len` of them when given; the reason it cannot be read
/// otherwise.
pub(crate) fn bytes(b64: &str, len: Option<usize>) -> Result<Vec<u8>, String> {
    let bytes = STANDARD.decode(b64).map_err(|e| e.to_string())?;
    match len {
        Some(len) if bytes.len() != len => Err(format!("{} bytes, expected {len}", bytes.len())),
        _ => Ok(bytes),
    }
}

/// `len` little-endian `f32`s.
pub(crate) fn floats(b64: &str, len: usize) -> Result<Vec<f32>, String> {
    Ok(bytes(b64, Some(len * 4))?
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}
