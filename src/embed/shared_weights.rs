//! One copy of a model's weights for every session of a run. onnxruntime gives each session its
//! own copy of the initializers and of their prepacked (matmul-ready) forms, about 110 MB (fp32)
//! or 70 MB (int8) per session of MiniLM-L6, so one session per core multiplied the model by the
//! core count. Initializers the caller supplies are used in place, and their prepacked forms are
//! shared through one container (onnxruntime packs caller-supplied initializers only once).
//!
//! Initializers in external data files are used where they lie, in a read-only mapping of the
//! file: once every session has prepacked its matmul weights, [`SharedWeights::release_pages`]
//! drops the mapped pages, and only what the sessions read again (the embedding rows of the tokens
//! they meet) comes back from the page cache. Inline initializers are copied onto the heap.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use memmap2::{Mmap, UncheckedAdvice};
use ort::AsPointer;
use ort::memory::{Allocator, MemoryInfo};
use ort::session::builder::{PrepackedWeights, SessionBuilder};
use ort::sys::ONNXTensorElementDataType;
use ort::value::{DynValue, PrimitiveTensorElementType, Tensor};

use super::onnx_file::{ElementType, Initializer, OnnxFile};
use crate::error::{Error, Result};

/// Initializers smaller than this stay with each session's graph (shapes, biases, scales).
const MIN_SHARED_BYTES: usize = 64 * 1024;

/// A model's large initializers as values every session can use, and the container their
/// prepacked forms share. Sessions using it must hold it (an `Arc`) for as long as they live:
/// values may point into its mappings.
pub struct SharedWeights {
    values: Vec<(String, Arc<DynValue>)>,
    prepacked: PrepackedWeights,
    /// Read-only mappings of the external data files, by path, declared last so that they are
    /// unmapped after the values pointing into them are released.
    mappings: HashMap<PathBuf, Mmap>,
}

impl SharedWeights {
    /// Reads the large float and 8-bit initializers of the ONNX graph at `path`: those in external
    /// data files in place (mapped), inline ones copied; other tensors stay with the graph.
    pub fn load(path: &Path) -> Result<Self> {
        // Values and container are onnxruntime's: the library must be loaded first.
        super::runtime::environment()?;
        let graph = OnnxFile::open(path)?;
        let mut mappings: HashMap<PathBuf, Mmap> = HashMap::new();
        let mut values = Vec::new();
        for init in graph.initializers.iter().filter(|i| i.bytes() >= MIN_SHARED_BYTES) {
            let Some(element) = init.element else { continue };
            // SAFETY: `mappings` moves into the `SharedWeights` returned, which outlives every
            // value and (through the `Arc` each session holds) every session.
            let value = match unsafe { mapped(&mut mappings, init, element) }? {
                Some(value) => value,
                None => copied(init, element)?,
            };
            values.push((init.name.clone(), Arc::new(value)));
        }
        Ok(SharedWeights {
            values,
            prepacked: PrepackedWeights::new(),
            mappings,
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

    /// Drops the mapped pages from this process's memory once the sessions are open: the matmul
    /// weights now live in their prepacked forms, and any page read again is brought back from
    /// the page cache. A hint: failure changes nothing but memory.
    pub fn release_pages(&self) {
        for mapping in self.mappings.values() {
            // SAFETY: the mapping is private and read-only, so no page holds data that is not in
            // the file; a page read after this is read from the file again.
            if let Err(e) = unsafe { mapping.unchecked_advise(UncheckedAdvice::DontNeed) } {
                tracing::debug!("madvise(DONTNEED) on the model's weights: {e}");
            }
        }
    }
}

/// `init` as a tensor over its bytes in its external data file, mapped once into `mappings`;
/// `None` where it cannot lie there (inline data, a big-endian host, misaligned bytes).
///
/// # Safety
/// The value points into `mappings`: they must outlive it and every session given it.
unsafe fn mapped(
    mappings: &mut HashMap<PathBuf, Mmap>,
    init: &Initializer,
    element: ElementType,
) -> Result<Option<DynValue>> {
    let Some((file, offset, length)) = init.external().filter(|_| cfg!(target_endian = "little")) else {
        return Ok(None);
    };
    let mapping = match mappings.entry(file.to_path_buf()) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(map(file)?),
    };
    let bytes = usize::try_from(offset)
        .ok()
        .and_then(|start| mapping.get(start..start.checked_add(length)?))
        .ok_or_else(|| {
            Error::Model(format!(
                "initializer `{}` lies past the end of {}",
                init.name,
                file.display()
            ))
        })?;
    // SAFETY: the mapping is never written, and the caller keeps it as long as the value.
    unsafe { tensor_in_place(bytes, &init.dims, element) }
        .transpose()
        .map_err(|e| Error::Model(format!("initializer `{}`: {e}", init.name)))
}

/// Maps `file` read-only.
fn map(file: &Path) -> Result<Mmap> {
    let f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    // SAFETY: model files are inputs of the run, not written while it lasts (onnxruntime maps its
    // external data files the same way).
    unsafe { Mmap::map(&f) }.map_err(|e| Error::io(file, e))
}

/// A tensor over `bytes` where they lie, or `None` when they are not aligned for `element`.
///
/// # Safety
/// `bytes` must stay valid and unchanged until the value and every session given it are released.
unsafe fn tensor_in_place(bytes: &[u8], dims: &[i64], element: ElementType) -> Option<ort::Result<DynValue>> {
    let (ty, align) = match element {
        ElementType::F32 => (
            ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
            align_of::<f32>(),
        ),
        ElementType::U8 => (ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, 1),
        ElementType::I8 => (ONNXTensorElementDataType::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, 1),
    };
    if !(bytes.as_ptr() as usize).is_multiple_of(align) {
        return None;
    }
    let info = MemoryInfo::default();
    let mut raw = std::ptr::null_mut();
    // SAFETY: `info`, `dims` and `raw` are valid for the call; onnxruntime checks `bytes.len()`
    // against the shape and element type, keeps a copy of `info`, and borrows the data (it is
    // const for the graph: onnxruntime does not write into initializers).
    let status = unsafe {
        (ort::api().CreateTensorWithDataAsOrtValue)(
            info.ptr(),
            bytes.as_ptr().cast_mut().cast(),
            bytes.len(),
            dims.as_ptr(),
            dims.len(),
            ty,
            &mut raw,
        )
    };
    // SAFETY: `status` comes from the call above; on success `raw` is a tensor we now own, over
    // memory no allocator frees (the allocator is only kept alive with it).
    Some(unsafe { ort::Error::result_from_status(status) }.map(|()| unsafe {
        DynValue::from_ptr(
            NonNull::new(raw).expect("onnxruntime returned a tensor"),
            Some(&Allocator::default()),
        )
    }))
}

/// `init` copied onto the heap as a tensor of its element type.
fn copied(init: &Initializer, element: ElementType) -> Result<DynValue> {
    match element {
        ElementType::F32 => tensor(init, f32::from_le_bytes),
        ElementType::U8 => tensor(init, u8::from_le_bytes),
        ElementType::I8 => tensor(init, i8::from_le_bytes),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_lie_over_their_bytes_when_aligned_and_are_checked_against_their_shape() {
        super::super::runtime::environment().unwrap();
        let floats = [0.5f32, -1.0, 2.25, 3.0, -4.5, 6.0];
        let mut buf = [0u8; 32];
        let start = buf.as_ptr().align_offset(align_of::<f32>());
        for (i, f) in floats.iter().enumerate() {
            buf[start + 4 * i..start + 4 * i + 4].copy_from_slice(&f.to_le_bytes());
        }
        let aligned = &buf[start..start + 24];

        // SAFETY (of the calls below): `buf` outlives every value made here.
        let value = unsafe { tensor_in_place(aligned, &[2, 3], ElementType::F32) }
            .unwrap()
            .unwrap();
        let (shape, data) = value.try_extract_tensor::<f32>().unwrap();
        assert_eq!(&shape[..], [2, 3]);
        assert_eq!(data, floats);
        assert_eq!(
            data.as_ptr().cast::<u8>(),
            aligned.as_ptr(),
            "copied instead of used in place"
        );

        let misaligned = &buf[start + 1..start + 25];
        assert!(unsafe { tensor_in_place(misaligned, &[2, 3], ElementType::F32) }.is_none());
        assert!(
            unsafe { tensor_in_place(misaligned, &[4, 6], ElementType::I8) }
                .unwrap()
                .is_ok()
        );
        assert!(
            unsafe { tensor_in_place(aligned, &[2, 4], ElementType::F32) }
                .unwrap()
                .is_err()
        );
    }
}
