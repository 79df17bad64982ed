//! Starting ONNX Runtime's CUDA provider (`--features cuda`): checks, in the order a user can act
//! on them, that the loaded library has the provider, that an NVIDIA driver is there, and that the
//! CUDA 13 libraries it links are found — from `HARDNEG_CUDA_LIBS` (folders, `:`-separated), the
//! `nvidia/*/lib` folders of the `.venv-gpu` that `make setup GPU=1` fills from PyPI, or the
//! system's library path — and preloads them, so no `LD_LIBRARY_PATH` is needed. Each failure is
//! one sentence naming what is missing.

use std::path::PathBuf;

use ort::ep::ExecutionProvider;

use crate::error::{Error, Result};

/// The libraries onnxruntime-gpu 1.31's CUDA provider links (`readelf -d`), in load order.
pub const REQUIRED: [&str; 4] = [
    "libcudart.so.13",
    "libcublasLt.so.13",
    "libcublas.so.13",
    "libcurand.so.10",
];
/// Libraries it opens later, when an operator needs them (FFT, cuDNN); loaded when found.
const OPTIONAL: [&str; 3] = ["libnvJitLink.so.13", "libcufft.so.12", "libcudnn.so.9"];
/// The driver's library: present only where an NVIDIA driver is installed.
const DRIVER: &str = "libcuda.so.1";

/// Folders searched for the CUDA libraries before the system's library path.
pub fn library_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("HARDNEG_CUDA_LIBS")
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    for nvidia in crate::paths::venv_dirs(".venv-gpu", "nvidia") {
        let Ok(entries) = std::fs::read_dir(&nvidia) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join("lib"))
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        dirs.extend(found);
    }
    dirs
}

/// Loads `name` from the first folder holding it, else by name from the system's path.
fn preload(name: &str, dirs: &[PathBuf]) -> bool {
    let candidates = dirs.iter().map(|d| d.join(name)).filter(|p| p.is_file());
    for path in candidates {
        if ort::util::preload_dylib(&path).is_ok() {
            return true;
        }
    }
    ort::util::preload_dylib(name).is_ok()
}

/// Checks and loads what the CUDA provider needs; the error says what is missing and what to do.
pub fn prepare(library: Option<&std::path::Path>) -> Result<()> {
    let shown = library.map_or_else(|| "ONNX Runtime".to_string(), |p| p.display().to_string());
    let available = ort::ep::CUDA::is_available().unwrap_or(false);
    if !available {
        return Err(Error::Model(format!(
            "{shown} has no CUDA provider (it is the CPU build): run `make setup GPU=1` (onnxruntime-gpu into .venv-gpu) or set ORT_DYLIB_PATH to onnxruntime-gpu's libonnxruntime.so"
        )));
    }
    if ort::util::preload_dylib(DRIVER).is_err() {
        return Err(Error::Model(format!(
            "no NVIDIA driver on this machine ({DRIVER} not found): --device cuda needs a GPU with its driver (nvidia-smi shows it); use --device cpu here"
        )));
    }
    let dirs = library_dirs();
    for name in REQUIRED {
        if !preload(name, &dirs) {
            return Err(Error::Model(format!(
                "the CUDA library {name} is missing: run `make setup GPU=1` (CUDA 13 libraries from PyPI into .venv-gpu), or point HARDNEG_CUDA_LIBS (or LD_LIBRARY_PATH) at a CUDA 13 installation's lib64 folder"
            )));
        }
    }
    for name in OPTIONAL {
        if !preload(name, &dirs) {
            tracing::debug!("optional CUDA library {name} not found");
        }
    }
    Ok(())
}
