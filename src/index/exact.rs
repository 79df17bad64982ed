//! Exact (brute-force) search: every query scored against every stored vector by matrix
//! multiplication, a block of corpus rows at a time, keeping each query's best `k`.
//!
//! Scoring all passages against a batch of queries is one dense matrix product, which runs near
//! the CPU's multiply-add peak; for jobs with few queries it costs far less than building an HNSW
//! graph over the same corpus (BENCHMARKS.md, "Exact search or HNSW").
//!
//! Vectors are stored in the index's dtype (f32, f16 or i8, as for HNSW) and widened to f32 a
//! block at a time for the product, so the index takes half or a quarter of the f32 memory.

use std::ops::Range;

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use super::{Hit, IndexDtype, NeighborIndex, rank_order, sort_hits};
use crate::error::{Error, Result};

/// Corpus rows scored per matrix product (1,024 × 384 f32 is 1.5 MiB: about one core's L2).
const BLOCK_ROWS: usize = 1024;
/// Queries multiplied against a block at once (bounds the score buffer to 1 MiB a thread).
const QUERY_GROUP: usize = 256;
/// The first bytes of a saved exact index.
const SAVED_MAGIC: &[u8; 8] = b"HNGEXACT";

/// Exact search by dot products over all vectors (they are unit length).
pub struct ExactIndex {
    dim: usize,
    stored: Stored,
    added: usize,
}

/// The stored vectors, `dim` values a row, in the index's dtype.
enum Stored {
    F32(Vec<f32>),
    F16(Vec<f16>),
    /// Each value × 127, rounded; a row is scaled back to unit length when read, so its scores
    /// are cosines between the query (not rounded) and the rounded vector.
    I8(Vec<i8>),
}

impl Stored {
    fn zeros(dtype: IndexDtype, len: usize) -> Self {
        match dtype {
            IndexDtype::F32 => Stored::F32(vec![0.0; len]),
            IndexDtype::F16 => Stored::F16(vec![f16::ZERO; len]),
            IndexDtype::I8 => Stored::I8(vec![0; len]),
        }
    }

    /// Number of values held.
    fn len(&self) -> usize {
        match self {
            Stored::F32(v) => v.len(),
            Stored::F16(v) => v.len(),
            Stored::I8(v) => v.len(),
        }
    }

    fn dtype(&self) -> IndexDtype {
        match self {
            Stored::F32(_) => IndexDtype::F32,
            Stored::F16(_) => IndexDtype::F16,
            Stored::I8(_) => IndexDtype::I8,
        }
    }

    /// Stores `v` at `range` (values); false when the range is beyond the end.
    fn write(&mut self, range: Range<usize>, v: &[f32]) -> bool {
        match self {
            Stored::F32(s) => s.get_mut(range).map(|d| d.copy_from_slice(v)),
            Stored::F16(s) => s.get_mut(range).map(|d| d.convert_from_f32_slice(v)),
            Stored::I8(s) => s.get_mut(range).map(|d| {
                for (q, &x) in d.iter_mut().zip(v) {
                    *q = (x * 127.0).round().clamp(-127.0, 127.0) as i8;
                }
            }),
        }
        .is_some()
    }

    /// The whole rows in `range` (values) as f32: borrowed when stored as f32, otherwise widened
    /// into `scratch`. `None` when the range is beyond the end.
    fn read<'a>(&'a self, range: Range<usize>, dim: usize, scratch: &'a mut Vec<f32>) -> Option<&'a [f32]> {
        let len = range.len();
        match self {
            Stored::F32(s) => return s.get(range),
            Stored::F16(s) => {
                let src = s.get(range)?;
                scratch.resize(len, 0.0);
                src.convert_to_f32_slice(scratch);
            }
            Stored::I8(s) => {
                let src = s.get(range)?;
                scratch.resize(len, 0.0);
                for (row, out) in src.chunks(dim).zip(scratch.chunks_mut(dim)) {
                    let norm = row.iter().map(|&q| f32::from(q) * f32::from(q)).sum::<f32>().sqrt();
                    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
                    for (o, &q) in out.iter_mut().zip(row) {
                        *o = f32::from(q) * scale;
                    }
                }
            }
        }
        Some(&scratch[..len])
    }
}

impl ExactIndex {
    /// An index of `capacity` rows of `dim`-dimensional vectors stored as `dtype`.
    pub fn new(dim: usize, capacity: usize, dtype: IndexDtype) -> Self {
        ExactIndex {
            dim,
            stored: Stored::zeros(dtype, dim * capacity),
            added: 0,
        }
    }

    fn rows(&self) -> usize {
        self.stored.len() / self.dim.max(1)
    }

    /// Saves the stored vectors to `dest` (under a temporary name, renamed when complete):
    /// [`SAVED_MAGIC`], dimensions (u32), rows (u64), dtype (u8: 0 f32, 1 f16, 2 i8), then every
    /// value little-endian, row by row.
    fn write_to(&self, dest: &std::path::Path) -> Result<()> {
        use std::io::Write;
        let pending = crate::output::PendingFile::new(dest)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, pending.create()?);
        let dtype: u8 = match self.stored.dtype() {
            IndexDtype::F32 => 0,
            IndexDtype::F16 => 1,
            IndexDtype::I8 => 2,
        };
        let mut header = SAVED_MAGIC.to_vec();
        header.extend_from_slice(&(self.dim as u32).to_le_bytes());
        header.extend_from_slice(&(self.rows() as u64).to_le_bytes());
        header.push(dtype);
        let written = out.write_all(&header).and_then(|_| match &self.stored {
            Stored::F32(v) => v.iter().try_for_each(|x| out.write_all(&x.to_le_bytes())),
            Stored::F16(v) => v.iter().try_for_each(|x| out.write_all(&x.to_bits().to_le_bytes())),
            Stored::I8(v) => v.iter().try_for_each(|x| out.write_all(&x.to_le_bytes())),
        });
        written
            .and_then(|_| out.flush())
            .map_err(|e| Error::io(pending.tmp_path(), e))?;
        pending.commit()
    }

    /// Loads an index saved by [`NeighborIndex::save`]; every row counts as added.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        use std::io::Read;
        let bad = |why: &str| Error::Index(format!("{} is not a saved exact index: {why}", path.display()));
        let file = std::fs::File::open(path).map_err(|e| Error::part(path, e))?;
        let mut input = std::io::BufReader::with_capacity(1 << 20, file);
        let mut header = [0u8; SAVED_MAGIC.len() + 13];
        input.read_exact(&mut header).map_err(|_| bad("too short"))?;
        if &header[..SAVED_MAGIC.len()] != SAVED_MAGIC {
            return Err(bad("wrong magic"));
        }
        let fields = &header[SAVED_MAGIC.len()..];
        let dim = u32::from_le_bytes(fields[..4].try_into().expect("4 bytes")) as usize;
        let rows = u64::from_le_bytes(fields[4..12].try_into().expect("8 bytes")) as usize;
        let dtype = match fields[12] {
            0 => IndexDtype::F32,
            1 => IndexDtype::F16,
            2 => IndexDtype::I8,
            _ => return Err(bad("unknown dtype")),
        };
        let len = dim.checked_mul(rows).ok_or_else(|| bad("impossible size"))?;
        let mut bytes = vec![0u8; len * dtype.bytes()];
        input.read_exact(&mut bytes).map_err(|_| bad("truncated"))?;
        let stored = match dtype {
            IndexDtype::F32 => Stored::F32(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                    .collect(),
            ),
            IndexDtype::F16 => Stored::F16(
                bytes
                    .chunks_exact(2)
                    .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
            ),
            IndexDtype::I8 => Stored::I8(bytes.into_iter().map(|b| b as i8).collect()),
        };
        Ok(ExactIndex {
            dim,
            stored,
            added: rows,
        })
    }

    /// Each query's best `k` among `rows`, scanned block by block; each block is multiplied by
    /// every query, a group at a time, while it is in cache.
    fn scan(&self, queries: &[f32], k: usize, rows: Range<usize>) -> Vec<TopK> {
        let dim = self.dim;
        let mut tops: Vec<TopK> = (0..queries.len() / dim).map(|_| TopK::new(k)).collect();
        let (mut scores, mut widened) = (Vec::new(), Vec::new());
        for start in rows.clone().step_by(BLOCK_ROWS) {
            let block = start..(start + BLOCK_ROWS).min(rows.end);
            let vectors = self
                .stored
                .read(block.start * dim..block.end * dim, dim, &mut widened)
                .expect("scanned rows lie within the index");
            for (group, tops) in queries.chunks(QUERY_GROUP * dim).zip(tops.chunks_mut(QUERY_GROUP)) {
                scores_into(group, vectors, dim, &mut scores);
                for (top, row_scores) in tops.iter_mut().zip(scores.chunks(block.len())) {
                    for (row, &score) in block.clone().zip(row_scores) {
                        top.push(Hit { row: row as u32, score });
                    }
                }
            }
        }
        tops
    }
}

/// `scores` = `queries` × `vectors`ᵀ (both row-major with `dim` columns): one row of scores per
/// query, one column per vector.
fn scores_into(queries: &[f32], vectors: &[f32], dim: usize, scores: &mut Vec<f32>) {
    let (m, n) = (queries.len() / dim, vectors.len() / dim);
    assert!(queries.len() == m * dim && vectors.len() == n * dim, "ragged matrices");
    scores.clear();
    scores.resize(m * n, 0.0);
    // SAFETY: A is m×dim row-major (strides dim, 1) and B = vectorsᵀ is dim×n (strides 1, dim),
    // both within their slices as asserted above; C is m×n row-major in `scores`, resized to m·n.
    unsafe {
        matrixmultiply::sgemm(
            m,
            dim,
            n,
            1.0,
            queries.as_ptr(),
            dim as isize,
            1,
            vectors.as_ptr(),
            1,
            dim as isize,
            0.0,
            scores.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Whether `a` ranks before `b` (see [`rank_order`]).
fn ranks_before(a: &Hit, b: &Hit) -> bool {
    rank_order(a, b).is_lt()
}

/// The best `k` hits seen so far. Hits are buffered up to 2k and cut back to k, so the cost per
/// hit is a comparison with the k-th best once the buffer has filled.
struct TopK {
    k: usize,
    hits: Vec<Hit>,
    /// The k-th best after the last cut; a hit not ranking before it cannot enter.
    worst: Option<Hit>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            hits: Vec::new(),
            worst: None,
        }
    }

    fn push(&mut self, hit: Hit) {
        if self.k == 0 || self.worst.is_some_and(|w| !ranks_before(&hit, &w)) {
            return;
        }
        self.hits.push(hit);
        if self.hits.len() >= 2 * self.k {
            self.cut();
        }
    }

    /// Keeps the best k (unordered) and remembers the k-th.
    fn cut(&mut self) {
        if self.hits.len() > self.k {
            self.hits.select_nth_unstable_by(self.k - 1, rank_order);
            self.hits.truncate(self.k);
            self.worst = Some(self.hits[self.k - 1]);
        }
    }

    /// The best k, best first.
    fn into_sorted(mut self) -> Vec<Hit> {
        self.cut();
        sort_hits(&mut self.hits);
        self.hits
    }

    /// Takes in another scan's hits (of different rows).
    fn absorb(&mut self, other: TopK) {
        for hit in other.hits {
            self.push(hit);
        }
    }
}

impl NeighborIndex for ExactIndex {
    fn add(&mut self, rows: &[u32], vectors: &[f32]) -> Result<()> {
        for (&row, v) in rows.iter().zip(vectors.chunks(self.dim)) {
            let start = row as usize * self.dim;
            if !self.stored.write(start..start + self.dim, v) {
                return Err(Error::Index(format!("row {row} is beyond the index's capacity")));
            }
        }
        self.added += rows.len();
        Ok(())
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.added
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        Ok(self.search_batch(query, k)?.pop().unwrap_or_default())
    }

    /// The queries are split into one share per thread (at least 256 queries each) and, when
    /// there are fewer shares than threads, the rows into contiguous parts; each (share, part) is
    /// one task scanning its rows once, and the parts' best are merged per query. Buffered hits
    /// stay within about 2·k per query and part, parts within the thread count. A score does not
    /// depend on the split (the product's sums run over the dimensions in the same order for every
    /// block), so neither do the hits.
    fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(Error::Index(format!(
                "query matrix of {} values is not a whole number of {}-dimensional vectors",
                queries.len(),
                self.dim
            )));
        }
        let rows = self.rows();
        let k = k.min(rows);
        let threads = rayon::current_num_threads();
        let share = (queries.len() / self.dim).div_ceil(threads).max(QUERY_GROUP);
        let groups: Vec<&[f32]> = queries.chunks(share * self.dim).collect();
        let parts = threads.div_ceil(groups.len().max(1));
        let part = rows.div_ceil(parts).max(BLOCK_ROWS);
        let tasks: Vec<(usize, usize)> = (0..groups.len())
            .flat_map(|g| (0..rows).step_by(part).map(move |start| (g, start)))
            .collect();
        let scanned: Vec<(usize, Vec<TopK>)> = tasks
            .into_par_iter()
            .map(|(g, start)| (g, self.scan(groups[g], k, start..(start + part).min(rows))))
            .collect();
        let mut merged: Vec<Vec<TopK>> = groups
            .iter()
            .map(|g| (0..g.len() / self.dim).map(|_| TopK::new(k)).collect())
            .collect();
        for (g, tops) in scanned {
            for (into, top) in merged[g].iter_mut().zip(tops) {
                into.absorb(top);
            }
        }
        Ok(merged.into_iter().flatten().map(TopK::into_sorted).collect())
    }

    fn vector(&self, row: u32) -> Result<Vec<f32>> {
        let start = row as usize * self.dim;
        let mut widened = Vec::new();
        self.stored
            .read(start..start + self.dim, self.dim, &mut widened)
            .map(<[f32]>::to_vec)
            .ok_or_else(|| Error::Index(format!("row {row} is not in the index")))
    }

    fn memory_bytes(&self) -> usize {
        self.stored.len() * self.stored.dtype().bytes()
    }

    fn kind(&self) -> &'static str {
        "exact"
    }

    fn save(&self, dest: &std::path::Path) -> Result<()> {
        self.write_to(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::dot;
    use crate::index::tests::random_vectors;

    #[test]
    fn exact_index_returns_best_first_with_ties_by_row() {
        let mut idx = ExactIndex::new(2, 3, IndexDtype::F32);
        idx.add(&[2, 0, 1], &[1.0, 0.0, 1.0, 0.0, 0.0, 1.0]).unwrap();
        let hits = idx.search(&[1.0, 0.0], 3).unwrap();
        assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), vec![0, 2, 1]);
        assert_eq!(idx.vector(1).unwrap(), vec![0.0, 1.0]);
    }

    /// Brute force by sorting every dot product: the reference the blocked scan must match.
    fn sorted_dots(data: &[f32], q: &[f32], dim: usize, k: usize) -> Vec<Hit> {
        let mut all: Vec<Hit> = data
            .chunks(dim)
            .enumerate()
            .map(|(row, v)| Hit {
                row: row as u32,
                score: dot(q, v),
            })
            .collect();
        sort_hits(&mut all);
        all.truncate(k);
        all
    }

    #[test]
    fn blocked_search_finds_the_same_rows_as_sorting_every_dot_product() {
        // More rows than one block and one part, more queries than one group.
        let (n, dim, nq, k) = (2 * BLOCK_ROWS + 37, 24, QUERY_GROUP + 5, 30);
        let data = random_vectors(n, dim, 11);
        let queries = random_vectors(nq, dim, 12);
        let mut idx = ExactIndex::new(dim, n, IndexDtype::F32);
        idx.add(&(0..n as u32).collect::<Vec<_>>(), &data).unwrap();
        let batch = idx.search_batch(&queries, k).unwrap();
        assert_eq!(batch.len(), nq);
        for (q, hits) in queries.chunks(dim).zip(&batch) {
            let truth = sorted_dots(&data, q, dim, k);
            assert_eq!(
                hits.iter().map(|h| h.row).collect::<Vec<_>>(),
                truth.iter().map(|h| h.row).collect::<Vec<_>>()
            );
            for (h, t) in hits.iter().zip(&truth) {
                assert!((h.score - t.score).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn a_query_gets_the_same_hits_alone_as_in_any_batch() {
        let (n, dim) = (3 * BLOCK_ROWS + 5, 16);
        // Duplicated vectors make exact ties, which must break by row whatever the split.
        let mut data = random_vectors(n / 2, dim, 21);
        data.extend_from_within(..);
        data.extend(random_vectors(n - data.len() / dim, dim, 22));
        let mut idx = ExactIndex::new(dim, n, IndexDtype::F32);
        idx.add(&(0..n as u32).collect::<Vec<_>>(), &data).unwrap();
        let queries = random_vectors(9, dim, 23);
        let batch = idx.search_batch(&queries, 50).unwrap();
        for (i, q) in queries.chunks(dim).enumerate() {
            assert_eq!(idx.search(q, 50).unwrap(), batch[i]);
            assert_eq!(idx.search_batch(&queries[i * dim..], 50).unwrap()[0], batch[i]);
        }
        let tied = &batch[0];
        assert!(tied.windows(2).all(|w| ranks_before(&w[0], &w[1])));
    }

    #[test]
    fn f16_and_i8_storage_score_the_rounded_vectors_in_less_memory() {
        // More rows than one block, so every block is widened in turn.
        let (n, dim, k) = (2 * BLOCK_ROWS + 11, 48, 20);
        let data = random_vectors(n, dim, 41);
        let queries = random_vectors(40, dim, 42);
        let all: Vec<u32> = (0..n as u32).collect();
        let mut f32_index = ExactIndex::new(dim, n, IndexDtype::F32);
        f32_index.add(&all, &data).unwrap();
        assert_eq!(f32_index.memory_bytes(), n * dim * 4);
        let f32_hits = f32_index.search_batch(&queries, k).unwrap();
        // i8 rounds each value to 1/127 of the unit vector's range: scores move by up to about
        // 0.01, which reorders near-equal random neighbours; f16 rounds to 1/2048 of each value.
        for (dtype, tolerance, floor) in [(IndexDtype::F16, 1e-3, 0.97), (IndexDtype::I8, 3e-2, 0.8)] {
            let mut idx = ExactIndex::new(dim, n, dtype);
            idx.add(&all, &data).unwrap();
            assert_eq!(idx.memory_bytes(), f32_index.memory_bytes() / 4 * dtype.bytes());
            // Every hit's score is the cosine to the vector as stored, and close to the f32 one.
            let hits = idx.search_batch(&queries, k).unwrap();
            let mut shared = 0;
            for ((q, got), want) in queries.chunks(dim).zip(&hits).zip(&f32_hits) {
                for h in got {
                    let stored = idx.vector(h.row).unwrap();
                    let original = &data[h.row as usize * dim..(h.row as usize + 1) * dim];
                    assert!(
                        (h.score - dot(q, &stored)).abs() < 1e-5,
                        "{dtype:?} score is not the stored cosine"
                    );
                    assert!(
                        (h.score - dot(q, original)).abs() < tolerance,
                        "{dtype:?} score far from f32's"
                    );
                    assert!(
                        (dot(&stored, &stored) - 1.0).abs() < 2e-3,
                        "{dtype:?} stored vector not unit length"
                    );
                }
                shared += got.iter().filter(|h| want.iter().any(|w| w.row == h.row)).count();
            }
            let share = shared as f64 / (40 * k) as f64;
            assert!(share >= floor, "{dtype:?} shares {share} of f32's top {k}");
            assert!(hits.iter().all(|h| h.windows(2).all(|w| ranks_before(&w[0], &w[1]))));
        }
    }

    #[test]
    fn k_beyond_the_rows_returns_every_row_and_zero_returns_none() {
        let data = random_vectors(7, 8, 31);
        let mut idx = ExactIndex::new(8, 7, IndexDtype::F32);
        idx.add(&(0..7).collect::<Vec<_>>(), &data).unwrap();
        assert_eq!(idx.search(&data[..8], 100).unwrap().len(), 7);
        assert!(idx.search(&data[..8], 0).unwrap().is_empty());
        assert!(idx.search_batch(&data[..5], 3).is_err());
    }
}
