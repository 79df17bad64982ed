//! Writing training sets: Parquet (zstd) or JSONL with a Parquet provenance sidecar, always to
//! temporary names renamed into place only when the whole run succeeded.

pub mod formats;
pub mod read;
pub mod rows;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{Error, Result};
pub use formats::Format;
pub use rows::{Edit, Negative, TrainingRow};

/// A file being written under a temporary name next to its final path.
pub struct PendingFile {
    tmp: PathBuf,
    dest: PathBuf,
}

impl PendingFile {
    /// Reserves `<dest>.tmp-<pid>` in the destination's folder (created if missing).
    pub fn new(dest: &Path) -> Result<Self> {
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Config(format!(
                    "cannot write the output {}: cannot create its folder ({e})",
                    dest.display()
                ))
            })?;
        }
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Config(format!("{} is not a file path", dest.display())))?;
        let tmp = dest.with_file_name(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
        Ok(PendingFile {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Creates the temporary file.
    pub fn create(&self) -> Result<File> {
        File::create(&self.tmp).map_err(|e| Error::io(&self.tmp, e))
    }

    /// The temporary path, for writers that take a path rather than a file.
    pub fn tmp_path(&self) -> &Path {
        &self.tmp
    }

    /// Renames the finished file into place.
    pub fn commit(self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // After a commit the temporary name is gone; otherwise remove the partial file.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Writes a small file atomically (temporary name, then rename).
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> Result<()> {
    let pending = PendingFile::new(dest)?;
    let mut f = pending.create()?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(&pending.tmp, e))?;
    pending.commit()
}

/// Checks before any expensive work that `dest`'s folder exists or can be made and is writable
/// (for a folder output, the folder itself).
pub fn check_writable(dest: &Path) -> Result<()> {
    let probe = if is_folder(dest) {
        dest.join("part-00000.parquet")
    } else {
        dest.to_path_buf()
    };
    let pending = PendingFile::new(&probe)?;
    pending.create().map(drop).map_err(|_| {
        Error::Config(format!(
            "cannot write the output {}: its folder is not writable",
            dest.display()
        ))
    })
}

/// Whether `dest` names a folder of Parquet part files: `--out DIR/`, or an existing folder.
pub fn is_folder(dest: &Path) -> bool {
    dest.as_os_str().as_encoded_bytes().ends_with(b"/") || dest.is_dir()
}

/// Rows after which a folder output starts a new part file (at the next chunk of queries).
pub const ROWS_PER_PART: usize = 500_000;

/// The part files of a folder output being written.
struct Folder {
    dir: PathBuf,
    schema: arrow::datatypes::SchemaRef,
    written: Vec<PendingFile>,
    rows_in_part: usize,
}

impl Folder {
    /// Opens the next part, `part-<n>.parquet`.
    fn next_part(&mut self) -> Result<(ArrowWriter<File>, PendingFile)> {
        let dest = self.dir.join(format!("part-{:05}.parquet", self.written.len()));
        let pending = PendingFile::new(&dest)?;
        let writer = parquet_writer(pending.create()?, self.schema.clone(), &dest)?;
        self.rows_in_part = 0;
        Ok((writer, pending))
    }
}

/// A Parquet writer with the project's settings: zstd level 3, row groups of 8,192 rows (so a
/// writer never buffers more than one row group).
pub(crate) fn parquet_writer(
    file: File,
    schema: arrow::datatypes::SchemaRef,
    path: &Path,
) -> Result<ArrowWriter<File>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid level")))
        .set_max_row_group_row_count(Some(8192))
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| Error::Parquet {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Writes rows of one format, batch by batch, then commits every file at once.
pub struct TrainingSetWriter {
    format: Format,
    n: usize,
    provenance: bool,
    parquet: Option<(ArrowWriter<File>, PendingFile)>,
    jsonl: Option<(BufWriter<File>, PendingFile)>,
    folder: Option<Folder>,
    /// Rows written so far.
    pub rows_written: usize,
}

impl TrainingSetWriter {
    /// Opens the temporary files for `dest` (and `<dest>.provenance.parquet` for JSONL formats);
    /// a folder `dest` gets Parquet part files of about [`ROWS_PER_PART`] rows.
    pub fn create(dest: &Path, format: Format, n: usize, provenance: bool) -> Result<Self> {
        let schema = formats::schema(format, n, provenance);
        let mut folder = None;
        let (parquet, jsonl) = if is_folder(dest) {
            if format.is_jsonl() {
                return Err(Error::Config(format!(
                    "--out {} is a folder: folders of part files are written in Parquet formats; give a .jsonl file for {format:?}",
                    dest.display()
                )));
            }
            let mut parts = Folder {
                dir: dest.to_path_buf(),
                schema,
                written: Vec::new(),
                rows_in_part: 0,
            };
            let first = parts.next_part()?;
            folder = Some(parts);
            (Some(first), None)
        } else if format.is_jsonl() {
            let side = PendingFile::new(&sidecar_path(dest))?;
            let w = parquet_writer(side.create()?, schema, side.dest())?;
            let main = PendingFile::new(dest)?;
            (
                if provenance { Some((w, side)) } else { None },
                Some((BufWriter::new(main.create()?), main)),
            )
        } else {
            let main = PendingFile::new(dest)?;
            (Some((parquet_writer(main.create()?, schema, dest)?, main)), None)
        };
        Ok(TrainingSetWriter {
            format,
            n,
            provenance,
            parquet,
            jsonl,
            folder,
            rows_written: 0,
        })
    }

    /// Appends rows.
    pub fn write(&mut self, rows: &[TrainingRow]) -> Result<()> {
        if let Some((w, pending)) = &mut self.jsonl {
            for row in rows {
                let line = formats::json_line(self.format, row);
                serde_json::to_writer(&mut *w, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|_| w.write_all(b"\n"))
                    .map_err(|e| Error::io(pending.dest(), e))?;
            }
        }
        if let Some(folder) = &mut self.folder
            && folder.rows_in_part >= ROWS_PER_PART
        {
            let next = folder.next_part()?;
            if let Some((w, pending)) = self.parquet.replace(next) {
                w.close().map_err(|e| Error::Parquet {
                    path: pending.dest().into(),
                    message: e.to_string(),
                })?;
                folder.written.push(pending);
            }
        }
        if let Some(folder) = &mut self.folder {
            folder.rows_in_part += rows.len();
        }
        if let Some((w, pending)) = &mut self.parquet {
            let batch = formats::record_batch(self.format, rows, self.n, self.provenance);
            w.write(&batch).map_err(|e| Error::Parquet {
                path: pending.dest().into(),
                message: e.to_string(),
            })?;
        }
        self.rows_written += rows.len();
        Ok(())
    }

    /// Closes the files and renames them into place; in a folder, part files of an earlier run
    /// beyond the ones written now are removed, so the folder holds this run's parts alone.
    pub fn finish(self) -> Result<Vec<PathBuf>> {
        let mut done = Vec::new();
        let mut commits = Vec::new();
        let mut folder = self.folder;
        if let Some((w, pending)) = self.parquet {
            w.close().map_err(|e| Error::Parquet {
                path: pending.dest().into(),
                message: e.to_string(),
            })?;
            match &mut folder {
                Some(f) => f.written.push(pending),
                None => commits.push(pending),
            }
        }
        if let Some((mut w, pending)) = self.jsonl {
            w.flush().map_err(|e| Error::io(pending.dest(), e))?;
            commits.push(pending);
        }
        if let Some(f) = &mut folder {
            commits.append(&mut f.written);
        }
        for pending in commits {
            done.push(pending.dest().to_path_buf());
            pending.commit()?;
        }
        if let Some(f) = &folder {
            remove_stale_parts(&f.dir, &done)?;
        }
        Ok(done)
    }
}

/// Removes `part-*.parquet` files in `dir` that are not in `kept`.
fn remove_stale_parts(dir: &Path, kept: &[PathBuf]) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("part-") && name.ends_with(".parquet") && !kept.contains(&path) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// `<out>.provenance.parquet`, the sidecar of a JSONL format.
pub fn sidecar_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".provenance.parquet");
    PathBuf::from(s)
}

/// The Parquet file holding a training set's provenance: the file itself, or for a JSONL output
/// its `<out>.provenance.parquet` sidecar.
pub fn provenance_parquet(path: &Path) -> Result<PathBuf> {
    if matches!(crate::input::file_kind(path), Ok(crate::input::FileKind::Parquet)) {
        return Ok(path.to_path_buf());
    }
    let side = sidecar_path(path);
    if side.is_file() {
        Ok(side)
    } else {
        Err(Error::input(
            path,
            "not a Parquet file and no .provenance.parquet sidecar beside it",
        ))
    }
}

/// `<out>.manifest.json`; for a folder `DIR/`, `DIR.manifest.json` beside it, so the folder
/// holds Parquet parts only (what `load_dataset("parquet", data_dir=...)` reads).
pub fn manifest_path(dest: &Path) -> PathBuf {
    // `components` drops a trailing slash: `out/train/` becomes `out/train`.
    let mut s = dest.components().as_path().as_os_str().to_owned();
    s.push(".manifest.json");
    PathBuf::from(s)
}
