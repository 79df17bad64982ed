//! The model folder contract: `model.onnx` + `tokenizer.json`, optionally a sentence-transformers
//! `1_Pooling/config.json` (pooling mode) and `sentence_bert_config.json` (max length).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How token states become one sentence vector when the graph has no `sentence_embedding` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean of the token states under the attention mask.
    Mean,
    /// The first ([CLS]) token's state.
    Cls,
}

/// Numeric precision of the graph to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// `model.onnx`: the reference.
    Fp32,
    /// `model.int8.onnx`: onnxruntime dynamic quantization.
    Int8,
    /// `model.fp16.onnx`: for GPUs.
    Fp16,
}

/// A resolved model folder.
#[derive(Debug, Clone)]
pub struct ModelDir {
    /// The folder.
    pub dir: PathBuf,
    /// The ONNX graph to load.
    pub onnx: PathBuf,
    /// The tokenizer definition.
    pub tokenizer: PathBuf,
    /// Pooling used when the graph lacks `sentence_embedding`.
    pub pooling: Pooling,
    /// The model's own maximum sequence length (256 for all-MiniLM-L6-v2).
    pub max_length: usize,
}

/// Where `make setup` puts the default model, relative to the repository root.
pub const DEFAULT_MODEL_SUBDIR: &str = "models/all-MiniLM-L6-v2";

impl ModelDir {
    /// Opens `dir`, checking the files the contract needs and reading the optional configs.
    pub fn open(dir: &Path, precision: Precision) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::Model(format!(
                "model folder {} does not exist: run `make setup` or pass --model DIR (a folder with model.onnx and tokenizer.json)",
                dir.display()
            )));
        }
        let candidates: &[&str] = match precision {
            Precision::Fp32 => &["model.onnx"],
            Precision::Int8 => &["model.int8.onnx", "model_quantized.onnx"],
            Precision::Fp16 => &["model.fp16.onnx", "model_fp16.onnx"],
        };
        let onnx = candidates.iter().map(|c| dir.join(c)).find(|p| p.is_file()).ok_or_else(|| {
            Error::Model(format!(
                "{} has no {} for --precision {:?}: run `make setup` (it exports every precision) or choose another precision",
                dir.display(),
                candidates.join(" or "),
                precision
            ))
        })?;
        let tokenizer = dir.join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(Error::Model(format!("{} is missing tokenizer.json", dir.display())));
        }
        let pooling = match read_json(&dir.join("1_Pooling/config.json"))? {
            Some(v) if v["pooling_mode_cls_token"].as_bool() == Some(true) => Pooling::Cls,
            _ => Pooling::Mean,
        };
        let max_length = read_json(&dir.join("sentence_bert_config.json"))?
            .and_then(|v| v["max_seq_length"].as_u64())
            .unwrap_or(512) as usize;
        Ok(ModelDir {
            dir: dir.to_path_buf(),
            onnx,
            tokenizer,
            pooling,
            max_length,
        })
    }

    /// Finds the default model folder: `$HARDNEG_MODEL`, else `models/all-MiniLM-L6-v2` under the
    /// current folder or any ancestor of the executable (so `target/release/hardneg` finds the repo's).
    pub fn default_dir() -> PathBuf {
        if let Some(p) = std::env::var_os("HARDNEG_MODEL") {
            return PathBuf::from(p);
        }
        crate::paths::search_upwards(DEFAULT_MODEL_SUBDIR).unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL_SUBDIR))
    }

    /// SHA-256 of the ONNX graph followed by its external data files (of the graph file alone
    /// where it holds every weight): identifies the model in manifests and cache keys.
    pub fn hash(&self) -> Result<String> {
        let files = super::onnx_file::OnnxFile::open(&self.onnx)?.files();
        crate::input::files_fingerprint(&files).map(|(_, h)| h)
    }
}

fn read_json(path: &Path) -> Result<Option<serde_json::Value>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Model(format!("{}: malformed JSON: {e}", path.display())))
}
