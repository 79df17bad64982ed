//! The embedding cache (`--cache DIR`): corpus vectors keyed per text by (model hash, precision,
//! max length, prompt, text), so a rerun after a crash or with other mining settings embeds only
//! what is missing. Each embedded window is written as its own Parquet part under a temporary
//! name and renamed when complete; a part that cannot be read is reported, removed and rebuilt.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, FixedSizeBinaryArray, FixedSizeListArray, Float32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float32Type, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::output::PendingFile;

/// A 16-byte key identifying one text's embedding under one model configuration.
pub type Key = [u8; 16];

/// The cache folder for one embedding dimension.
pub struct EmbeddingCache {
    dir: PathBuf,
    dim: usize,
    prefix: Vec<u8>,
}

impl EmbeddingCache {
    /// Opens (creating) `dir`; keys are salted with everything that changes an embedding.
    pub fn open(
        dir: &Path,
        dim: usize,
        model_hash: &str,
        precision: &str,
        max_length: usize,
        prompt: &str,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let prefix = format!("{model_hash}\u{0}{precision}\u{0}{max_length}\u{0}{prompt}\u{0}").into_bytes();
        Ok(EmbeddingCache {
            dir: dir.to_path_buf(),
            dim,
            prefix,
        })
    }

    /// The key of `text`.
    pub fn key(&self, text: &str) -> Key {
        let mut h = Sha256::new();
        h.update(&self.prefix);
        h.update(text.as_bytes());
        h.finalize()[..16].try_into().expect("16 bytes")
    }

    /// Where the HNSW index of one corpus is saved: named by a digest of the index layout, every
    /// row's duplicate group and the keys of the texts embedded (in row order), so any change to the
    /// corpus, the model or the index settings names another file.
    pub fn index_path<'a>(&self, layout: &str, canonical: &[u32], keys: impl Iterator<Item = &'a Key>) -> PathBuf {
        let mut h = Sha256::new();
        h.update(&self.prefix);
        h.update(layout.as_bytes());
        h.update((canonical.len() as u64).to_le_bytes());
        for c in canonical {
            h.update(c.to_le_bytes());
        }
        for k in keys {
            h.update(k);
        }
        self.dir.join(format!("index-{}.usearch", hex(&h.finalize()[..12])))
    }

    fn parts(&self) -> Vec<PathBuf> {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        parts.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
        });
        parts.sort();
        parts
    }

    /// Streams the cached vectors of `wanted` keys to `add` with the row they are wanted for (each
    /// key at most once; other keys are skipped while reading) and returns the rows found. A part
    /// that cannot be read is reported and removed; an error from `add` ends the load.
    pub fn load(
        &self,
        wanted: &HashMap<Key, u32>,
        mut add: impl FnMut(u32, &[f32]) -> Result<()>,
    ) -> Result<HashSet<u32>> {
        let mut found = HashSet::new();
        for part in self.parts() {
            let mut failed = None;
            let read = self.load_part(&part, wanted, &mut found, |row, vector| {
                add(row, vector).map_err(|e| failed = Some(e)).is_ok()
            });
            if let Some(e) = failed {
                return Err(e);
            }
            if let Err(e) = read {
                tracing::warn!(
                    "cache part {} is unreadable ({e}); removing it, its texts will be embedded again",
                    part.display()
                );
                let _ = std::fs::remove_file(&part);
            }
        }
        Ok(found)
    }

    /// Reads one part; stops early (without error) when `add` returns false.
    fn load_part(
        &self,
        part: &Path,
        wanted: &HashMap<Key, u32>,
        found: &mut HashSet<u32>,
        mut add: impl FnMut(u32, &[f32]) -> bool,
    ) -> Result<()> {
        let perr = |e: &dyn std::fmt::Display| Error::Parquet {
            path: part.into(),
            message: e.to_string(),
        };
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(part).map_err(|e| Error::io(part, e))?)
            .map_err(|e| perr(&e))?
            .build()
            .map_err(|e| perr(&e))?;
        for batch in reader {
            let batch = batch.map_err(|e| perr(&e))?;
            let (Some(keys), Some(vectors)) = (batch.column_by_name("key"), batch.column_by_name("embedding")) else {
                return Err(perr(&"missing key/embedding columns"));
            };
            let keys = keys.as_fixed_size_binary();
            let vectors = vectors.as_fixed_size_list();
            if vectors.value_length() as usize != self.dim {
                return Err(perr(&"embedding dimension differs"));
            }
            for i in 0..keys.len() {
                let key: Key = keys.value(i).try_into().map_err(|_| perr(&"bad key"))?;
                if let Some(&row) = wanted.get(&key)
                    && found.insert(row)
                    && !add(row, vectors.value(i).as_primitive::<Float32Type>().values())
                {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Writes one part (keys with their vectors, row-major) atomically.
    pub fn store(&self, keys: &[Key], vectors: &[f32]) -> Result<()> {
        let name = format!("part-{}.parquet", hex(&Sha256::digest(keys.concat())[..8]));
        let pending = PendingFile::new(&self.dir.join(name))?;
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::FixedSizeBinary(16), false),
            Field::new(
                "embedding",
                DataType::FixedSizeList(item.clone(), self.dim as i32),
                false,
            ),
        ]));
        let perr = |e: &dyn std::fmt::Display| Error::Parquet {
            path: pending.dest().into(),
            message: e.to_string(),
        };
        let keys = FixedSizeBinaryArray::try_from_iter(keys.iter()).map_err(|e| perr(&e))?;
        let values = FixedSizeListArray::try_new(
            item,
            self.dim as i32,
            Arc::new(Float32Array::from(vectors.to_vec())),
            None,
        )
        .map_err(|e| perr(&e))?;
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(keys), Arc::new(values)]).map_err(|e| perr(&e))?;
        let mut w = ArrowWriter::try_new(pending.create()?, schema, None).map_err(|e| perr(&e))?;
        w.write(&batch).map_err(|e| perr(&e))?;
        w.close().map_err(|e| perr(&e))?;
        pending.commit()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_and_loads_by_key_and_salts_keys_by_prompt() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::open(dir.path(), 2, "m", "fp32", 256, "").unwrap();
        let (a, b) = (cache.key("a"), cache.key("b"));
        cache.store(&[a, b], &[1.0, 0.0, 0.0, 1.0]).unwrap();
        let wanted = HashMap::from([(b, 7u32)]);
        let mut got = Vec::new();
        let found = cache
            .load(&wanted, |row, v| {
                got.push((row, v.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(got, vec![(7, vec![0.0, 1.0])]);
        assert_eq!(found, HashSet::from([7]));
        let other = EmbeddingCache::open(dir.path(), 2, "m", "fp32", 256, "query: ").unwrap();
        assert_ne!(other.key("a"), a, "a prompt change must not reuse embeddings");
    }

    #[test]
    fn a_corrupt_part_is_removed_not_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-bad.parquet"), b"not parquet").unwrap();
        let cache = EmbeddingCache::open(dir.path(), 2, "m", "fp32", 256, "").unwrap();
        let found = cache
            .load(&HashMap::from([(cache.key("x"), 0)]), |_, _| Ok(()))
            .unwrap();
        assert!(found.is_empty());
        assert!(!dir.path().join("part-bad.parquet").exists());
    }
}
