//! The command line: one binary, `hardneg`, with a subcommand per job.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::embed::EmbedArgs;
use crate::commands::perturb::PerturbArgs;
use crate::output::Format;
use crate::settings::MineSettings;

/// hardneg: hard-negative training sets for embedding and reranker models.
#[derive(Debug, Parser)]
#[command(name = "hardneg", version, about, long_about = None)]
pub struct Cli {
    /// More logging (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The job to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mine hard negatives from a BEIR folder or (anchor, positive) pairs into a training set.
    Mine(Box<MineSettings>),
    /// Run a mining job from a TOML pipeline file.
    Run {
        /// The pipeline file (`version = 1`, keys as `mine`'s flags with underscores).
        pipeline: PathBuf,
        /// Override a key: --set num_negatives=10 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Print the resolved configuration and stop.
        #[arg(long)]
        show_config: bool,
    },
    /// Check a pipeline file without running it.
    Validate {
        /// The pipeline file.
        pipeline: PathBuf,
    },
    /// Measure false negatives and hardness of a training set against (fuller) qrels.
    Eval {
        /// The training set (Parquet with provenance, or a JSONL output with its sidecar).
        #[arg(long, required_unless_present = "hold_out")]
        train: Option<PathBuf>,
        /// Qrels judging relevance (score > 0 is relevant).
        #[arg(long)]
        qrels: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Instead: write qrels with one positive per query (highest grade, ties by id) to --out.
        #[arg(long, requires = "out", conflicts_with = "train")]
        hold_out: bool,
        /// Where --hold-out writes the labelled qrels.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Embed texts into a Parquet file of (id, embedding).
    Embed(EmbedArgs),
    /// Write counterfactual edits (numbers, negation, comparatives, antonyms) of a text column.
    Perturb(Box<PerturbArgs>),
    /// Show a training set's schema, row count, negatives per row and score statistics.
    Inspect {
        /// A Parquet output (or a JSONL output with its provenance sidecar).
        path: PathBuf,
    },
    /// Print the Arrow schema of an output format as JSON (the form kept in schemas/).
    Schema {
        /// The format.
        #[arg(long, value_enum, required_unless_present = "perturb")]
        format: Option<Format>,
        /// Instead: the schema `perturb` writes.
        #[arg(long, conflicts_with = "format")]
        perturb: bool,
        /// Negatives per row (n-tuple formats have one column each).
        #[arg(long, default_value_t = 5)]
        num_negatives: usize,
        /// Without provenance columns.
        #[arg(long)]
        no_provenance: bool,
    },
}
