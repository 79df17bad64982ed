//! Subcommands other than `mine`: `embed`, `eval`, `inspect`, `perturb`.

pub mod embed;
pub mod eval;
pub mod inspect;
pub mod perturb;

use std::path::PathBuf;

use clap::Args;

use crate::embed::model::Precision;
use crate::settings::MineSettings;

/// The model flags `embed` and `perturb` share with `mine`. `mine` declares the same four in
/// [`MineSettings`] itself: its pipeline-file keys are flat and checked by serde's
/// `deny_unknown_fields`, which does not work with a flattened struct.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model folder (default: the one `make setup` prepares).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// fp32, int8 or fp16.
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: Precision,
    /// cpu, cuda, cuda:N, or several GPUs of one node (cuda:0,cuda:1: a session each).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Threads for every stage: the model's and the worker pool's (default: all cores).
    #[arg(long, value_parser = crate::settings::at_least_one)]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Model sessions side by side (default: one per thread on CPU, one per GPU).
    #[arg(long)]
    pub sessions: Option<usize>,
}

impl ModelArgs {
    /// Mining settings with these model flags and every other setting at its default.
    pub fn settings(&self) -> MineSettings {
        MineSettings {
            model: self.model.clone(),
            precision: self.precision,
            device: self.device.clone(),
            threads: self.threads,
            sessions: self.sessions,
            ..MineSettings::default()
        }
    }
}
