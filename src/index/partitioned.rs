//! Several index partitions searched as one: each partition holds a contiguous range of corpus
//! rows (stored under local rows), every partition is searched for the full `k`, and the hits are
//! merged by score, then row. With exact partitions the merged hits are exactly those of one
//! index over all rows: a score does not depend on which block or partition computed it.

use rayon::prelude::*;

use super::{Hit, NeighborIndex, rank_order};
use crate::error::{Error, Result};

/// Partitions with the first corpus row of each.
pub struct PartitionedIndex {
    parts: Vec<(u32, Box<dyn NeighborIndex>)>,
    dim: usize,
}

impl PartitionedIndex {
    /// Partitions in row order, each with its first corpus row; none may be empty and all must
    /// share one dimension.
    pub fn new(parts: Vec<(u32, Box<dyn NeighborIndex>)>) -> Result<Self> {
        let dim = parts.first().map_or(0, |(_, p)| p.dim());
        if parts.iter().any(|(_, p)| p.dim() != dim) {
            return Err(Error::Index("index partitions of different dimensions".into()));
        }
        if parts.windows(2).any(|w| w[0].0 + w[0].1.len() as u32 != w[1].0) {
            return Err(Error::Index("index partitions do not tile the corpus rows".into()));
        }
        Ok(PartitionedIndex { parts, dim })
    }

    /// The partition holding global `row`, with the row's local number.
    fn locate(&self, row: u32) -> Result<(&dyn NeighborIndex, u32)> {
        let i = self.parts.partition_point(|(first, _)| *first <= row);
        let (first, part) = i
            .checked_sub(1)
            .and_then(|i| self.parts.get(i))
            .ok_or_else(|| Error::Index(format!("row {row} is in no partition")))?;
        Ok((part.as_ref(), row - first))
    }

    fn merge(&self, per_part: Vec<Vec<Vec<Hit>>>, queries: usize, k: usize) -> Vec<Vec<Hit>> {
        let mut merged: Vec<Vec<Hit>> = vec![Vec::new(); queries];
        for ((first, _), hits) in self.parts.iter().zip(per_part) {
            for (into, hits) in merged.iter_mut().zip(hits) {
                into.extend(hits.into_iter().map(|h| Hit {
                    row: h.row + first,
                    score: h.score,
                }));
            }
        }
        for hits in &mut merged {
            hits.sort_by(rank_order);
            hits.truncate(k);
        }
        merged
    }
}

impl NeighborIndex for PartitionedIndex {
    fn add(&mut self, _rows: &[u32], _vectors: &[f32]) -> Result<()> {
        Err(Error::Index(
            "a partitioned index is built partition by partition".into(),
        ))
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.parts.iter().map(|(_, p)| p.len()).sum()
    }

    fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>> {
        Ok(self.search_batch(query, k)?.pop().unwrap_or_default())
    }

    fn search_batch(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        let per_part: Vec<Vec<Vec<Hit>>> = self
            .parts
            .par_iter()
            .map(|(_, p)| p.search_batch(queries, k.min(p.len())))
            .collect::<Result<_>>()?;
        Ok(self.merge(per_part, queries.len() / self.dim.max(1), k))
    }

    fn vector(&self, row: u32) -> Result<Vec<f32>> {
        let (part, local) = self.locate(row)?;
        part.vector(local)
    }

    fn memory_bytes(&self) -> usize {
        self.parts.iter().map(|(_, p)| p.memory_bytes()).sum()
    }

    fn kind(&self) -> &'static str {
        self.parts.first().map_or("exact", |(_, p)| p.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::random_vectors;
    use crate::index::{ExactIndex, IndexDtype};

    fn exact(data: &[f32], dim: usize, rows: std::ops::Range<usize>) -> Box<dyn NeighborIndex> {
        let mut index = ExactIndex::new(dim, rows.len(), IndexDtype::F16);
        let local: Vec<u32> = (0..rows.len() as u32).collect();
        index.add(&local, &data[rows.start * dim..rows.end * dim]).unwrap();
        Box::new(index)
    }

    #[test]
    fn exact_partitions_give_exactly_the_hits_of_one_index() {
        let (n, dim) = (3000, 32);
        let data = random_vectors(n, dim, 9);
        let queries = random_vectors(40, dim, 10);
        let whole = exact(&data, dim, 0..n);
        let parts = PartitionedIndex::new(vec![
            (0, exact(&data, dim, 0..1100)),
            (1100, exact(&data, dim, 1100..1101)),
            (1101, exact(&data, dim, 1101..n)),
        ])
        .unwrap();
        assert_eq!(parts.len(), n);
        for k in [1, 10, 200] {
            assert_eq!(
                parts.search_batch(&queries, k).unwrap(),
                whole.search_batch(&queries, k).unwrap()
            );
        }
        assert_eq!(parts.vector(1100).unwrap(), whole.vector(1100).unwrap());
        assert_eq!(parts.vector(2999).unwrap(), whole.vector(2999).unwrap());
        assert!(parts.vector(3000).is_err());
    }

    #[test]
    fn partitions_that_leave_a_gap_are_refused() {
        let data = random_vectors(10, 8, 1);
        let gap = PartitionedIndex::new(vec![(0, exact(&data, 8, 0..4)), (5, exact(&data, 8, 5..10))]);
        assert!(gap.is_err());
    }

    #[test]
    fn a_saved_exact_index_loads_back_the_same() {
        let (n, dim) = (50, 16);
        let data = random_vectors(n, dim, 4);
        for dtype in [IndexDtype::F32, IndexDtype::F16, IndexDtype::I8] {
            let mut index = ExactIndex::new(dim, n, dtype);
            index.add(&(0..n as u32).collect::<Vec<_>>(), &data).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("p.exact");
            index.save(&path).unwrap();
            let loaded = ExactIndex::load(&path).unwrap();
            assert_eq!(loaded.len(), n);
            assert_eq!(
                loaded.search_batch(&data, 5).unwrap(),
                index.search_batch(&data, 5).unwrap()
            );
            std::fs::write(&path, b"HNGEXACT").unwrap();
            assert!(ExactIndex::load(&path).is_err());
        }
    }
}
