//! `hardneg status --run DIR [--json]`: every stage's shards as done, failed (with the reason),
//! started (a process took it and has not finished: running, or killed) or missing, for a person
//! and for a launcher.

use serde::Serialize;

use super::marker::{self, Marker};
use super::plan::Plan;
use super::{RunDir, Stage};
use crate::error::Result;

/// The state of one shard.
#[derive(Debug, Clone, Serialize)]
pub struct ShardStatus {
    /// `i/N`.
    pub shard: String,
    /// 0-based shard number.
    pub index: usize,
    /// `done`, `failed`, `started` or `missing`.
    pub state: &'static str,
    /// The failure's message, or where a started shard runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Wall seconds of a finished shard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// The state of one stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageStatus {
    /// Stage name.
    pub stage: &'static str,
    /// Shards done.
    pub done: usize,
    /// Shards in all.
    pub total: usize,
    /// Every shard.
    pub shards: Vec<ShardStatus>,
}

/// The state of a run folder.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    /// The run folder.
    pub run: String,
    /// The plan's hash.
    pub plan_hash: String,
    /// Each stage, in order.
    pub stages: Vec<StageStatus>,
    /// Whether `finalize` wrote the training set under this plan.
    pub finalized: bool,
    /// The training set the plan writes.
    pub out: Option<String>,
}

impl RunStatus {
    /// Whether every stage's shards are done.
    pub fn stages_done(&self) -> bool {
        self.stages.iter().all(|s| s.done == s.total)
    }
}

fn shard_status(run: &RunDir, plan: &Plan, stage: Stage, shard: super::Shard) -> Result<ShardStatus> {
    let base = |state, reason, seconds| ShardStatus {
        shard: shard.to_string(),
        index: shard.index,
        state,
        reason,
        seconds,
    };
    if let Some(m) = marker::done(run, stage, shard, &plan.hash)? {
        let part = run.part(stage, shard, plan.index_extension());
        return Ok(if part.exists() {
            base("done", None, Some(m.seconds))
        } else {
            base("failed", Some(format!("its part {} is missing", part.display())), None)
        });
    }
    let current = |m: &Marker| m.plan_hash == plan.hash;
    if let Some(m) = Marker::read(&run.failed(stage, shard))?.filter(current) {
        let reason = m.detail.as_str().unwrap_or("unknown").to_string();
        return Ok(base(
            "failed",
            Some(format!("{reason} (on {}, pid {})", m.host, m.pid)),
            None,
        ));
    }
    if let Some(m) = Marker::read(&run.started(stage, shard))?.filter(current) {
        return Ok(base(
            "started",
            Some(format!("taken by pid {} on {}: running, or killed", m.pid, m.host)),
            None,
        ));
    }
    Ok(base("missing", None, None))
}

/// Reads the state of `run`.
pub fn status(run: &RunDir) -> Result<RunStatus> {
    let plan = Plan::load(run)?;
    let mut stages = Vec::new();
    for stage in Stage::ALL {
        let shards = plan
            .layout
            .all(stage)
            .map(|shard| shard_status(run, &plan, stage, shard))
            .collect::<Result<Vec<_>>>()?;
        stages.push(StageStatus {
            stage: stage.name(),
            done: shards.iter().filter(|s| s.state == "done").count(),
            total: shards.len(),
            shards,
        });
    }
    let finalized = Marker::read(&run.finalized())?.is_some_and(|m| m.plan_hash == plan.hash);
    Ok(RunStatus {
        run: run.root().display().to_string(),
        plan_hash: plan.hash.clone(),
        stages,
        finalized,
        out: plan.intent.settings.out.as_ref().map(|p| p.display().to_string()),
    })
}

/// A table for a person: one line per stage, then every shard that is not done.
pub fn render(status: &RunStatus) -> String {
    let mut out = format!(
        "run {} (plan {})\n",
        status.run,
        &status.plan_hash[..12.min(status.plan_hash.len())]
    );
    for st in &status.stages {
        out.push_str(&format!("{:<14} {:>5}/{:<5} done\n", st.stage, st.done, st.total));
        for sh in st.shards.iter().filter(|s| s.state != "done") {
            out.push_str(&format!(
                "  {:<12} {:<8} {}\n",
                sh.shard,
                sh.state,
                sh.reason.as_deref().unwrap_or("")
            ));
        }
    }
    let next = if status.finalized {
        format!("finalized: {}", status.out.as_deref().unwrap_or("?"))
    } else if status.stages_done() {
        "every stage is done: run `hardneg finalize`".to_string()
    } else {
        "not finalized".to_string()
    };
    out.push_str(&next);
    out
}
