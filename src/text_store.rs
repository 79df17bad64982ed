//! The on-disk text store: a run's corpus ids and texts live in an unnamed temporary file (gone when
//! the run ends, even if it is killed) and are fetched by row, so memory holds 8 bytes of offset per
//! passage instead of the passage. Reads are positioned (`pread`), so any number of threads fetch at
//! once without sharing a file cursor.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Bytes read at once by a sequential pass.
const READ_BLOCK: u64 = 1 << 20;

/// Appends (id, text) entries; [`TextStoreWriter::finish`] turns it into a readable store.
pub struct TextStoreWriter {
    out: BufWriter<File>,
    offsets: Vec<u64>,
    dir: PathBuf,
}

impl TextStoreWriter {
    /// A new store in `dir` (the system temporary folder, `$TMPDIR`, when `None`).
    pub fn create(dir: Option<&Path>) -> Result<Self> {
        let dir = dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let file = tempfile::tempfile_in(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(TextStoreWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            offsets: vec![0],
            dir,
        })
    }

    /// Appends one entry; returns its row.
    pub fn push(&mut self, id: &str, text: &str) -> Result<u32> {
        let id_len = u32::try_from(id.len()).map_err(|_| Error::Config(format!("id of {} bytes", id.len())))?;
        let write = |out: &mut BufWriter<File>| -> std::io::Result<()> {
            out.write_all(&id_len.to_le_bytes())?;
            out.write_all(id.as_bytes())?;
            out.write_all(text.as_bytes())
        };
        write(&mut self.out).map_err(|e| Error::io(&self.dir, e))?;
        let end = self.offsets.last().copied().unwrap_or(0) + 4 + id.len() as u64 + text.len() as u64;
        self.offsets.push(end);
        u32::try_from(self.offsets.len() - 2).map_err(|_| Error::Config("more than 4 billion passages".into()))
    }

    /// Flushes and opens the store for reading.
    pub fn finish(self) -> Result<TextStore> {
        let dir = self.dir;
        let file = self.out.into_inner().map_err(|e| Error::io(&dir, e.into_error()))?;
        Ok(TextStore {
            file,
            offsets: self.offsets,
            dir,
        })
    }
}

/// A finished store: entries fetched by row.
pub struct TextStore {
    file: File,
    offsets: Vec<u64>,
    dir: PathBuf,
}

impl std::fmt::Debug for TextStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextStore({} entries in {})", self.len(), self.dir.display())
    }
}

impl TextStore {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self, start: u64, end: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| Error::io(&self.dir, e))?;
        Ok(buf)
    }

    fn span(&self, row: u32) -> Result<(u64, u64)> {
        let r = row as usize;
        match (self.offsets.get(r), self.offsets.get(r + 1)) {
            (Some(&a), Some(&b)) => Ok((a, b)),
            _ => Err(Error::Index(format!("row {row} is not in the text store"))),
        }
    }

    /// The (id, text) of `row`.
    pub fn entry(&self, row: u32) -> Result<(String, String)> {
        let (start, end) = self.span(row)?;
        split_entry(&self.read(start, end)?, &self.dir)
    }

    /// The text of `row`.
    pub fn text(&self, row: u32) -> Result<String> {
        self.entry(row).map(|(_, text)| text)
    }

    /// The id of `row`.
    pub fn id(&self, row: u32) -> Result<String> {
        self.entry(row).map(|(id, _)| id)
    }

    /// Every entry in row order, read in large blocks.
    pub fn iter(&self) -> Entries<'_> {
        Entries {
            store: self,
            next: 0,
            block: Vec::new(),
            block_start: 0,
        }
    }
}

/// Splits one stored entry into (id, text).
fn split_entry(bytes: &[u8], dir: &Path) -> Result<(String, String)> {
    let corrupt = || {
        Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt text store"),
        )
    };
    let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let id_len = u32::from_le_bytes(*len) as usize;
    if id_len > rest.len() {
        return Err(corrupt());
    }
    let (id, text) = rest.split_at(id_len);
    let s = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| corrupt());
    Ok((s(id)?, s(text)?))
}

/// A sequential pass over a [`TextStore`]: yields `(row, id, text)`.
pub struct Entries<'a> {
    store: &'a TextStore,
    next: usize,
    block: Vec<u8>,
    block_start: u64,
}

impl Iterator for Entries<'_> {
    type Item = Result<(u32, String, String)>;

    fn next(&mut self) -> Option<Self::Item> {
        let offsets = &self.store.offsets;
        if self.next + 1 >= offsets.len() {
            return None;
        }
        let (start, end) = (offsets[self.next], offsets[self.next + 1]);
        let block_end = self.block_start + self.block.len() as u64;
        if start < self.block_start || end > block_end {
            // Load whole entries up to about READ_BLOCK bytes (at least this one).
            let last = offsets.partition_point(|&o| o <= start + READ_BLOCK).max(self.next + 2);
            let stop = offsets[last.min(offsets.len()) - 1];
            match self.store.read(start, stop) {
                Ok(b) => {
                    self.block = b;
                    self.block_start = start;
                }
                Err(e) => {
                    self.next = offsets.len();
                    return Some(Err(e));
                }
            }
        }
        let local = (start - self.block_start) as usize..(end - self.block_start) as usize;
        let row = self.next as u32;
        self.next += 1;
        Some(split_entry(&self.block[local], &self.store.dir).map(|(id, text)| (row, id, text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(entries: &[(&str, &str)]) -> TextStore {
        let mut w = TextStoreWriter::create(None).unwrap();
        for (i, (id, text)) in entries.iter().enumerate() {
            assert_eq!(w.push(id, text).unwrap(), i as u32);
        }
        w.finish().unwrap()
    }

    #[test]
    fn entries_come_back_by_row_and_in_order() {
        let entries = [("a", "first text"), ("", ""), ("ünï", "çödé ✓"), ("d", "last")];
        let s = store(&entries);
        assert_eq!(s.len(), 4);
        assert_eq!(s.entry(2).unwrap(), ("ünï".to_string(), "çödé ✓".to_string()));
        assert_eq!(s.text(3).unwrap(), "last");
        assert_eq!(s.id(1).unwrap(), "");
        let all: Vec<(u32, String, String)> = s.iter().map(Result::unwrap).collect();
        assert_eq!(all.len(), 4);
        for (row, id, text) in all {
            assert_eq!((id.as_str(), text.as_str()), entries[row as usize]);
        }
        assert!(s.text(4).is_err());
    }

    #[test]
    fn a_sequential_pass_crosses_read_blocks() {
        // Entries larger than a block and many small ones: every block boundary case.
        let big = "x".repeat(READ_BLOCK as usize + 17);
        let texts: Vec<String> = (0..3000)
            .map(|i| {
                if i % 1000 == 7 {
                    big.clone()
                } else {
                    format!("text {i} ").repeat(i % 50 + 1)
                }
            })
            .collect();
        let ids: Vec<String> = (0..texts.len()).map(|i| format!("d{i}")).collect();
        let pairs: Vec<(&str, &str)> = ids
            .iter()
            .map(String::as_str)
            .zip(texts.iter().map(String::as_str))
            .collect();
        let s = store(&pairs);
        let mut n = 0;
        for item in s.iter() {
            let (row, id, text) = item.unwrap();
            assert_eq!((id.as_str(), text.as_str()), pairs[row as usize]);
            n += 1;
        }
        assert_eq!(n, pairs.len());
    }
}
