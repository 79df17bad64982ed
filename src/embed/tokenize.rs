//! Tokenization and token-budget batching: texts are tokenized in parallel, sorted by real length
//! inside a window, and cut into batches whose padded size stays under a token budget.

use std::path::Path;

use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// A tokenizer configured like sentence-transformers: truncate at `max_length`, no fixed padding.
pub struct TextTokenizer {
    inner: Tokenizer,
    max_length: usize,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`, overriding its padding and truncation.
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self> {
        let mut inner = Tokenizer::from_file(path)
            .map_err(|e| Error::Model(format!("{}: cannot load the tokenizer: {e}", path.display())))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        inner.with_padding(None);
        Ok(TextTokenizer { inner, max_length })
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The truncation length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Token ids of one text, special tokens included.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.inner
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Model(format!("tokenizer failed: {e}")))
    }

    /// Token ids of many texts, in parallel on the rayon pool.
    pub fn encode_all(&self, texts: &[&str], prefix: &str) -> Result<Vec<Vec<u32>>> {
        texts
            .par_iter()
            .map(|t| {
                if prefix.is_empty() {
                    self.encode(t)
                } else {
                    self.encode(&format!("{prefix}{t}"))
                }
            })
            .collect()
    }
}

/// A padded batch ready for the model, row-major `[rows, cols]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenBatch {
    /// Token ids, zero-padded.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Number of texts.
    pub rows: usize,
    /// Padded length (the longest text in the batch).
    pub cols: usize,
    /// For each row, the position of its text in the window it came from.
    pub positions: Vec<usize>,
}

impl TokenBatch {
    /// Real (unpadded) tokens in the batch.
    pub fn real_tokens(&self) -> usize {
        self.attention_mask.iter().filter(|&&m| m == 1).count()
    }
}

/// Limits for cutting batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Most texts in one batch.
    pub max_rows: usize,
    /// Most padded tokens (rows × longest) in one batch.
    pub max_tokens: usize,
}

/// Sorts `encoded` by length (stable, so ties keep input order) and cuts batches by `limits`.
pub fn make_batches(encoded: &[Vec<u32>], limits: BatchLimits) -> Vec<TokenBatch> {
    let mut order: Vec<usize> = (0..encoded.len()).collect();
    order.sort_by_key(|&i| encoded[i].len());
    let mut batches = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        // Lengths ascend, so the padded width of [start, end] is the length at `end`.
        while end < order.len() {
            let rows = end - start + 1;
            let width = encoded[order[end]].len().max(1);
            if rows > limits.max_rows || (rows > 1 && rows * width > limits.max_tokens) {
                break;
            }
            end += 1;
        }
        batches.push(pad(encoded, &order[start..end]));
        start = end;
    }
    batches
}

fn pad(encoded: &[Vec<u32>], rows: &[usize]) -> TokenBatch {
    let cols = rows.iter().map(|&i| encoded[i].len()).max().unwrap_or(0).max(1);
    let mut input_ids = vec![0i64; rows.len() * cols];
    let mut attention_mask = vec![0i64; rows.len() * cols];
    for (r, &i) in rows.iter().enumerate() {
        for (c, &id) in encoded[i].iter().enumerate() {
            input_ids[r * cols + c] = i64::from(id);
            attention_mask[r * cols + c] = 1;
        }
    }
    TokenBatch {
        input_ids,
        attention_mask,
        rows: rows.len(),
        cols,
        positions: rows.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(ls: &[usize]) -> Vec<Vec<u32>> {
        ls.iter().map(|&l| vec![7; l]).collect()
    }

    #[test]
    fn batches_respect_token_budget_and_cover_every_text_once() {
        let enc = lens(&[5, 100, 3, 50, 50, 7, 200, 1]);
        let batches = make_batches(
            &enc,
            BatchLimits {
                max_rows: 4,
                max_tokens: 120,
            },
        );
        let mut seen: Vec<usize> = batches.iter().flat_map(|b| b.positions.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..enc.len()).collect::<Vec<_>>());
        for b in &batches {
            assert!(b.rows <= 4);
            assert!(
                b.rows == 1 || b.rows * b.cols <= 120,
                "batch {}x{} over budget",
                b.rows,
                b.cols
            );
        }
        // A text longer than the budget still gets a batch of its own.
        assert!(batches.iter().any(|b| b.rows == 1 && b.cols == 200));
    }

    #[test]
    fn padding_and_mask_match_lengths() {
        let enc = vec![vec![1, 2, 3], vec![4]];
        let b = &make_batches(
            &enc,
            BatchLimits {
                max_rows: 8,
                max_tokens: 100,
            },
        )[0];
        assert_eq!((b.rows, b.cols), (2, 3));
        assert_eq!(b.positions, vec![1, 0]);
        assert_eq!(b.input_ids, vec![4, 0, 0, 1, 2, 3]);
        assert_eq!(b.attention_mask, vec![1, 0, 0, 1, 1, 1]);
        assert_eq!(b.real_tokens(), 4);
    }
}
