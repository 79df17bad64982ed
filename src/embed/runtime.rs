//! Loading the ONNX Runtime shared library (`load-dynamic`): `ORT_DYLIB_PATH`, else the library in
//! the project's `.venv` that `make setup` installs from PyPI's `onnxruntime` wheel (for a CUDA
//! build, first onnxruntime-gpu's in `.venv-gpu`, from `make setup GPU=1`).

use std::path::PathBuf;
use std::sync::OnceLock;

use ort::environment::Environment;

use crate::error::{Error, Result};

static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// Finds the library path without loading it. A CUDA build prefers onnxruntime-gpu's library
/// from the `.venv-gpu` that `make setup GPU=1` makes (it runs on CPU too).
pub fn library_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return Some(PathBuf::from(p));
    }
    let venvs: &[&str] = if cfg!(feature = "cuda") {
        &[".venv-gpu", ".venv"]
    } else {
        &[".venv"]
    };
    crate::paths::search_venv(venvs, "onnxruntime/capi", "libonnxruntime.so")
}

/// Loads ONNX Runtime and creates the process's environment once; later calls share it.
pub fn environment() -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = library_path().ok_or_else(|| {
                "ONNX Runtime library not found: run `make setup`, or set ORT_DYLIB_PATH to libonnxruntime.so.1.31.x".to_string()
            })?;
            if !path.is_file() {
                return Err(format!(
                    "ONNX Runtime library {} does not exist: run `make setup` or set ORT_DYLIB_PATH to libonnxruntime.so.1.31.x",
                    path.display()
                ));
            }
            let env = ort::init_from(&path)
                .map_err(|e| format!("cannot load ONNX Runtime ({e}); hardneg needs onnxruntime 1.31 or newer: run `make setup`"))?
                .with_name("hardneg")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))?;
            tracing::debug!("ONNX Runtime loaded from {}", path.display());
            Ok(env)
        })
        .as_ref()
        .map_err(|e| Error::Model(e.clone()))
}
