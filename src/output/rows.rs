//! The rows a mining run produces, before they take the shape of an output format.

/// One edit that turned a positive into a counterfactual negative.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Edit {
    /// Family (`number`, `negation`, `comparative`, `antonym`).
    pub family: String,
    /// The span that was replaced.
    pub original: String,
    /// What replaced it.
    pub replacement: String,
    /// Where the replaced span starts in the source text, in characters (null in files written
    /// before offsets were recorded).
    pub offset: Option<usize>,
    /// The query term the edit sits next to (null without a query).
    pub anchor: Option<String>,
}

/// One negative of a row with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Negative {
    /// Corpus id, or `<positive_id>#cf:<family>:<n>` for a counterfactual.
    pub id: String,
    /// The negative's text.
    pub text: String,
    /// Cosine similarity to the query.
    pub score: f32,
    /// 0-based rank in the query's ranking of the corpus (positives included); `None` for counterfactuals.
    pub rank: Option<u32>,
    /// `mined` or `counterfactual:<family>`.
    pub source: String,
    /// The edit, for a counterfactual; `None` for mined negatives.
    pub edit: Option<Edit>,
}

/// One training row: a (query, positive) pair with its negatives, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingRow {
    /// Query id.
    pub query_id: String,
    /// Query text (the anchor).
    pub query: String,
    /// Positive id.
    pub positive_id: String,
    /// Positive text.
    pub positive: String,
    /// Cosine similarity of query and positive.
    pub positive_score: f32,
    /// The negatives (mined first, then counterfactuals).
    pub negatives: Vec<Negative>,
    /// Mined negatives asked for; a row with fewer is "short".
    pub wanted: usize,
}

impl TrainingRow {
    /// Mined negatives in the row.
    pub fn mined(&self) -> usize {
        self.negatives.iter().filter(|n| n.rank.is_some()).count()
    }

    /// Whether the row has fewer mined negatives than asked.
    pub fn is_short(&self) -> bool {
        self.mined() < self.wanted
    }
}
