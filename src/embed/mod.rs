//! The embedding stage: tokenize ‖ embed on threads joined by a bounded channel, batches cut by a
//! token budget after sorting by length inside a window, results handed on in input order.

#[cfg(feature = "cuda")]
pub mod cuda;
pub mod hash;
pub mod model;
pub mod onnx;
pub mod onnx_file;
pub mod replicas;
pub mod runtime;
pub mod shared_weights;
pub mod tokenize;

use std::time::{Duration, Instant};

use crate::error::Result;
use tokenize::{BatchLimits, TextTokenizer, TokenBatch, make_batches};

/// The seam between tokenized batches and vectors: one synchronous call per batch.
pub trait Embedder: Send {
    /// Length of each vector.
    fn dim(&self) -> usize;
    /// Row-major `[batch.rows, dim]` L2-normalised vectors, in the batch's row order.
    fn embed(&mut self, batch: &TokenBatch) -> Result<Vec<f32>>;
    /// The vectors of each batch, in the order given (one after another unless overridden).
    fn embed_batches(&mut self, batches: &[TokenBatch]) -> Result<Vec<Vec<f32>>> {
        batches.iter().map(|b| self.embed(b)).collect()
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= norm);
}

/// Default padded tokens per model batch. On CPU a small batch keeps the layers' activations
/// (512 × 1,536 floats in the FFN) near the caches: alternated on long (CISI) and short (synthetic)
/// passages, 512 ran 4-6% faster than 1,024 in int8 and 1-5% in fp32, 1,024 faster than 2,048, and
/// 384 or 256 slower again (BENCHMARKS.md). A text longer than the budget gets a batch of its own.
/// A GPU wants far larger batches (`--max-batch-tokens`).
pub const DEFAULT_MAX_BATCH_TOKENS: usize = 512;

/// Batching settings of the embedding stage.
#[derive(Debug, Clone, Copy)]
pub struct EmbedSettings {
    /// Batch limits (texts and padded tokens).
    pub limits: BatchLimits,
    /// Texts sorted together; larger windows pad less but hold more in memory.
    pub window: usize,
    /// Tokenized windows waiting for the model (the channel's capacity).
    pub queue: usize,
}

impl Default for EmbedSettings {
    fn default() -> Self {
        EmbedSettings {
            limits: BatchLimits {
                max_rows: 32,
                max_tokens: DEFAULT_MAX_BATCH_TOKENS,
            },
            window: 4096,
            queue: 2,
        }
    }
}

/// Counts and timings of one embedding pass.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct EmbedStats {
    /// Texts embedded.
    pub texts: usize,
    /// Real tokens (special tokens included, padding excluded).
    pub tokens: usize,
    /// Padded tokens fed to the model.
    pub padded_tokens: usize,
    /// Texts cut at the maximum length.
    pub truncated: usize,
    /// Batches run.
    pub batches: usize,
    /// Seconds spent inside the model.
    pub model_seconds: f64,
    /// Wall seconds of the whole pass.
    pub wall_seconds: f64,
}

impl EmbedStats {
    /// Adds another pass's counts and times.
    pub fn absorb(&mut self, other: &EmbedStats) {
        self.texts += other.texts;
        self.tokens += other.tokens;
        self.padded_tokens += other.padded_tokens;
        self.truncated += other.truncated;
        self.batches += other.batches;
        self.model_seconds += other.model_seconds;
        self.wall_seconds += other.wall_seconds;
    }
}

struct Window {
    batches: Vec<TokenBatch>,
    len: usize,
    truncated: usize,
}

/// Embeds `texts` (each prefixed with `prompt`) window by window, calling `sink` with each window's
/// vectors in input order (row-major, `texts_in_window × dim`). Texts are pulled one window at a
/// time (a failed read ends the pass with its error), and tokenization of the next window runs
/// while the model works on the current one.
pub fn embed_stream<I, T>(
    texts: I,
    prompt: &str,
    tokenizer: &TextTokenizer,
    embedder: &mut dyn Embedder,
    settings: EmbedSettings,
    mut sink: impl FnMut(Vec<f32>) -> Result<()>,
) -> Result<EmbedStats>
where
    I: Iterator<Item = Result<T>> + Send,
    T: AsRef<str> + Send,
{
    let started = Instant::now();
    let dim = embedder.dim();
    let mut stats = EmbedStats::default();
    let mut model_time = Duration::ZERO;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = crossbeam_channel::bounded::<Result<Window>>(settings.queue.max(1));
        let producer = scope.spawn(move || {
            let mut texts = texts.peekable();
            while texts.peek().is_some() {
                let window = texts
                    .by_ref()
                    .take(settings.window.max(1))
                    .collect::<Result<Vec<T>>>()
                    .and_then(|owned| {
                        let chunk: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
                        let encoded = tokenizer.encode_all(&chunk, prompt)?;
                        Ok(Window {
                            truncated: encoded.iter().filter(|e| e.len() >= tokenizer.max_length()).count(),
                            batches: make_batches(&encoded, settings.limits),
                            len: chunk.len(),
                        })
                    });
                let failed = window.is_err();
                if tx.send(window).is_err() || failed {
                    break;
                }
            }
        });
        for window in rx {
            let window = window?;
            let mut out = vec![0f32; window.len * dim];
            let t = Instant::now();
            let embedded = embedder.embed_batches(&window.batches)?;
            model_time += t.elapsed();
            for (batch, vectors) in window.batches.iter().zip(embedded) {
                for (row, &pos) in batch.positions.iter().enumerate() {
                    out[pos * dim..(pos + 1) * dim].copy_from_slice(&vectors[row * dim..(row + 1) * dim]);
                }
                stats.tokens += batch.real_tokens();
                stats.padded_tokens += batch.rows * batch.cols;
                stats.batches += 1;
            }
            stats.texts += window.len;
            stats.truncated += window.truncated;
            sink(out)?;
        }
        producer.join().expect("tokenizer thread panicked");
        Ok(())
    })?;
    stats.model_seconds = model_time.as_secs_f64();
    stats.wall_seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_normalize_gives_unit_length_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = [0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0, 0.0]);
    }
}
