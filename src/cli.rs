//! The command line: one binary, `hardneg`, with a subcommand per job.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::embed::EmbedArgs;
use crate::commands::perturb::PerturbArgs;
use crate::output::Format;
use crate::run::{Shard, Stage};
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
    /// Plan a sharded run: validate mine's settings and ingest the inputs into a run folder.
    Plan(Box<PlanArgs>),
    /// Run one shard of one stage of a planned run (skipped when already done).
    Stage(StageArgs),
    /// Write the training set of a run folder whose stages are all done.
    Finalize {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Also write an HTML report of the training set here (overrides the plan's --report).
        #[arg(long)]
        report: Option<PathBuf>,
        /// No progress bars.
        #[arg(long)]
        no_progress: bool,
    },
    /// Show which shards of a run folder are done, failed, started or missing.
    Status {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Print one JSON object (for launchers) instead of a table.
        #[arg(long)]
        json: bool,
    },
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
    /// Write one offline HTML page about a training set: run, scores, filters, score profiles,
    /// reuse, counterfactuals, examples (and false negatives with --qrels).
    Report {
        /// The training set (Parquet file, folder of parts, or JSONL with its sidecar).
        path: PathBuf,
        /// Where to write the page (default: `<path>.report.html`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Fuller qrels: false-negative rates with intervals, and false negatives flagged.
        #[arg(long)]
        qrels: Option<PathBuf>,
        /// Queries whose score profiles are shown (at most 48, what the sidecar keeps).
        #[arg(long, default_value_t = 12)]
        profiles: usize,
        /// Example rows shown.
        #[arg(long, default_value_t = 12)]
        examples: usize,
        /// Seed of the row samples (default: the run's seed from the manifest).
        #[arg(long)]
        seed: Option<u64>,
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

/// Options of `hardneg plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The run folder (created; on a filesystem every worker sees).
    #[arg(long)]
    pub run: PathBuf,
    /// Shards of embed-corpus (each covers whole embedding windows of --sort-window passages).
    #[arg(long, default_value_t = 1)]
    pub corpus_shards: usize,
    /// Index partitions, searched together by every mine-queries shard.
    #[arg(long, default_value_t = 1)]
    pub index_partitions: usize,
    /// Shards of mine-queries (each covers whole chunks of --query-chunk queries).
    #[arg(long, default_value_t = 1)]
    pub query_shards: usize,
    /// Every setting of `hardneg mine`, --out included.
    #[command(flatten)]
    pub settings: MineSettings,
}

/// Options of `hardneg stage`.
#[derive(Debug, clap::Args)]
pub struct StageArgs {
    /// The stage.
    #[arg(value_enum)]
    pub stage: Stage,
    /// The run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// The shard, i/N (0-based; N as planned).
    #[arg(long)]
    pub shard: Shard,
    /// Threads for this worker (default: all cores).
    #[arg(long, value_parser = crate::settings::at_least_one)]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Model sessions side by side (default: one per thread on CPU).
    #[arg(long)]
    pub sessions: Option<usize>,
    /// cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// Embedding cache folder (embed-corpus): cached passages are not embedded again.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    pub no_progress: bool,
}
