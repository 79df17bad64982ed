//! The `hardneg` binary: parses the command line, runs the job, prints errors as one clear
//! message (the whole cause chain) and exits 2 on failure.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use hardneg::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = match cli.verbose {
        0 => "hardneg=info,warn",
        1 => "hardneg=debug,info",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into()))
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(())
}

/// Sizes rayon's pool (tokenizing, searching, selecting) to `--threads`, so the flag bounds every
/// stage and not only the model's; without it rayon takes every core. Runs once, before any work.
fn bound_worker_threads(threads: Option<std::num::NonZeroUsize>) -> anyhow::Result<()> {
    let mut pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("hardneg-pool-{i}"));
    if let Some(n) = threads {
        pool = pool.num_threads(n.get());
    }
    Ok(pool.build_global()?)
}

fn mine(settings: &hardneg::settings::MineSettings) -> anyhow::Result<()> {
    bound_worker_threads(settings.threads)?;
    let done = hardneg::mine::run(settings)?;
    report(&done)?;
    if let (Some(page), Some(out)) = (&settings.report, &settings.out) {
        write_report(out, page, &hardneg::report::ReportOptions::default())?;
    }
    Ok(())
}

/// Writes the HTML report of the training set `set` to `page` and says so.
fn write_report(
    set: &std::path::Path,
    page: &std::path::Path,
    options: &hardneg::report::ReportOptions,
) -> anyhow::Result<()> {
    for lack in hardneg::report::write(set, page, options)? {
        eprintln!("note: {lack}");
    }
    emit(&format!("wrote {}", page.display()))
}

/// Prints a finished run's summary and the files it wrote.
fn report(report: &hardneg::mine::MineReport) -> anyhow::Result<()> {
    eprintln!("{}", report.summary);
    for path in &report.outputs {
        emit(&format!("wrote {}", path.display()))?;
    }
    emit(&format!("wrote {}", report.manifest_path.display()))
}

fn plan(args: &hardneg::cli::PlanArgs) -> anyhow::Result<()> {
    bound_worker_threads(args.settings.threads)?;
    let run = hardneg::run::RunDir::new(&args.run);
    let shards = (args.corpus_shards, args.index_partitions, args.query_shards);
    let (verb, plan) = match hardneg::run::plan::plan(&run, &args.settings, shards)? {
        hardneg::run::plan::Planned::Written(p) => ("planned", p),
        hardneg::run::plan::Planned::Unchanged(p) => ("already planned, unchanged:", p),
    };
    emit(&format!(
        "{verb} {} (plan {}): {} corpus shards, {} index partitions ({}), {} query shards",
        args.run.display(),
        &plan.hash[..12],
        plan.layout.corpus_shards.len(),
        plan.layout.partitions.len(),
        plan.layout.index.name(),
        plan.layout.query_shards.len()
    ))
}

fn stage(args: &hardneg::cli::StageArgs) -> anyhow::Result<()> {
    bound_worker_threads(args.threads)?;
    let worker = hardneg::run::plan::Worker {
        threads: args.threads,
        sessions: args.sessions,
        device: args.device.clone(),
        cache: args.cache.clone(),
        no_progress: args.no_progress,
    };
    let run = hardneg::run::RunDir::new(&args.run);
    match hardneg::run::stages::run_stage(&run, args.stage, args.shard, &worker)? {
        hardneg::run::stages::Outcome::Done { seconds } => {
            emit(&format!("{} {} done in {seconds:.1}s", args.stage, args.shard))
        }
        hardneg::run::stages::Outcome::AlreadyDone => emit(&format!("{} {} was already done", args.stage, args.shard)),
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Mine(settings) => mine(&settings),
        Command::Plan(args) => plan(&args),
        Command::Stage(args) => stage(&args),
        Command::Finalize {
            run,
            report: page,
            no_progress,
        } => {
            bound_worker_threads(None)?;
            let done = hardneg::run::finalize::finalize(&hardneg::run::RunDir::new(&run), no_progress)?;
            report(&done)?;
            let out = done.manifest.config["out"].as_str().map(std::path::PathBuf::from);
            let page = page.or_else(|| done.manifest.config["report"].as_str().map(std::path::PathBuf::from));
            if let (Some(page), Some(out)) = (page, out) {
                write_report(&out, &page, &hardneg::report::ReportOptions::default())?;
            }
            Ok(())
        }
        Command::Report {
            path,
            out,
            qrels,
            profiles,
            examples,
            seed,
        } => {
            let page = out.unwrap_or_else(|| hardneg::report::default_path(&path));
            let options = hardneg::report::ReportOptions {
                qrels,
                profiles,
                examples,
                seed,
            };
            write_report(&path, &page, &options)
        }
        Command::Status { run, json } => {
            let status = hardneg::run::status::status(&hardneg::run::RunDir::new(&run))?;
            if json {
                emit(&serde_json::to_string_pretty(&status)?)
            } else {
                emit(&hardneg::run::status::render(&status))
            }
        }
        Command::Run {
            pipeline,
            overrides,
            show_config,
        } => {
            let settings = hardneg::pipeline_file::load(&pipeline, &overrides)?;
            if show_config {
                return emit(&toml::to_string(&settings)?);
            }
            mine(&settings)
        }
        Command::Validate { pipeline } => {
            hardneg::pipeline_file::load(&pipeline, &[])?;
            emit(&format!("{}: valid", pipeline.display()))
        }
        Command::Eval {
            train,
            qrels,
            json,
            hold_out,
            out,
        } => {
            if hold_out {
                let out = out.expect("clap requires --out");
                let full = hardneg::input::read_qrels(&qrels, &mut hardneg::input::BadRecordPolicy::strict())?;
                hardneg::output::write_atomic(&out, hardneg::commands::eval::hold_out(&full).as_bytes())?;
                return emit(&format!(
                    "wrote {} ({} queries, one positive each)",
                    out.display(),
                    full.positives.len()
                ));
            }
            let report = hardneg::commands::eval::run(&train.expect("clap requires --train"), &qrels)?;
            if json {
                emit(&serde_json::to_string_pretty(&report)?)
            } else {
                emit(&hardneg::commands::eval::render(&report))
            }
        }
        Command::Embed(args) => {
            bound_worker_threads(args.model.threads)?;
            emit(&hardneg::commands::embed::run(&args)?)
        }
        Command::Perturb(args) => {
            bound_worker_threads(args.model.threads)?;
            emit(&hardneg::commands::perturb::run(&args)?)
        }
        Command::Inspect { path } => emit(&hardneg::commands::inspect::run(&path)?),
        Command::Schema {
            format,
            perturb,
            num_negatives,
            no_provenance,
        } => {
            let schema = match format {
                Some(format) if !perturb => hardneg::output::formats::schema(format, num_negatives, !no_provenance),
                _ => hardneg::commands::perturb::schema(),
            };
            emit(&serde_json::to_string_pretty(&hardneg::output::formats::schema_json(
                &schema,
            ))?)
        }
    }
}
