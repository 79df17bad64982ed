//! A deterministic stand-in embedder for unit tests of mining logic: hashed bag of token ids.
//! Texts sharing tokens get similar vectors; never used by the binary.

use super::tokenize::TokenBatch;
use super::{Embedder, l2_normalize};
use crate::error::Result;

/// Hashes each token id into one of `dim` buckets, then L2-normalises.
pub struct HashEmbedder {
    /// Output dimension.
    pub dim: usize,
}

impl Embedder for HashEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let mut out = vec![0f32; batch.rows * self.dim];
        for r in 0..batch.rows {
            let row = &mut out[r * self.dim..(r + 1) * self.dim];
            for c in (0..batch.cols).filter(|&c| batch.attention_mask[r * batch.cols + c] == 1) {
                let id = batch.input_ids[r * batch.cols + c] as u64;
                let h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
                row[(h % self.dim as u64) as usize] += 1.0;
            }
            l2_normalize(row);
        }
        Ok(out)
    }
}
