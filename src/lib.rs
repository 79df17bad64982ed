//! hardneg turns text corpora into hard-negative training sets for embedding and reranker models.
//!
//! ```text
//! corpus ──► read ──► tokenize ──► embed ──► index ─┐
//!                                                   ├─► search ──► select ──► write (+ manifest)
//! queries ─► read ──► tokenize ──► embed ───────────┘
//! ```
//!
//! Brief overview of the pieces:
//! - [`input`]: BEIR JSONL/Parquet/qrels and (anchor, positive) pairs, streamed, with file:line
//!   errors.
//! - [`text_store`]: the corpus's ids and texts in an unnamed temporary file, fetched by row, so
//!   memory does not grow with the text.
//! - [`embed`]: tokenization with token-budget batches, the [`embed::Embedder`] seam and its ONNX
//!   Runtime implementation (tokenize ‖ embed on threads joined by a bounded channel).
//! - [`index`]: the [`index::NeighborIndex`] seam: usearch HNSW (saved and memory-mapped on cached
//!   reruns) and an exact brute-force index.
//! - [`mine`]: positive-aware selection with `mine_hard_negatives` semantics, seeded per query.
//! - [`filter`]: false-negative filters (margin, lexical BM25 second opinion, near-duplicates).
//! - [`output`]: the trainer formats as Arrow/Parquet (or JSONL), written atomically.
//! - [`manifest`], [`stats`]: the run record and the summary table.
//! - [`report`]: one offline HTML page about a training set, with SVG plots.
//!
//! Environment: `ORT_DYLIB_PATH` (the ONNX Runtime library), `HARDNEG_MODEL` (default model folder).

pub mod cache;
pub mod cli;
pub mod commands;
pub mod embed;
pub mod error;
pub mod filter;
pub mod index;
pub mod input;
pub mod language;
pub mod manifest;
pub mod mine;
pub mod output;
pub mod paths;
pub mod perturb;
pub mod pipeline_file;
pub mod progress;
pub mod report;
pub mod run;
pub mod settings;
pub mod stats;
pub mod terms;
pub mod text_store;

pub use error::{Error, Result};
