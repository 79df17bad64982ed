//! Model replicas side by side: each batch of a window goes to whichever replica is free.
//!
//! On a CPU, one onnxruntime session with N intra-op threads splits every operator N ways and its
//! threads meet after each one; this model's many small operators (layer norms, softmax, the
//! quantization of activations) leave threads waiting at those meetings. N sessions of one thread
//! each run whole batches on their own instead (BENCHMARKS.md, "Model sessions side by side"). A
//! batch's vectors do not depend on which replica ran it, so output is the same for any number of
//! replicas.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::Embedder;
use super::tokenize::TokenBatch;
use crate::error::{Error, Result};

/// Several embedders of the same model, run on their own threads.
pub struct ReplicatedEmbedder {
    replicas: Vec<Box<dyn Embedder>>,
}

impl ReplicatedEmbedder {
    /// Wraps `replicas` (at least one, all of the same dimension).
    pub fn new(replicas: Vec<Box<dyn Embedder>>) -> Result<Self> {
        let dim = replicas
            .first()
            .map(|r| r.dim())
            .ok_or_else(|| Error::Model("no model replicas".into()))?;
        if replicas.iter().any(|r| r.dim() != dim) {
            return Err(Error::Model("model replicas disagree on the vector length".into()));
        }
        Ok(ReplicatedEmbedder { replicas })
    }
}

impl Embedder for ReplicatedEmbedder {
    fn dim(&self) -> usize {
        self.replicas[0].dim()
    }

    fn embed(&mut self, batch: &TokenBatch) -> Result<Vec<f32>> {
        self.replicas[0].embed(batch)
    }

    fn embed_batches(&mut self, batches: &[TokenBatch]) -> Result<Vec<Vec<f32>>> {
        if self.replicas.len() == 1 || batches.len() <= 1 {
            return self.replicas[0].embed_batches(batches);
        }
        // Batches are handed out in order from a shared counter, so a replica that drew short
        // batches takes more of them; each replica returns its results with their batch numbers.
        let next = AtomicUsize::new(0);
        let done = std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .replicas
                .iter_mut()
                .map(|replica| {
                    let next = &next;
                    scope.spawn(move || -> Result<Vec<(usize, Vec<f32>)>> {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(batch) = batches.get(i) else { return Ok(done) };
                            let vectors = replica.embed(batch).inspect_err(|_| {
                                // Stop the other replicas early: no one takes a batch after this.
                                next.store(batches.len(), Ordering::Relaxed);
                            })?;
                            done.push((i, vectors));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("model replica thread panicked"))
                .collect::<Result<Vec<_>>>()
        })?;
        let mut out = vec![Vec::new(); batches.len()];
        for (i, vectors) in done.into_iter().flatten() {
            out[i] = vectors;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::hash::HashEmbedder;
    use crate::embed::tokenize::{BatchLimits, make_batches};

    fn batches() -> Vec<TokenBatch> {
        let texts: Vec<Vec<u32>> = (0..40u32)
            .map(|i| (0..(i % 7 + 2)).map(|t| 100 + i * 3 + t).collect())
            .collect();
        make_batches(
            &texts,
            BatchLimits {
                max_rows: 3,
                max_tokens: 64,
            },
        )
    }

    fn replicated(n: usize) -> ReplicatedEmbedder {
        ReplicatedEmbedder::new(
            (0..n)
                .map(|_| Box::new(HashEmbedder { dim: 16 }) as Box<dyn Embedder>)
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn any_number_of_replicas_gives_each_batch_its_own_vectors() {
        let batches = batches();
        assert!(batches.len() > 4);
        let one = replicated(1).embed_batches(&batches).unwrap();
        let expected: Vec<Vec<f32>> = batches
            .iter()
            .map(|b| HashEmbedder { dim: 16 }.embed(b).unwrap())
            .collect();
        assert_eq!(one, expected);
        for n in [2, 3, 8] {
            assert_eq!(replicated(n).embed_batches(&batches).unwrap(), expected, "{n} replicas");
        }
    }

    /// Fails on its `fail_at`-th call.
    struct Failing {
        calls: usize,
        fail_at: usize,
    }

    impl Embedder for Failing {
        fn dim(&self) -> usize {
            4
        }
        fn embed(&mut self, batch: &TokenBatch) -> Result<Vec<f32>> {
            self.calls += 1;
            if self.calls == self.fail_at {
                return Err(Error::Model("inference failed: out of memory".into()));
            }
            Ok(vec![0.5; batch.rows * 4])
        }
    }

    #[test]
    fn a_failing_replica_fails_the_window_with_its_error() {
        // More batches than twice the replicas, so one of them reaches its failing second call.
        let mut r = ReplicatedEmbedder::new(vec![
            Box::new(Failing { calls: 0, fail_at: 2 }),
            Box::new(Failing { calls: 0, fail_at: 2 }),
        ])
        .unwrap();
        let err = r.embed_batches(&batches()).unwrap_err();
        assert!(err.to_string().contains("out of memory"), "{err}");
    }

    #[test]
    fn replicas_must_agree_on_the_dimension() {
        let mixed: Vec<Box<dyn Embedder>> = vec![Box::new(HashEmbedder { dim: 8 }), Box::new(HashEmbedder { dim: 16 })];
        assert!(ReplicatedEmbedder::new(mixed).is_err());
        assert!(ReplicatedEmbedder::new(Vec::new()).is_err());
    }
}
