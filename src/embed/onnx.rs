//! The ONNX Runtime embedder: sessions with explicit intra-op threads, CPU or CUDA.

use std::sync::Arc;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use super::model::{ModelDir, Pooling};
use super::replicas::ReplicatedEmbedder;
use super::shared_weights::SharedWeights;
use super::tokenize::TokenBatch;
use super::{Embedder, l2_normalize};
use crate::error::{Error, Result};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's CPU execution provider.
    Cpu,
    /// CUDA device N (needs a `--features cuda` build and onnxruntime-gpu).
    Cuda(i32),
}

/// Texts per batch by default on a GPU (32 on CPU, `--batch-size`).
pub const CUDA_BATCH_ROWS: usize = 256;
/// Padded tokens per batch by default on a GPU: 256 texts of 128 tokens (`--max-batch-tokens`).
pub const CUDA_MAX_BATCH_TOKENS: usize = 32_768;
/// Texts per batch by default on CPU.
pub const CPU_BATCH_ROWS: usize = 32;

/// The devices of `--device`: `cpu`, or one or more CUDA devices (`cuda`, `cuda:1`,
/// `cuda:0,cuda:1`), each at most once.
pub fn parse_devices(spec: &str) -> std::result::Result<Vec<Device>, String> {
    let devices: Vec<Device> = spec
        .split(',')
        .map(|d| d.trim().parse())
        .collect::<std::result::Result<_, _>>()?;
    if devices.len() > 1 && devices.contains(&Device::Cpu) {
        return Err(format!("--device {spec}: cpu cannot be listed with GPUs"));
    }
    for (i, d) in devices.iter().enumerate() {
        if devices[..i].contains(d) {
            return Err(format!("--device {spec}: {d:?} is listed twice"));
        }
    }
    Ok(devices)
}

/// The batch limits for `devices` where `--batch-size` / `--max-batch-tokens` were not given:
/// GPUs take far larger batches than the CPU's cache-sized ones.
pub fn default_batch_limits(devices: &[Device]) -> (usize, usize) {
    if devices.iter().any(|d| matches!(d, Device::Cuda(_))) {
        (CUDA_BATCH_ROWS, CUDA_MAX_BATCH_TOKENS)
    } else {
        (CPU_BATCH_ROWS, super::DEFAULT_MAX_BATCH_TOKENS)
    }
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("unknown device `{s}`: expected cpu, cuda or cuda:N")),
        }
    }
}

/// Embeds token batches with an ONNX graph following the model folder contract.
pub struct OnnxEmbedder {
    session: Session,
    pooling: Pooling,
    dim: usize,
    has_token_types: bool,
    output: String,
    pooled: bool,
    /// The weights `session` uses in place, if shared: declared after it, so they outlive it.
    _weights: Option<Arc<SharedWeights>>,
}

/// Opens `sessions` sessions of the model side by side, sharing `threads` intra-op threads as
/// evenly as they divide (at least one each). On CPU, several sessions share one copy of the
/// weights ([`SharedWeights`]); on GPUs every device gets at least one session of its own, and
/// sessions go to the devices in turn.
pub fn open_sessions(
    model: &ModelDir,
    threads: usize,
    sessions: usize,
    devices: &[Device],
) -> Result<Box<dyn Embedder>> {
    let devices = if devices.is_empty() {
        &[Device::Cpu][..]
    } else {
        devices
    };
    let sessions = sessions.max(devices.len());
    let shared = match devices {
        [Device::Cpu] if sessions > 1 => Some(Arc::new(SharedWeights::load(&model.onnx)?)),
        _ => None,
    };
    let replicas = (0..sessions)
        .map(|i| {
            let own_threads = threads / sessions + usize::from(i < threads % sessions);
            let device = devices[i % devices.len()];
            let session = OnnxEmbedder::new(model, own_threads.max(1), device, shared.clone())?;
            Ok(Box::new(session) as Box<dyn Embedder>)
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(weights) = &shared {
        weights.release_pages();
    }
    Ok(Box::new(ReplicatedEmbedder::new(replicas)?))
}

impl OnnxEmbedder {
    /// Opens a session on `model.onnx` with `threads` intra-op threads on `device`, using
    /// `shared` weights where given.
    pub fn new(model: &ModelDir, threads: usize, device: Device, shared: Option<Arc<SharedWeights>>) -> Result<Self> {
        let env = super::runtime::environment()?;
        let fail = |e: &dyn std::fmt::Display| Error::Model(format!("{}: {e}", model.onnx.display()));
        let mut builder = Session::builder(env)
            .map_err(|e| fail(&e))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| fail(&e))?
            .with_inter_threads(1)
            .map_err(|e| fail(&e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| fail(&e))?;
        match device {
            Device::Cuda(id) => builder = register_cuda(builder, id)?,
            // onnxruntime's CPU SkipLayerNormalization kernel took 2.5-3x the time of the Add +
            // LayerNormalization it replaces (BENCHMARKS.md, "The model's graph"); the fusion
            // fires on the int8 graph, so it is switched off on CPU.
            // Precise int8 matmuls: on x86 CPUs without VNNI the fast u8×s8 kernel saturates its
            // 16-bit pair sums, which cost the int8 model its accuracy (cosine 0.97 to fp32 on an
            // AVX2-only EPYC, BENCHMARKS.md "int8 on CPUs without VNNI"); with VNNI it is a no-op.
            // No memory pattern: it takes each run's intermediates as one block planned for that
            // input shape, and batches come in many shapes, which fragments the arena; without it
            // peak RSS fell 15-32 MiB on CPU at the same speed and output (BENCHMARKS.md, "Memory
            // pattern off").
            Device::Cpu => {
                builder = builder
                    .with_memory_pattern(false)
                    .map_err(|e| fail(&e))?
                    .with_disabled_optimizers("SkipLayerNormFusion")
                    .map_err(|e| fail(&e))?
                    .with_precise_qmm()
                    .map_err(|e| fail(&e))?
            }
        }
        if let Some(weights) = &shared {
            builder = weights.attach(builder)?;
        }
        let session = builder.commit_from_file(&model.onnx).map_err(|e| {
            Error::Model(format!(
                "cannot load {} (missing, corrupt, or not an ONNX graph): {e}",
                model.onnx.display()
            ))
        })?;
        let input_names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for needed in ["input_ids", "attention_mask"] {
            if !input_names.contains(&needed) {
                return Err(Error::Model(format!(
                    "{} has no `{needed}` input (inputs: {}): not a BERT-style encoder export",
                    model.onnx.display(),
                    input_names.join(", ")
                )));
            }
        }
        let has_token_types = input_names.contains(&"token_type_ids");
        let output_names: Vec<String> = session.outputs().iter().map(|o| o.name().to_string()).collect();
        let (output, pooled) = if output_names.iter().any(|n| n == "sentence_embedding") {
            ("sentence_embedding".to_string(), true)
        } else if let Some(n) = output_names
            .iter()
            .find(|n| *n == "last_hidden_state")
            .or(output_names.first())
        {
            (n.clone(), false)
        } else {
            return Err(Error::Model(format!("{} has no outputs", model.onnx.display())));
        };
        let mut embedder = OnnxEmbedder {
            session,
            pooling: model.pooling,
            dim: 0,
            has_token_types,
            output,
            pooled,
            _weights: shared,
        };
        // One probe fixes the dimension and proves the graph runs.
        let probe = TokenBatch {
            input_ids: vec![101, 102],
            attention_mask: vec![1, 1],
            rows: 1,
            cols: 2,
            positions: vec![0],
        };
        embedder.dim = embedder.run(&probe)?.len();
        tracing::info!(
            "model {} on {:?}: {} dims, output `{}`, {} intra-op threads",
            model.onnx.display(),
            device,
            embedder.dim,
            embedder.output,
            threads
        );
        Ok(embedder)
    }

    fn run(&mut self, batch: &TokenBatch) -> Result<Vec<f32>> {
        let shape = [batch.rows, batch.cols];
        let fail = |e: ort::Error| Error::Model(format!("inference failed: {e}"));
        let token_types = vec![0i64; batch.input_ids.len()];
        let ids = TensorRef::from_array_view((shape, batch.input_ids.as_slice())).map_err(fail)?;
        let mask = TensorRef::from_array_view((shape, batch.attention_mask.as_slice())).map_err(fail)?;
        let outputs = if self.has_token_types {
            let types = TensorRef::from_array_view((shape, token_types.as_slice())).map_err(fail)?;
            self.session
                .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask, "token_type_ids" => types])
                .map_err(fail)?
        } else {
            self.session
                .run(ort::inputs!["input_ids" => ids, "attention_mask" => mask])
                .map_err(fail)?
        };
        let value = outputs.get(&self.output).expect("output name read from the session");
        let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(fail)?;
        let mut vectors = if self.pooled {
            data.to_vec()
        } else {
            let hidden = out_shape[2] as usize;
            pool(
                data,
                &batch.attention_mask,
                batch.rows,
                batch.cols,
                hidden,
                self.pooling,
            )
        };
        let dim = vectors.len() / batch.rows.max(1);
        for v in vectors.chunks_mut(dim) {
            l2_normalize(v);
        }
        Ok(vectors)
    }
}

#[cfg(feature = "cuda")]
fn register_cuda(
    builder: ort::session::builder::SessionBuilder,
    id: i32,
) -> Result<ort::session::builder::SessionBuilder> {
    super::cuda::prepare(super::runtime::library_path().as_deref())?;
    let ep = ort::ep::CUDA::default().with_device_id(id);
    builder
        .with_execution_providers([ep.build().error_on_failure()])
        .map_err(|e| {
            Error::Model(format!(
                "cannot start CUDA device {id} ({e}): check that it exists (nvidia-smi -L) and is not in use"
            ))
        })
}

#[cfg(not(feature = "cuda"))]
fn register_cuda(_: ort::session::builder::SessionBuilder, _: i32) -> Result<ort::session::builder::SessionBuilder> {
    Err(Error::Config(
        "--device cuda needs a build with CUDA support: run `make setup build GPU=1` (onnxruntime-gpu into .venv-gpu, then a `--features cuda` build)"
            .into(),
    ))
}

/// Pools token states `[rows, cols, hidden]` into `[rows, hidden]` by the mask.
fn pool(states: &[f32], mask: &[i64], rows: usize, cols: usize, hidden: usize, pooling: Pooling) -> Vec<f32> {
    let mut out = vec![0f32; rows * hidden];
    for r in 0..rows {
        let acc = &mut out[r * hidden..(r + 1) * hidden];
        match pooling {
            Pooling::Cls => acc.copy_from_slice(&states[r * cols * hidden..r * cols * hidden + hidden]),
            Pooling::Mean => {
                let mut count = 0f32;
                for c in (0..cols).filter(|&c| mask[r * cols + c] == 1) {
                    let tok = &states[(r * cols + c) * hidden..(r * cols + c + 1) * hidden];
                    acc.iter_mut().zip(tok).for_each(|(a, t)| *a += t);
                    count += 1.0;
                }
                acc.iter_mut().for_each(|a| *a /= count.max(1e-9));
            }
        }
    }
    out
}

impl Embedder for OnnxEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&mut self, batch: &TokenBatch) -> Result<Vec<f32>> {
        self.run(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padding_and_cls_takes_first() {
        // 1 row, 3 positions (last is padding), hidden 2.
        let states = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        let mask = [1, 1, 0];
        assert_eq!(pool(&states, &mask, 1, 3, 2, Pooling::Mean), vec![2.0, 3.0]);
        assert_eq!(pool(&states, &mask, 1, 3, 2, Pooling::Cls), vec![1.0, 2.0]);
    }

    #[test]
    fn device_parses() {
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert_eq!("cuda:1".parse::<Device>(), Ok(Device::Cuda(1)));
        assert_eq!(
            parse_devices("cuda:0, cuda:1"),
            Ok(vec![Device::Cuda(0), Device::Cuda(1)])
        );
        assert_eq!(parse_devices("cpu"), Ok(vec![Device::Cpu]));
        assert!(parse_devices("cpu,cuda:0").is_err());
        assert!(parse_devices("cuda:0,cuda").unwrap_err().contains("twice"));
        assert_eq!(
            default_batch_limits(&[Device::Cuda(1)]),
            (CUDA_BATCH_ROWS, CUDA_MAX_BATCH_TOKENS)
        );
        assert!("tpu".parse::<Device>().is_err());
    }
}
