//! Shard markers: `done/…` is written last, after the shard's part was renamed into place, and
//! carries the plan hash, so a marker from another plan never counts; `failed/…` keeps the last
//! failure's message for `hardneg status`; `started/…` says which process took a shard.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{RunDir, Shard, Stage};
use crate::error::{Error, Result};

/// What a finished (or failed, or started) shard records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Marker {
    /// The plan the shard ran under.
    pub plan_hash: String,
    /// Stage name.
    pub stage: String,
    /// `i/N`.
    pub shard: String,
    /// Host that ran it.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Seconds since the Unix epoch when written.
    pub at: u64,
    /// Wall seconds of the shard (0 for a start record).
    pub seconds: f64,
    /// Stage-specific figures (done) or the error message (failed).
    pub detail: serde_json::Value,
}

/// This machine's name, for markers and logs.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

impl Marker {
    /// A record of `stage` shard `shard` under `plan_hash`.
    pub fn new(plan_hash: &str, stage: &str, shard: Shard, seconds: f64, detail: serde_json::Value) -> Self {
        Marker {
            plan_hash: plan_hash.into(),
            stage: stage.into(),
            shard: shard.to_string(),
            host: host(),
            pid: std::process::id(),
            at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            seconds,
            detail,
        }
    }

    /// Writes the record to `dest` atomically.
    pub fn write(&self, dest: &Path) -> Result<()> {
        super::create_parent(dest)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::io(dest, e.into()))?;
        crate::output::write_atomic(dest, &json)
    }

    /// Reads the record at `path`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Marker>> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::input(path, format!("not a marker: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// The done marker of a shard, if it was written under `plan_hash`.
pub fn done(run: &RunDir, stage: Stage, shard: Shard, plan_hash: &str) -> Result<Option<Marker>> {
    Ok(Marker::read(&run.done(stage, shard))?.filter(|m| m.plan_hash == plan_hash))
}

/// Removes a file that may not exist.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path, e)),
        _ => Ok(()),
    }
}
