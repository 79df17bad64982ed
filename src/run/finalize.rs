//! `hardneg finalize --run DIR`: checks that every shard of every stage finished under this plan
//! and left its part, then assembles the training set exactly as `hardneg mine` does, in query
//! order: the reuse cap over the whole run, passage texts, counterfactuals appended, short rows
//! dropped or kept. Counterfactual direction balance was applied per query chunk in
//! `mine-queries` (the chunks `mine` balances over), so it is not redone here.

use std::collections::BTreeMap;
use std::time::Instant;

use super::marker::{self, Marker};
use super::plan::{Plan, Worker};
use super::{RunDir, Shard, Stage, parts};
use crate::embed::EmbedStats;
use crate::error::{Error, Result};
use crate::manifest::{IndexInfo, Manifest, ModelInfo};
use crate::mine::assemble::Assembler;
use crate::mine::counterfactual::CounterfactualCounts;
use crate::mine::{MineReport, add_time, run_counts, run_scores};
use crate::output::TrainingSetWriter;

/// The done markers of every shard of every stage, or an error naming each shard that is not
/// done and each part that is missing.
fn check_complete(run: &RunDir, plan: &Plan) -> Result<BTreeMap<Stage, Vec<Marker>>> {
    let mut markers = BTreeMap::new();
    let mut problems = Vec::new();
    for stage in Stage::ALL {
        let mut done = Vec::new();
        for shard in plan.layout.all(stage) {
            match marker::done(run, stage, shard, &plan.hash)? {
                None => problems.push(format!("{stage} {shard} is not done")),
                Some(m) => {
                    let part = run.part(stage, shard, plan.index_extension());
                    if part.exists() {
                        done.push(m);
                    } else {
                        problems.push(format!("{stage} {shard}: its part {} is missing", part.display()));
                    }
                }
            }
        }
        markers.insert(stage, done);
    }
    if problems.is_empty() {
        Ok(markers)
    } else {
        Err(Error::Config(format!(
            "cannot finalize {}: {} (run those shards, then finalize again)",
            run.root().display(),
            problems.join("; ")
        )))
    }
}

/// The sum of a numeric field of the markers' details.
fn sum_detail(markers: &[Marker], key: &str) -> usize {
    markers
        .iter()
        .filter_map(|m| m.detail.get(key).and_then(serde_json::Value::as_u64))
        .sum::<u64>() as usize
}

/// Writes the training set and its manifest from a complete run folder.
pub fn finalize(run: &RunDir, no_progress: bool) -> Result<MineReport> {
    let started = Instant::now();
    let plan = Plan::load(run)?;
    let markers = check_complete(run, &plan)?;
    let s = plan.settings_for(&Worker {
        no_progress,
        ..Worker::default()
    });
    let out = s
        .out
        .clone()
        .ok_or_else(|| Error::Config("the plan has no --out".into()))?;
    let mut timings = BTreeMap::new();
    let t = Instant::now();
    let data = parts::load_mining_data(run, &plan)?;
    add_time(&mut timings, "finalize_read", t);

    let mut assembler = Assembler::new(&data, &s)?;
    let width = s.num_negatives + s.counterfactuals;
    let mut writer = TrainingSetWriter::create(&out, s.format, width, !s.no_provenance)?;
    let mut query_stats = EmbedStats::default();
    let mut counterfactuals: Option<CounterfactualCounts> = None;
    let mut next_query = 0usize;
    let t = Instant::now();
    for j in 0..plan.layout.query_shards.len() {
        let path = run.mined_part(j);
        for read in parts::read_mined(&path)? {
            let read = read?;
            // Chunks must follow one another without a gap, or a part was cut short.
            for m in &read.chunk.mined {
                if m.query != next_query {
                    return Err(Error::input(
                        &path,
                        format!(
                            "query {} where query {next_query} was expected: the part is incomplete",
                            m.query
                        ),
                    ));
                }
                next_query += 1;
            }
            query_stats.absorb(&read.query_embedding);
            if let Some(counts) = read.counterfactual_counts {
                CounterfactualCounts::merge(&mut counterfactuals, counts);
            }
            let rows = assembler.rows(read.chunk)?;
            writer.write(&rows)?;
        }
        if next_query != plan.layout.query_shards[j].end {
            return Err(Error::input(
                &path,
                "the part ends before its last query: it is incomplete",
            ));
        }
    }
    crate::progress::test_hold("write");
    let outputs = writer.finish()?;
    add_time(&mut timings, "finalize_write", t);
    std::mem::take(&mut assembler.profiles)
        .into_sidecar(data.queries.len())
        .write(&out)?;

    let mut corpus_stats = EmbedStats::default();
    for m in &markers[&Stage::EmbedCorpus] {
        if let Some(stats) = m.detail.get("embedding") {
            let stats: EmbedStats = serde_json::from_value(stats.clone())
                .map_err(|e| Error::Config(format!("embed-corpus {} marker: {e}", m.shard)))?;
            corpus_stats.absorb(&stats);
        }
    }
    for (stage, done) in &markers {
        let key = stage.name().replace('-', "_");
        timings.insert(key, done.iter().map(|m| m.seconds).sum());
    }
    for m in &markers[&Stage::MineQueries] {
        if let Some(serde_json::Value::Object(phases)) = m.detail.get("timings") {
            for (phase, seconds) in phases {
                *timings.entry(phase.clone()).or_default() += seconds.as_f64().unwrap_or_default();
            }
        }
    }
    timings.insert("finalize".into(), started.elapsed().as_secs_f64());
    // Worker seconds over every shard and finalize (shards may have run side by side).
    let total = Stage::ALL
        .iter()
        .map(|st| timings[&st.name().replace('-', "_")])
        .sum::<f64>()
        + timings["finalize"];
    timings.insert("total".into(), total);

    let drop_short = assembler.drop_short;
    let counts = run_counts(
        &data,
        &assembler.tally,
        drop_short,
        plan.ingested.bad_records_skipped.clone(),
        sum_detail(&markers[&Stage::EmbedCorpus], "cached"),
    );
    let mut config = serde_json::to_value(&plan.intent.settings)
        .map_err(|e| Error::Config(format!("settings do not serialize: {e}")))?;
    config["run"] = serde_json::json!({
        "folder": run.root(),
        "plan_hash": plan.hash,
        "corpus_shards": plan.layout.corpus_shards.len(),
        "index_partitions": plan.layout.partitions.len(),
        "query_shards": plan.layout.query_shards.len(),
    });
    let manifest = Manifest {
        tool: "hardneg".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        inputs: plan.intent.inputs.clone(),
        model: ModelInfo {
            path: plan.model.onnx.display().to_string(),
            sha256: plan.model.sha256.clone(),
            precision: s.precision,
            dim: plan.model.dim,
        },
        index: IndexInfo {
            kind: plan.layout.index.name().into(),
            bytes: sum_detail(&markers[&Stage::BuildIndex], "bytes"),
        },
        config,
        language: crate::manifest::LanguageInfo {
            language: plan.language.clone(),
            counterfactual_families_left_out: plan.families_left_out.clone(),
        },
        counts,
        scores: run_scores(assembler.tally),
        embedding: BTreeMap::from([
            ("corpus".to_string(), corpus_stats),
            ("queries".to_string(), query_stats),
        ]),
        counterfactuals,
        timings,
        outputs: outputs.iter().map(|p| p.display().to_string()).collect(),
    };
    manifest.write(&out)?;
    let once = Shard { index: 0, count: 1 };
    Marker::new(
        &plan.hash,
        "finalize",
        once,
        started.elapsed().as_secs_f64(),
        serde_json::json!({ "out": out }),
    )
    .write(&run.finalized())?;
    let summary = manifest.summary();
    Ok(MineReport {
        manifest,
        outputs,
        summary,
        manifest_path: crate::output::manifest_path(&out),
    })
}
