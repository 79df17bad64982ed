//! One copy of a model's weights for every session of a run. onnxruntime gives each session its
//! own copy of the initializers and of their prepacked (matmul-ready) forms, about 110 MB (fp32)
//! or 70 MB (int8) per session of MiniLM-L6, so one session per core multiplied the model by the
//! core count. Initializers the caller supplies are used in place, and their prepacked forms are
//! shared through one container (onnxruntime packs caller-supplied initializers only once).

use std::sync::Arc;

use ort::session::builder::{PrepackedWeights, SessionBuilder};
use ort::value::{DynValue, PrimitiveTensorElementType, Tensor};

use super::onnx_file::{ElementType, Initializer, OnnxFile};
use crate::error::{Error, Result};

/// Initializers smaller than this stay with each session's graph (shapes, biases, scales).
const MIN_SHARED_BYTES: usize = 64 * 1024;

/// A model's large initializers as values every session can use, and the container their
/// prepacked forms share.
pub struct SharedWeights {
    values: Vec<(String, Arc<DynValue>)>,
    prepacked: PrepackedWeights,
}

impl SharedWeights {
    /// Reads the large float and 8-bit initializers of the ONNX graph at `path`, inline or from
    /// its external data files; other tensors stay with the graph.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        // Values and container are onnxruntime's: the library must be loaded first.
        super::runtime::environment()?;
        let graph = OnnxFile::open(path)?;
        let mut values = Vec::new();
        for init in graph.initializers.iter().filter(|i| i.bytes() >= MIN_SHARED_BYTES) {
            let value = match init.element {
                Some(ElementType::F32) => tensor(init, f32::from_le_bytes)?,
                Some(ElementType::U8) => tensor(init, u8::from_le_bytes)?,
                Some(ElementType::I8) => tensor(init, i8::from_le_bytes)?,
                None => continue,
            };
            values.push((init.name.clone(), Arc::new(value)));
        }
        Ok(SharedWeights {
            values,
            prepacked: PrepackedWeights::new(),
        })
    }

    /// Makes `builder`'s session use these initializers and prepacked forms.
    pub fn attach(&self, mut builder: SessionBuilder) -> Result<SessionBuilder> {
        let fail = |e: ort::Error<SessionBuilder>| Error::Model(format!("cannot share the model's weights: {e}"));
        for (name, value) in &self.values {
            builder = builder.with_initializer(name, Arc::clone(value)).map_err(fail)?;
        }
        builder.with_prepacked_weights(&self.prepacked).map_err(fail)
    }
}

/// `init` as a tensor, from its little-endian bytes, `N` bytes an element.
fn tensor<T, const N: usize>(init: &Initializer, from_le: fn([u8; N]) -> T) -> Result<DynValue>
where
    T: PrimitiveTensorElementType + Clone + std::fmt::Debug + 'static,
{
    let data: Vec<T> = init
        .read()?
        .chunks_exact(N)
        .map(|c| from_le(c.try_into().expect("chunks of N bytes")))
        .collect();
    Tensor::from_array((init.dims.clone(), data))
        .map(Tensor::into_dyn)
        .map_err(|e| Error::Model(format!("initializer `{}`: {e}", init.name)))
}
