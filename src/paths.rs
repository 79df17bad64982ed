//! Locating the files `make setup` prepares (model, ONNX Runtime library) from wherever the binary runs.

use std::path::{Path, PathBuf};

/// Folders to search, in order: the current folder and its ancestors, then the executable's ancestors.
fn roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).map(Path::to_path_buf));
    }
    roots
}

/// The first `root/relative` that exists.
pub fn search_upwards(relative: &str) -> Option<PathBuf> {
    roots().into_iter().map(|r| r.join(relative)).find(|p| p.exists())
}

/// The folders `root/<venv>/lib/python3*/site-packages/<tail>` that exist, for the first root
/// holding such a venv.
pub fn venv_dirs(venv: &str, tail: &str) -> Vec<PathBuf> {
    for root in roots() {
        let Ok(libs) = std::fs::read_dir(root.join(venv).join("lib")) else {
            continue;
        };
        let mut found: Vec<PathBuf> = libs
            .flatten()
            .map(|e| e.path().join("site-packages").join(tail))
            .filter(|dir| dir.is_dir())
            .collect();
        if !found.is_empty() {
            found.sort();
            return found;
        }
    }
    Vec::new()
}

/// The first file matching `root/<venv>/lib/python3*/site-packages/<tail>` with a name starting
/// with `prefix`, for each venv folder name given.
pub fn search_venv(venvs: &[&str], tail: &str, prefix: &str) -> Option<PathBuf> {
    for venv in venvs {
        let mut found: Vec<PathBuf> = venv_dirs(venv, tail)
            .into_iter()
            .filter_map(|dir| std::fs::read_dir(dir).ok())
            .flat_map(|d| d.flatten().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect();
        found.sort();
        if let Some(p) = found.pop() {
            return Some(p);
        }
    }
    None
}
