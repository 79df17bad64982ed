//! Reading an ONNX file's initializers, inline or in external data files beside the graph, with
//! prost and just the protobuf fields needed (other fields are skipped).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use prost::bytes::Bytes;

use crate::error::{Error, Result};

/// `onnx.ModelProto`: only the graph.
#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

/// `onnx.GraphProto`: only the initializers.
#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

/// `onnx.TensorProto`: shape, element type, name and where the little-endian bytes are.
#[derive(Clone, PartialEq, prost::Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "bytes", tag = "9")]
    raw_data: Bytes,
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<StringEntry>,
    /// 1 = EXTERNAL (`external_data` says where), 0 = inline.
    #[prost(int32, tag = "14")]
    data_location: i32,
}

/// `onnx.StringStringEntryProto`.
#[derive(Clone, PartialEq, prost::Message)]
struct StringEntry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

/// ONNX element types read here (`onnx.TensorProto.DataType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// FLOAT (1).
    F32,
    /// UINT8 (2).
    U8,
    /// INT8 (3).
    I8,
}

/// An initializer's header: what it is and where its bytes are.
pub struct Initializer {
    /// Its name in the graph.
    pub name: String,
    /// Its shape.
    pub dims: Vec<i64>,
    /// Its element type, where it is one read here.
    pub element: Option<ElementType>,
    data: Data,
}

/// Where an initializer's bytes are.
enum Data {
    Inline(Bytes),
    External { file: PathBuf, offset: u64, length: usize },
}

/// An ONNX graph file's initializers.
pub struct OnnxFile {
    path: PathBuf,
    /// Every initializer, in graph order.
    pub initializers: Vec<Initializer>,
}

impl OnnxFile {
    /// Reads the graph at `path` (inline initializer data stays in memory until dropped).
    pub fn open(path: &Path) -> Result<Self> {
        let fail = |e: &dyn std::fmt::Display| {
            Error::Model(format!(
                "cannot read {} (corrupt, or not an ONNX graph): {e}",
                path.display()
            ))
        };
        let bytes = Bytes::from(std::fs::read(path).map_err(|e| Error::io(path, e))?);
        let model = <ModelProto as prost::Message>::decode(bytes).map_err(|e| fail(&e))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut initializers = Vec::new();
        for t in model.graph.map(|g| g.initializer).unwrap_or_default() {
            let element = match t.data_type {
                1 => Some(ElementType::F32),
                2 => Some(ElementType::U8),
                3 => Some(ElementType::I8),
                _ => None,
            };
            let data = if t.data_location == 1 {
                let entry = |key: &str| t.external_data.iter().find(|e| e.key == key).map(|e| e.value.as_str());
                let number = |key: &str| -> Result<Option<u64>> {
                    entry(key)
                        .map(|v| {
                            v.parse()
                                .map_err(|_| fail(&format!("initializer `{}`: {key} `{v}`", t.name)))
                        })
                        .transpose()
                };
                let location = entry("location")
                    .filter(|l| {
                        Path::new(l)
                            .components()
                            .all(|c| matches!(c, std::path::Component::Normal(_)))
                    })
                    .ok_or_else(|| fail(&format!("initializer `{}`: no usable external data location", t.name)))?;
                let length = number("length")?
                    .ok_or_else(|| fail(&format!("initializer `{}`: external data without a length", t.name)))?;
                Data::External {
                    file: dir.join(location),
                    offset: number("offset")?.unwrap_or(0),
                    length: length as usize,
                }
            } else {
                Data::Inline(t.raw_data)
            };
            initializers.push(Initializer {
                name: t.name,
                dims: t.dims,
                element,
                data,
            });
        }
        Ok(OnnxFile {
            path: path.to_path_buf(),
            initializers,
        })
    }

    /// The graph file and the external data files it names, each once, in first-use order: what
    /// identifies the model.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        for i in &self.initializers {
            if let Data::External { file, .. } = &i.data
                && !files.contains(file)
            {
                files.push(file.clone());
            }
        }
        files
    }
}

impl Initializer {
    /// Size of its data in bytes.
    pub fn bytes(&self) -> usize {
        match &self.data {
            Data::Inline(bytes) => bytes.len(),
            Data::External { length, .. } => *length,
        }
    }

    /// Where an external initializer's bytes are: its data file, offset and length (`None` for
    /// inline data).
    pub fn external(&self) -> Option<(&Path, u64, usize)> {
        match &self.data {
            Data::Inline(_) => None,
            Data::External { file, offset, length } => Some((file, *offset, *length)),
        }
    }

    /// The initializer's bytes: inline ones without a copy (they share the graph file's buffer),
    /// external ones read from their file.
    pub fn read(&self) -> Result<Bytes> {
        match &self.data {
            Data::Inline(bytes) => Ok(bytes.clone()),
            Data::External { file, offset, length } => {
                let mut f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
                let mut buf = vec![0u8; *length];
                f.seek(SeekFrom::Start(*offset))
                    .and_then(|_| f.read_exact(&mut buf))
                    .map_err(|e| Error::io(file, e))?;
                Ok(buf.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> StringEntry {
        StringEntry {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Writes `graph.onnx` with an inline f32 initializer and an external i8 one in `weights.bin`
    /// (at offset 3, after bytes of another tensor), as onnx's external-data writer lays them out.
    fn write_graph(dir: &Path, location: &str) -> PathBuf {
        let inline = TensorProto {
            dims: vec![2],
            data_type: 1,
            name: "inline".into(),
            raw_data: [1.5f32, -2.0]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
            ..TensorProto::default()
        };
        let external = TensorProto {
            dims: vec![2, 2],
            data_type: 3,
            name: "external".into(),
            external_data: vec![entry("location", location), entry("offset", "3"), entry("length", "4")],
            data_location: 1,
            ..TensorProto::default()
        };
        let model = ModelProto {
            graph: Some(GraphProto {
                initializer: vec![inline, external],
            }),
        };
        std::fs::write(dir.join("weights.bin"), [9, 9, 9, 1, 2, 0xfe, 0xff]).unwrap();
        let path = dir.join("graph.onnx");
        std::fs::write(&path, prost::Message::encode_to_vec(&model)).unwrap();
        path
    }

    #[test]
    fn reads_inline_and_external_initializers_and_names_the_data_file() {
        let dir = tempfile::tempdir().unwrap();
        let graph = OnnxFile::open(&write_graph(dir.path(), "weights.bin")).unwrap();
        let [inline, external] = &graph.initializers[..] else {
            panic!("two initializers expected")
        };
        assert_eq!((inline.element, inline.bytes()), (Some(ElementType::F32), 8));
        assert_eq!(
            inline.read().unwrap(),
            [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()
        );
        assert_eq!(
            (external.element, &external.dims[..]),
            (Some(ElementType::I8), &[2, 2][..])
        );
        assert_eq!(&external.read().unwrap()[..], [1, 2, 0xfe, 0xff]);
        assert_eq!(
            graph.files(),
            [dir.path().join("graph.onnx"), dir.path().join("weights.bin")]
        );
    }

    #[test]
    fn data_outside_the_model_folder_and_corrupt_graphs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = OnnxFile::open(&write_graph(dir.path(), "../weights.bin"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("no usable external data location"), "{err}");
        let bad = dir.path().join("bad.onnx");
        std::fs::write(&bad, b"this is not an onnx graph").unwrap();
        let err = OnnxFile::open(&bad).err().unwrap().to_string();
        assert!(err.contains("bad.onnx") && err.contains("corrupt"), "{err}");
    }
}
