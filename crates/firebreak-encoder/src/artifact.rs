//! The model file: named little-endian tensors written by
//! `scripts/build-encoder-model.py`.
//!
//! Layout: the magic `FBENC\0\0\x01`, a `u32` tensor count, then per tensor a `u16` name
//! length, the name, a `u8` dtype (0 f32, 1 u8, 2 i8, 3 f16), a `u8` rank, `rank` `u32`
//! dimensions and the data. Everything is checked before it is used: a truncated or
//! mislabelled file is an error, never a panic.

use std::collections::HashMap;

use crate::EncoderError;

const MAGIC: &[u8; 8] = b"FBENC\x00\x00\x01";
/// Upper bound on one tensor's element count, so a corrupt header cannot ask for an
/// absurd allocation.
const MAX_ELEMENTS: usize = 64 << 20;

/// One tensor as stored: its shape and raw little-endian bytes.
pub(crate) struct Tensor<'a> {
    pub shape: Vec<usize>,
    dtype: u8,
    data: &'a [u8],
}

impl<'a> Tensor<'a> {
    /// Float data, widened to f32 when stored as f16.
    pub fn f32s(&self, name: &str) -> Result<Vec<f32>, EncoderError> {
        if self.dtype == 3 {
            return Ok(self
                .data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect());
        }
        self.expect_dtype(name, 0)?;
        Ok(self
            .data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// The raw bytes of a u8 or i8 tensor, where they are stored.
    pub fn bytes(&self, name: &str) -> Result<&'a [u8], EncoderError> {
        if self.dtype != 1 {
            self.expect_dtype(name, 2)?;
        }
        Ok(self.data)
    }

    pub fn u8s(&self, name: &str) -> Result<Vec<u8>, EncoderError> {
        self.expect_dtype(name, 1)?;
        Ok(self.data.to_vec())
    }

    fn expect_dtype(&self, name: &str, dtype: u8) -> Result<(), EncoderError> {
        if self.dtype == dtype {
            Ok(())
        } else {
            Err(EncoderError::Format(format!(
                "tensor {name} has dtype {}, expected {dtype}",
                self.dtype
            )))
        }
    }
}

/// Every tensor of a model file, borrowed from its bytes.
pub(crate) struct Tensors<'a> {
    map: HashMap<String, Tensor<'a>>,
}

impl<'a> Tensors<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, EncoderError> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(8)? != MAGIC {
            return Err(EncoderError::Format("not a firebreak encoder file".into()));
        }
        let count = r.u32()? as usize;
        let mut map = HashMap::with_capacity(count.min(256));
        for _ in 0..count {
            let name_len = u16::from_le_bytes(r.take(2)?.try_into().unwrap()) as usize;
            let name = std::str::from_utf8(r.take(name_len)?)
                .map_err(|_| EncoderError::Format("tensor name is not UTF-8".into()))?
                .to_owned();
            let head = r.take(2)?;
            let (dtype, rank) = (head[0], head[1] as usize);
            let width = match dtype {
                0 => 4,
                3 => 2,
                1 | 2 => 1,
                other => return Err(EncoderError::Format(format!("{name}: dtype {other}"))),
            };
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(r.u32()? as usize);
            }
            let elements = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
            let elements = elements
                .filter(|&n| n <= MAX_ELEMENTS)
                .ok_or_else(|| EncoderError::Format(format!("{name}: shape {shape:?}")))?;
            let data = r.take(elements * width)?;
            map.insert(name, Tensor { shape, dtype, data });
        }
        if r.pos != bytes.len() {
            return Err(EncoderError::Format(
                "trailing bytes after the last tensor".into(),
            ));
        }
        Ok(Self { map })
    }

    pub fn get(&self, name: &str) -> Result<&Tensor<'a>, EncoderError> {
        self.map
            .get(name)
            .ok_or_else(|| EncoderError::Format(format!("missing tensor {name}")))
    }

    /// An f32 matrix `rows × cols`, checked against the expected shape.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Vec<f32>, EncoderError> {
        let t = self.get(name)?;
        if t.shape != [rows, cols] {
            return Err(EncoderError::Format(format!(
                "{name}: shape {:?}, expected [{rows}, {cols}]",
                t.shape
            )));
        }
        t.f32s(name)
    }

    /// An f32 vector of `len` elements.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, EncoderError> {
        let t = self.get(name)?;
        if t.shape != [len] {
            return Err(EncoderError::Format(format!(
                "{name}: shape {:?}, expected [{len}]",
                t.shape
            )));
        }
        t.f32s(name)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EncoderError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| EncoderError::Format("truncated model file".into()))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, EncoderError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
}
