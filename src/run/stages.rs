//! `hardneg stage <embed-corpus|build-index|mine-queries> --run DIR --shard i/N`: one shard of one
//! stage. A shard reads only the run folder, writes its part under a temporary name and renames
//! it, then writes its marker; a shard whose marker exists is skipped, and one killed midway
//! leaves no marker, so running it again recomputes that shard alone.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::marker::{self, Marker};
use super::plan::{IndexKind, Plan, Worker};
use super::{RunDir, Shard, Stage, parts};
use crate::cache::{EmbeddingCache, Key};
use crate::error::{Error, Result};
use crate::index::{ExactIndex, NeighborIndex, PartitionedIndex, UsearchIndex};
use crate::mine::{EmbeddingModel, Miner, counterfactual, mine_chunk};
use crate::settings::MineSettings;

/// What running a shard did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The shard ran and wrote its part and marker.
    Done {
        /// Wall seconds.
        seconds: f64,
    },
    /// Its marker was there already: nothing was done.
    AlreadyDone,
}

/// Runs `shard` of `stage` in `run` with the worker's own resources.
pub fn run_stage(run: &RunDir, stage: Stage, shard: Shard, worker: &Worker) -> Result<Outcome> {
    let plan = Plan::load(run)?;
    let planned = plan.layout.shards(stage);
    if shard.count != planned {
        return Err(Error::Config(format!(
            "{} was planned with {planned} {stage} shards, not {}: use --shard i/{planned}",
            run.root().display(),
            shard.count
        )));
    }
    if marker::done(run, stage, shard, &plan.hash)?.is_some() {
        tracing::info!("{stage} {shard} is already done");
        return Ok(Outcome::AlreadyDone);
    }
    Marker::new(&plan.hash, stage.name(), shard, 0.0, serde_json::Value::Null).write(&run.started(stage, shard))?;
    let started = Instant::now();
    let s = plan.settings_for(worker);
    let result = match stage {
        Stage::EmbedCorpus => embed_corpus(run, &plan, shard, &s),
        Stage::BuildIndex => build_index(run, &plan, shard),
        Stage::MineQueries => mine_queries(run, &plan, shard, &s),
    };
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(detail) => {
            Marker::new(&plan.hash, stage.name(), shard, seconds, detail).write(&run.done(stage, shard))?;
            marker::remove_if_present(&run.failed(stage, shard))?;
            Ok(Outcome::Done { seconds })
        }
        Err(e) => {
            let message = serde_json::Value::String(format!("{e:#}"));
            // Recording the failure is best effort: the error itself is what the caller reports.
            let _ = Marker::new(&plan.hash, stage.name(), shard, seconds, message).write(&run.failed(stage, shard));
            Err(e)
        }
    }
}

/// Opens the plan's model for a worker and checks it is the model that was planned.
fn open_model(plan: &Plan, s: &MineSettings) -> Result<EmbeddingModel> {
    let model = EmbeddingModel::open(s)?;
    let hash = model.dir.hash()?;
    if hash != plan.model.sha256 {
        return Err(Error::Config(format!(
            "the model at {} changed since the run was planned (sha256 {} then, {hash} now): plan the run again",
            plan.model.dir.display(),
            plan.model.sha256
        )));
    }
    Ok(model)
}

/// Embeds the distinct passages of corpus shard `shard` into its vector part. The shard covers
/// whole embedding windows, so its texts are batched exactly as `hardneg mine` batches them;
/// with `--cache`, cached vectors are taken first and only the rest is embedded.
fn embed_corpus(run: &RunDir, plan: &Plan, shard: Shard, s: &MineSettings) -> Result<serde_json::Value> {
    let mut model = open_model(plan, s)?;
    let dim = model.embedder.dim();
    let span = plan.layout.corpus_shards[shard.index];
    tracing::info!(
        "embed-corpus {shard}: rows {}..{}, holding one window of {} texts",
        span.start,
        span.end,
        s.sort_window
    );
    let mut out = parts::VectorPartWriter::create(&run.vector_part(shard.index), dim)?;
    let reps = || -> Result<_> {
        Ok(parts::corpus_rows(run, shard.index)?.filter(|r| r.as_ref().map_or(true, |r| r.row == r.canonical)))
    };
    let mut todo: Option<std::collections::HashSet<u32>> = None;
    let mut keys: HashMap<u32, Key> = HashMap::new();
    let mut cached = 0usize;
    let cache = match &s.cache {
        Some(dir) => Some(EmbeddingCache::open(
            dir,
            dim,
            &plan.model.sha256,
            &format!("{:?}", s.precision),
            model.corpus_tokenizer.max_length(),
            &s.corpus_prompt,
        )?),
        None => None,
    };
    if let Some(c) = &cache {
        for r in reps()? {
            let r = r?;
            keys.insert(r.row, c.key(&r.text));
        }
        let wanted: HashMap<Key, u32> = keys.iter().map(|(&row, &key)| (key, row)).collect();
        let found = c.load(&wanted, |row, vector| {
            cached += 1;
            out.write(&[row], vector)
        })?;
        todo = Some(keys.keys().copied().filter(|r| !found.contains(r)).collect());
        tracing::info!("embedding cache: {cached} passages cached");
    }
    let bar = crate::progress::bar(span.len() as u64, "embedding corpus", s.no_progress);
    let (row_tx, row_rx) = crossbeam_channel::unbounded::<u32>();
    let todo_ref = &todo;
    let texts = reps()?
        .filter(move |r| match (r, todo_ref) {
            (Ok(r), Some(todo)) => todo.contains(&r.row),
            _ => true,
        })
        .map(move |r| {
            r.map(|r| {
                let _ = row_tx.send(r.row);
                r.text
            })
        });
    let stats = model.embed_iter(texts, &s.corpus_prompt, false, |vectors| {
        let rows: Vec<u32> = row_rx.try_iter().take(vectors.len() / dim).collect();
        out.write(&rows, &vectors)?;
        if let Some(c) = &cache {
            let window_keys: Vec<Key> = rows.iter().map(|r| keys[r]).collect();
            c.store(&window_keys, &vectors)?;
        }
        bar.inc(rows.len() as u64);
        crate::progress::test_hold("embed");
        Ok(())
    })?;
    bar.finish_and_clear();
    out.commit()?;
    Ok(serde_json::json!({ "embedding": stats, "cached": cached }))
}

/// Builds index partition `shard` (exact or HNSW, as the plan says) from the vector parts: every
/// row of the partition gets its passage's vector (rows repeating a text share the vector of its
/// first row, which may lie in another corpus shard).
fn build_index(run: &RunDir, plan: &Plan, shard: Shard) -> Result<serde_json::Value> {
    let layout = &plan.layout;
    let span = layout.partitions[shard.index];
    let (dim, dtype) = (plan.model.dim, plan.intent.settings.index_dtype);
    tracing::info!(
        "build-index {shard}: {} rows {}..{}, about {} MiB",
        layout.index.extension(),
        span.start,
        span.end,
        (span.len() * (dim * dtype.bytes() + if layout.index == IndexKind::Hnsw { 160 } else { 0 })) >> 20
    );
    // The rows of this partition, grouped under the row whose vector they take.
    let mut wanted: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (i, corpus) in layout.corpus_shards.iter().enumerate() {
        if corpus.end <= span.start || corpus.start >= span.end {
            continue;
        }
        for (row, canonical) in parts::duplicate_groups(run, i)? {
            if span.range().contains(&(row as usize)) {
                wanted.entry(canonical).or_default().push(row - span.start as u32);
            }
        }
    }
    let mut index: Box<dyn NeighborIndex> = match layout.index {
        IndexKind::Exact => Box::new(ExactIndex::new(dim, span.len(), dtype)),
        IndexKind::Hnsw => Box::new(UsearchIndex::new(dim, dtype, span.len())?),
    };
    let mut added = 0usize;
    for (i, corpus) in layout.corpus_shards.iter().enumerate() {
        let needed = wanted.range(corpus.start as u32..corpus.end as u32).next().is_some();
        if !needed {
            continue;
        }
        parts::for_each_vector(&run.vector_part(i), dim, |row, vector| {
            if let Some(locals) = wanted.get(&row) {
                let repeated: Vec<f32> = locals.iter().flat_map(|_| vector.iter().copied()).collect();
                index.add(locals, &repeated)?;
                added += locals.len();
            }
            Ok(())
        })?;
    }
    if added != span.len() {
        return Err(Error::Index(format!(
            "the vector parts hold {added} of partition {shard}'s {} rows: a vector part is incomplete",
            span.len()
        )));
    }
    index.save(&run.partition(shard.index, layout.index.extension()))?;
    Ok(serde_json::json!({ "kind": index.kind(), "bytes": index.memory_bytes(), "rows": span.len() }))
}

/// Opens every index partition of the run as one index: exact partitions are read into memory,
/// HNSW partitions memory-mapped.
pub fn open_partitions(run: &RunDir, plan: &Plan) -> Result<PartitionedIndex> {
    let mut opened: Vec<(u32, Box<dyn NeighborIndex>)> = Vec::new();
    for (p, span) in plan.layout.partitions.iter().enumerate() {
        let path = run.partition(p, plan.index_extension());
        let index: Box<dyn NeighborIndex> = match plan.layout.index {
            IndexKind::Exact => Box::new(ExactIndex::load(&path)?),
            IndexKind::Hnsw => {
                if !path.exists() {
                    return Err(Error::input(&path, "part is missing"));
                }
                Box::new(UsearchIndex::view(&path)?)
            }
        };
        if index.len() != span.len() {
            return Err(Error::input(
                &path,
                format!("holds {} rows, the plan says {}", index.len(), span.len()),
            ));
        }
        opened.push((span.start as u32, index));
    }
    PartitionedIndex::new(opened)
}

/// Embeds query shard `shard`, searches every partition, selects and (with `--counterfactuals`)
/// edits, chunk by chunk as `hardneg mine` does, and writes the shard's mined part.
fn mine_queries(run: &RunDir, plan: &Plan, shard: Shard, s: &MineSettings) -> Result<serde_json::Value> {
    let span = plan.layout.query_shards[shard.index];
    let data = parts::load_mining_data(run, plan)?;
    let index = open_partitions(run, plan)?;
    tracing::info!(
        "mine-queries {shard}: queries {}..{} over {} partitions holding about {} MiB",
        span.start,
        span.end,
        plan.layout.partitions.len(),
        index.memory_bytes() >> 20
    );
    let bm25 = match s.fn_filter()?.lexical {
        Some(_) => Some(parts::read_bm25(run)?),
        None => None,
    };
    let perturber = match s.counterfactuals {
        0 => None,
        _ => {
            let (mut p, _) = counterfactual::families_perturber(s, &plan.language)?;
            parts::read_perturber_tables(run, &mut p)?;
            Some(p)
        }
    };
    let mut model = open_model(plan, s)?;
    let miner = Miner::new(&data, &index, s, bm25)?;
    let mut out = parts::MinedPartWriter::create(&run.mined_part(shard.index), s.max_negative_reuse.is_some())?;
    let mut timings = BTreeMap::new();
    let bar = crate::progress::bar(span.len() as u64, "mining queries", s.no_progress);
    for start in span.range().step_by(s.query_chunk) {
        let range = start..(start + s.query_chunk).min(span.end);
        let (chunk, counts, stats) = mine_chunk(
            range.clone(),
            &data,
            &miner,
            &mut model,
            perturber.as_ref(),
            &mut timings,
        )?;
        out.write(&chunk, counts, stats)?;
        bar.inc(range.len() as u64);
    }
    bar.finish_and_clear();
    out.commit()?;
    Ok(serde_json::json!({ "queries": span.len(), "timings": timings }))
}
