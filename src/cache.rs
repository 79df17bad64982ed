//! The embedding cache (`--cache DIR`): corpus vectors keyed per text by (model hash, precision,
//! max length, prompt, text), so a rerun after a crash or with other mining settings embeds only
//! what is missing. Each embedded window is written as its own Parquet part under a temporary
//! name and renamed when complete; a part that cannot be read is reported, removed and rebuilt.

use std::collections::HashMap;
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

    /// Reads the cached vectors of `wanted` keys (others are skipped while reading); the map's
    /// values are whatever the caller keys by (a corpus row) and are not read here.
    pub fn load<V>(&self, wanted: &HashMap<Key, V>) -> HashMap<Key, Vec<f32>> {
        let mut found = HashMap::new();
        for part in self.parts() {
            if let Err(e) = self.load_part(&part, wanted, &mut found) {
                tracing::warn!(
                    "cache part {} is unreadable ({e}); removing it, its texts will be embedded again",
                    part.display()
                );
                let _ = std::fs::remove_file(&part);
            }
        }
        found
    }

    fn load_part<V>(&self, part: &Path, wanted: &HashMap<Key, V>, found: &mut HashMap<Key, Vec<f32>>) -> Result<()> {
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
                if wanted.contains_key(&key) && !found.contains_key(&key) {
                    found.insert(key, vectors.value(i).as_primitive::<Float32Type>().values().to_vec());
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
        let wanted = HashMap::from([(b, vec![0u32])]);
        let got = cache.load(&wanted);
        assert_eq!(got.len(), 1);
        assert_eq!(got[&b], vec![0.0, 1.0]);
        let other = EmbeddingCache::open(dir.path(), 2, "m", "fp32", 256, "query: ").unwrap();
        assert_ne!(other.key("a"), a, "a prompt change must not reuse embeddings");
    }

    #[test]
    fn a_corrupt_part_is_removed_not_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("part-bad.parquet"), b"not parquet").unwrap();
        let cache = EmbeddingCache::open(dir.path(), 2, "m", "fp32", 256, "").unwrap();
        assert!(cache.load(&HashMap::from([(cache.key("x"), vec![0])])).is_empty());
        assert!(!dir.path().join("part-bad.parquet").exists());
    }
}
