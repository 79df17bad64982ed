//! The library's error type: every variant names what the user must look at (file, line, field).

use std::path::PathBuf;

/// Errors raised by hardneg's stages. Messages are one sentence that says what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A record in an input file is malformed; `line` is 1-based (a row number for Parquet).
    #[error("{}:{line}: {message}", path.display())]
    BadRecord {
        /// The input file.
        path: PathBuf,
        /// 1-based line (JSONL/TSV) or row (Parquet) number.
        line: usize,
        /// What is wrong, naming the field.
        message: String,
    },
    /// An input file as a whole is unusable (missing, empty, wrong columns).
    #[error("{}: {message}", path.display())]
    BadInput {
        /// The input file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model folder or the ONNX Runtime library cannot be used.
    #[error("{0}")]
    Model(String),
    /// Settings that contradict each other or the data.
    #[error("{0}")]
    Config(String),
    /// An I/O failure on a named path.
    #[error("{}: {err}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error (part of the message, so not repeated as a cause).
        err: std::io::Error,
    },
    /// Writing or reading Parquet/Arrow data failed.
    #[error("{}: {message}", path.display())]
    Parquet {
        /// The Parquet file.
        path: PathBuf,
        /// The underlying message.
        message: String,
    },
    /// The vector index failed.
    #[error("index: {0}")]
    Index(String),
    /// Drawing or rendering the HTML report failed.
    #[error("report: {0}")]
    Report(String),
}

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }

    /// A part file that cannot be opened: a missing one is named as such.
    pub fn part(path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::input(path, "part is missing")
        } else {
            Error::io(path, source)
        }
    }

    /// A record-level error at `path:line`.
    pub fn record(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Error::BadRecord {
            path: path.into(),
            line,
            message: message.into(),
        }
    }

    /// A file-level input error.
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::BadInput {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Whether `--on-bad-record skip` may turn this error into a counted skip.
    pub fn is_record_level(&self) -> bool {
        matches!(self, Error::BadRecord { .. })
    }
}
