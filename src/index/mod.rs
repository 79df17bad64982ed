//! Nearest-neighbour search over the corpus embeddings: usearch HNSW (cosine; f32, f16 or i8
//! storage) and exact search by matrix products, which is also the oracle in tests.

mod exact;
mod partitioned;

pub use exact::ExactIndex;
pub use partitioned::PartitionedIndex;

use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::{Error, Result};

/// Storage type of the vectors inside the usearch index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexDtype {
    /// 4 bytes a dimension; scores are exact cosines.
    F32,
    /// 2 bytes a dimension (the default); scores within about 1e-4 of f32's.
    F16,
    /// 1 byte a dimension (cosine only).
    I8,
}

impl IndexDtype {
    /// Bytes one dimension of a stored vector takes.
    pub fn bytes(self) -> usize {
        match self {
            IndexDtype::F32 => 4,
            IndexDtype::F16 => 2,
            IndexDtype::I8 => 1,
        }
    }
}

/// One search hit: the corpus row and its cosine similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Corpus row (the key the vector was added under).
    pub row: u32,
    /// Cosine similarity.
    pub score: f32,
}

/// The seam for search: vectors are added under their corpus row, searched by cosine.
pub trait NeighborIndex: Send + Sync {
    /// Adds one vector per row (row-major, unit length); rows may come in any order.
    fn add(&mut self, rows: &[u32], vectors: &[f32]) -> Result<()>;
    /// Dimensions of a vector.
    fn dim(&self) -> usize;
    /// Number of vectors held.
    fn len(&self) -> usize;
    /// Whether the index holds no vector.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `k` nearest rows, best first; ties by row ascending.
    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>>;
    /// The `k` nearest rows of each query in `queries` (row-major), in query order; each the
    /// same as [`NeighborIndex::search`] would return.
    fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        queries.par_chunks(self.dim()).map(|q| self.search(q, k)).collect()
    }
    /// The stored vector of `row` (as stored: lossy for f16/i8).
    fn vector(&self, row: u32) -> Result<Vec<f32>>;
    /// Approximate bytes held.
    fn memory_bytes(&self) -> usize;
    /// What kind of search this is, as the manifest records it: `exact` or `hnsw`.
    fn kind(&self) -> &'static str;
    /// Saves the index to `dest` where the index supports it (see [`UsearchIndex::view`]).
    fn save(&self, dest: &std::path::Path) -> Result<()> {
        Err(Error::Index(format!("this index is not saved ({})", dest.display())))
    }
}

/// Sorts hits best first, ties by row, so equal scores never depend on search order.
fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(rank_order);
}

/// The order of hits: higher score first, ties by row ascending.
fn rank_order(a: &Hit, b: &Hit) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
}

/// Dot product of two equal-length slices.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// HNSW search beam (`expansion_search`) of built and memory-mapped indexes alike.
const EXPANSION_SEARCH: usize = 256;

/// usearch HNSW index with cosine metric.
pub struct UsearchIndex {
    index: Index,
    dim: usize,
    /// Thread contexts for concurrent searches, reserved by the first search (see `search`).
    searchers: std::sync::OnceLock<std::result::Result<(), String>>,
}

// SAFETY: usearch's index is safe for concurrent searches once it holds a thread context for
// each searcher (`search` reserves them first); mutation goes through `&mut self`.
unsafe impl Send for UsearchIndex {}
unsafe impl Sync for UsearchIndex {}

impl UsearchIndex {
    /// A new HNSW index for `capacity` vectors of `dim` dimensions. It holds one thread context
    /// while vectors are added: usearch draws each node's level from the random generator of the
    /// context an add borrows, handing contexts out in turn, so with one the graph is a function
    /// of the vectors and their order alone, on any machine and at any thread count.
    pub fn new(dim: usize, dtype: IndexDtype, capacity: usize) -> Result<Self> {
        let options = IndexOptions {
            dimensions: dim,
            metric: MetricKind::Cos,
            quantization: match dtype {
                IndexDtype::F32 => ScalarKind::F32,
                IndexDtype::F16 => ScalarKind::F16,
                IndexDtype::I8 => ScalarKind::I8,
            },
            connectivity: 16,
            expansion_add: 128,
            expansion_search: EXPANSION_SEARCH,
            multi: false,
        };
        let index = Index::new(&options).map_err(|e| Error::Index(e.to_string()))?;
        index
            .reserve_capacity_and_threads(capacity.max(1), 1)
            .map_err(|e| Error::Index(format!("cannot reserve {capacity} vectors: {e}")))?;
        Ok(UsearchIndex::wrap(index, dim))
    }

    fn wrap(index: Index, dim: usize) -> Self {
        UsearchIndex {
            index,
            dim,
            searchers: std::sync::OnceLock::new(),
        }
    }

    /// Gives the index a thread context for every thread of the calling rayon pool, once: a
    /// search that finds no free context fails, and a viewed index starts with one per core,
    /// fewer than `--threads` may run. `OnceLock` holds the other searches until it is done.
    fn reserve_searchers(&self) -> Result<()> {
        self.searchers
            .get_or_init(|| {
                self.index
                    .reserve_capacity_and_threads(self.index.capacity(), rayon::current_num_threads())
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map(|_| ())
            .map_err(|e| Error::Index(format!("cannot reserve search threads: {e}")))
    }

    /// Saves the index to `dest` (under a temporary name, renamed when complete).
    fn write_to(&self, dest: &std::path::Path) -> Result<()> {
        let pending = crate::output::PendingFile::new(dest)?;
        let tmp = pending
            .tmp_path()
            .to_str()
            .ok_or_else(|| Error::Index("index path is not UTF-8".into()))?;
        self.index
            .save(tmp)
            .map_err(|e| Error::Index(format!("cannot save the index to {}: {e}", dest.display())))?;
        pending.commit()
    }

    /// Opens a saved index memory-mapped: nothing is read up front, pages load as searches touch
    /// them, and the operating system may drop them again under memory pressure.
    pub fn view(path: &std::path::Path) -> Result<Self> {
        let p = path
            .to_str()
            .ok_or_else(|| Error::Index("index path is not UTF-8".into()))?;
        let index = Index::restore_view(p)
            .map_err(|e| Error::Index(format!("cannot open the saved index {}: {e}", path.display())))?;
        // The saved file does not carry the search beam: without this a viewed index searched
        // with usearch's default (64) and could miss hits the built one finds.
        index.change_expansion_search(EXPANSION_SEARCH);
        let dim = index.dimensions();
        Ok(UsearchIndex::wrap(index, dim))
    }
}

impl NeighborIndex for UsearchIndex {
    /// Adds one vector at a time, in the order given. usearch 2.26's concurrent adds can leave a
    /// node stored but unreachable by any search (unum-cloud/USearch#735): on 2,000 random vectors
    /// added from 8 threads, about 28 nodes were missing from their own top 10, and a mined
    /// sample lost a rank-4 negative. One at a time none is stranded, and the same vectors in the
    /// same order build the same graph, so HNSW runs repeat exactly.
    fn add(&mut self, rows: &[u32], vectors: &[f32]) -> Result<()> {
        vectors.chunks(self.dim).zip(rows).try_for_each(|(v, &row)| {
            self.index
                .add(u64::from(row), v)
                .map_err(|e| Error::Index(format!("add failed: {e}")))
        })
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.index.size()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        self.reserve_searchers()?;
        // usearch widens the beam to `k` for a deep search by itself (and for that search only).
        let m = self
            .index
            .search(query, k)
            .map_err(|e| Error::Index(format!("search failed: {e}")))?;
        let mut hits: Vec<Hit> = m
            .keys
            .iter()
            .zip(&m.distances)
            .map(|(&key, &d)| Hit {
                row: key as u32,
                score: 1.0 - d,
            })
            .collect();
        sort_hits(&mut hits);
        Ok(hits)
    }

    fn vector(&self, row: u32) -> Result<Vec<f32>> {
        let mut buf = vec![0f32; self.dim];
        let n = self
            .index
            .get(u64::from(row), &mut buf)
            .map_err(|e| Error::Index(e.to_string()))?;
        if n == 0 {
            return Err(Error::Index(format!("row {row} is not in the index")));
        }
        Ok(buf)
    }

    fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }

    fn kind(&self) -> &'static str {
        "hnsw"
    }

    fn save(&self, dest: &std::path::Path) -> Result<()> {
        self.write_to(dest)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::embed::l2_normalize;
    use rand::{Rng, SeedableRng};

    /// `n` random unit vectors of `dim` dimensions, seeded.
    pub(crate) fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        v.chunks_mut(dim).for_each(l2_normalize);
        v
    }

    #[test]
    fn a_saved_index_viewed_from_disk_answers_like_the_built_one() {
        let (n, dim) = (500, 32);
        let data = random_vectors(n, dim, 3);
        let all: Vec<u32> = (0..n as u32).collect();
        let mut built = UsearchIndex::new(dim, IndexDtype::F16, n).unwrap();
        built.add(&all, &data).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.usearch");
        built.save(&path).unwrap();
        let viewed = UsearchIndex::view(&path).unwrap();
        assert_eq!(viewed.len(), n);
        assert_eq!(viewed.vector(7).unwrap(), built.vector(7).unwrap());
        // Searched from more threads at once than the machine has cores (`--threads 8` on a small
        // machine), as mining does.
        let queries = random_vectors(400, dim, 4);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(8).build().unwrap();
        let pairs: Vec<(Vec<Hit>, Vec<Hit>)> = pool.install(|| {
            queries
                .par_chunks(dim)
                .map(|q| (built.search(q, 10).unwrap(), viewed.search(q, 10).unwrap()))
                .collect()
        });
        for (a, b) in pairs {
            assert_eq!(a, b);
        }
        assert!(UsearchIndex::view(&dir.path().join("missing.usearch")).is_err());
    }

    #[test]
    fn hnsw_recall_at_10_against_exact_is_high_for_every_dtype() {
        let (n, dim) = (2000, 64);
        let data = random_vectors(n, dim, 1);
        let queries = random_vectors(50, dim, 2);
        let all: Vec<u32> = (0..n as u32).collect();
        let mut exact = ExactIndex::new(dim, n, IndexDtype::F32);
        exact.add(&all, &data).unwrap();
        // i8 rounds each coordinate to 1/127: on uniform random vectors (near-equal distances)
        // that costs a few points of recall, far less on clustered text embeddings.
        for (dtype, floor) in [(IndexDtype::F32, 0.95), (IndexDtype::F16, 0.95), (IndexDtype::I8, 0.85)] {
            let mut hnsw = UsearchIndex::new(dim, dtype, n).unwrap();
            hnsw.add(&all, &data).unwrap();
            assert_eq!(hnsw.len(), n);
            let mut found = 0;
            for q in queries.chunks(dim) {
                let truth: Vec<u32> = exact.search(q, 10).unwrap().iter().map(|h| h.row).collect();
                found += hnsw
                    .search(q, 10)
                    .unwrap()
                    .iter()
                    .filter(|h| truth.contains(&h.row))
                    .count();
            }
            let recall = found as f64 / 500.0;
            assert!(recall >= floor, "{dtype:?} recall@10 {recall}");
        }
    }

    #[test]
    fn every_added_vector_is_found_by_its_own_search_and_the_graph_repeats() {
        // Many threads ready to add at once, as in a run on a large machine: adding concurrently
        // stranded about 28 in 2,000 such nodes (unum-cloud/USearch#735).
        let (n, dim) = (2000, 384);
        let data = random_vectors(n, dim, 5);
        let all: Vec<u32> = (0..n as u32).collect();
        // Built and searched inside pools of different sizes: the graph must not depend on it.
        let build = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut hnsw = UsearchIndex::new(dim, IndexDtype::F16, n).unwrap();
                hnsw.add(&all, &data).unwrap();
                hnsw.search_batch(&data, 10).unwrap()
            })
        };
        let (wide_hits, narrow_hits) = (build(8), build(1));
        let stranded: Vec<usize> = (0..n)
            .filter(|&i| !wide_hits[i].iter().any(|h| h.row as usize == i))
            .collect();
        assert!(stranded.is_empty(), "not found by their own vectors: {stranded:?}");
        assert_eq!(wide_hits, narrow_hits);
    }

    #[test]
    fn f32_hnsw_scores_are_cosines() {
        let data = random_vectors(100, 16, 3);
        let mut hnsw = UsearchIndex::new(16, IndexDtype::F32, 100).unwrap();
        hnsw.add(&(0..100).collect::<Vec<u32>>(), &data).unwrap();
        let q = &data[..16];
        for h in hnsw.search(q, 5).unwrap() {
            let v = &data[h.row as usize * 16..(h.row as usize + 1) * 16];
            assert!((h.score - dot(q, v)).abs() < 1e-5);
        }
    }
}
