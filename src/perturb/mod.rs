//! Counterfactual negatives: minimal rule-based edits that make a text wrong (numbers, negation,
//! comparatives and directions, curated antonyms), each checked and labelled with its family and
//! span. See `research/perturbations.md` for the families and their pitfalls.
//!
//! Per text, [`Perturber::propose`] finds every checked edit in the sentences that answer the
//! query, next to what the query asks about ([`anchor`]), or in the whole text without a query;
//! [`Balancer`] then thins each edit direction to the
//! rate of its reverse over the whole run, so a model cannot learn an edit's surface cue; and
//! [`choose`] takes up to N per text, rotating through the families.

pub mod anchor;
pub mod antonym;
pub mod checks;
pub mod coherence;
pub mod comparative;
pub mod copies;
pub mod negation;
pub mod number;
pub mod text;

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::language::RunLanguage;
use crate::output::Edit;
use anchor::{QueryAnchors, SentenceAnchors, TermRarity};
use checks::{BigramTable, Rejection};
use text::Sentence;

/// The edit families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FamilyName {
    /// Numbers and quantities.
    Number,
    /// Negation inserted or removed.
    Negation,
    /// Comparatives and directions (increase/decrease, higher/lower, above/below).
    Comparative,
    /// Curated adjective antonyms.
    Antonym,
}

impl FamilyName {
    /// Every family, in the order they are tried.
    pub const ALL: [FamilyName; 4] = [
        FamilyName::Number,
        FamilyName::Negation,
        FamilyName::Comparative,
        FamilyName::Antonym,
    ];

    /// Name used in ids, sources and flags.
    pub fn name(self) -> &'static str {
        match self {
            FamilyName::Number => "number",
            FamilyName::Negation => "negation",
            FamilyName::Comparative => "comparative",
            FamilyName::Antonym => "antonym",
        }
    }

    /// Parses a comma-separated list (`all` for every family).
    pub fn parse_list(list: &str) -> Result<Vec<FamilyName>> {
        if list.trim() == "all" {
            return Ok(Self::ALL.to_vec());
        }
        let mut out = Vec::new();
        for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let family = Self::ALL.into_iter().find(|f| f.name() == part).ok_or_else(|| {
                Error::Config(format!(
                    "unknown counterfactual family `{part}`: expected number, negation, comparative, antonym or all"
                ))
            })?;
            if !out.contains(&family) {
                out.push(family);
            }
        }
        if out.is_empty() {
            return Err(Error::Config("no counterfactual family given".into()));
        }
        Ok(out)
    }

    /// Whether the family's rules apply to text in `language`: digits are the same in every
    /// language; negation, comparatives and antonyms are English rules.
    pub fn supports(self, language: &RunLanguage) -> bool {
        self == FamilyName::Number || language.is_english()
    }

    /// The families of `list` for a run in `language`, and those `all` left out because the
    /// language has no rules for them. Naming an unsupported family is an error that says which
    /// families are available.
    pub fn for_language(list: &str, language: &RunLanguage) -> Result<(Vec<FamilyName>, Vec<FamilyName>)> {
        let asked = Self::parse_list(list)?;
        let (kept, left_out): (Vec<FamilyName>, Vec<FamilyName>) = asked.iter().partition(|f| f.supports(language));
        if list.trim() != "all"
            && let Some(f) = left_out.first()
        {
            let available: Vec<&str> = Self::ALL
                .iter()
                .filter(|f| f.supports(language))
                .map(|f| f.name())
                .collect();
            return Err(Error::Config(format!(
                "counterfactual family `{}` has English rules only and this run's language is `{}`: available families are {}",
                f.name(),
                language.code,
                available.join(", ")
            )));
        }
        Ok((kept, left_out))
    }

    fn rules(self) -> Box<dyn Family> {
        match self {
            FamilyName::Number => Box::new(number::Numbers),
            FamilyName::Negation => Box::new(negation::Negation),
            FamilyName::Comparative => Box::new(comparative::Comparatives::new()),
            FamilyName::Antonym => Box::new(antonym::Antonyms::new()),
        }
    }
}

/// One possible edit of a sentence: replace bytes `start..end` of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Byte offset where the replaced span starts.
    pub start: usize,
    /// Byte offset where it ends.
    pub end: usize,
    /// What replaces it.
    pub replacement: String,
    /// Direction key `from>to` (its reverse is `to>from`): balanced over the run.
    pub direction: String,
}

/// A family's rules: where in a sentence it can edit, and how.
pub trait Family: Send + Sync {
    /// The family.
    fn name(&self) -> FamilyName;
    /// Appends the edits this family can make to `sentence` of `text`, best first.
    fn candidates(&self, text: &str, sentence: &Sentence, rng: &mut ChaCha8Rng, out: &mut Vec<Candidate>);
    /// Lower-cased words its edits may write next to existing text: the fluency table checks
    /// its edits' boundary bigrams on these words only.
    fn vocabulary(&self) -> Vec<String>;
}

/// A checked edit of one text.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// Family.
    pub family: FamilyName,
    /// The replaced span and its replacement.
    pub edit: Edit,
    /// Byte offset of the span in the source text.
    pub offset: usize,
    /// The whole edited text.
    pub text: String,
    /// Direction key (see [`Candidate::direction`]).
    pub direction: String,
    /// Seeded uniform draw in [0, 1) that the balancer compares with the direction's rate.
    pub draw: f64,
    /// Words between the edit and the query term that anchors it (0 without a query).
    pub distance: usize,
}

/// The checked edits of one text and the counts of rejected ones.
#[derive(Debug, Default, Clone)]
pub struct Proposals {
    /// Edits that passed every check, by family in family order, best first within a family.
    pub proposals: Vec<Proposal>,
    /// Edits rejected by a check, by reason.
    pub rejected: BTreeMap<Rejection, usize>,
}

/// Makes checked edits of texts.
pub struct Perturber {
    families: Vec<Box<dyn Family>>,
    /// Each family's vocabulary (same order): the words whose bigrams its edits are checked on.
    writes: Vec<HashSet<String>>,
    seed: u64,
    bigrams: BigramTable,
    /// Document frequencies of the corpus's stems: common ones anchor no edit.
    rarity: TermRarity,
    /// Whether the text is English: query matching stems words only then.
    english: bool,
}

impl Perturber {
    /// A perturber for these families; the fluency table holds the shipped background bigrams
    /// until the corpus is added (see [`Perturber::learn`]).
    pub fn new(families: &[FamilyName], seed: u64) -> Self {
        let families: Vec<Box<dyn Family>> = families.iter().map(|f| f.rules()).collect();
        let writes: Vec<HashSet<String>> = families.iter().map(|f| f.vocabulary().into_iter().collect()).collect();
        let mut bigrams = BigramTable::new(writes.iter().flatten().cloned());
        bigrams.add_background();
        Perturber {
            families,
            writes,
            seed,
            bigrams,
            rarity: TermRarity::default(),
            english: true,
        }
    }

    /// The same perturber for text in `language`: query matching uses stems only for English.
    pub fn for_language(mut self, language: &RunLanguage) -> Self {
        self.english = language.is_english();
        self
    }

    /// Adds a corpus passage's bigrams to the fluency table and its stems to the document
    /// frequencies that decide which query terms anchor edits (feed it the corpus).
    pub fn learn(&mut self, text: &str) {
        self.bigrams.add_text(text);
        self.rarity.add(text, self.english);
    }

    /// The corpus's document frequencies (stored beside the bigrams for stages).
    pub fn term_rarity(&self) -> &TermRarity {
        &self.rarity
    }

    /// Adds stored document frequencies (instead of learning the corpus again).
    pub fn extend_term_rarity(&mut self, rarity: TermRarity) {
        self.rarity.absorb(rarity);
    }

    /// The fluency table's bigrams as hashes (see [`checks::BigramTable::hashes`]).
    pub fn bigram_hashes(&self) -> Vec<u64> {
        self.bigrams.hashes()
    }

    /// Adds bigrams stored by [`Perturber::bigram_hashes`] (instead of learning the corpus again).
    pub fn extend_bigrams(&mut self, hashes: impl IntoIterator<Item = u64>) {
        self.bigrams.extend_hashes(hashes);
    }

    /// Distinct bigrams the fluency check knows.
    pub fn known_bigrams(&self) -> usize {
        self.bigrams.len()
    }

    /// Every checked edit of `text` (identified by `item` for seeding). With a query, only edits
    /// within a few words of a query term, in the sentences that share the most query terms, by
    /// families whose change the query asks about ([`anchor`]), so the edited passage stops
    /// answering it. Closest to the query first.
    pub fn propose(&self, item: &str, text: &str, query: Option<&str>) -> Proposals {
        let sentences = text::sentences(text);
        let anchors = query.map(|q| QueryAnchors::new(q, self.english, &self.rarity));
        let found: Option<Vec<SentenceAnchors>> = anchors
            .as_ref()
            .map(|a| sentences.iter().map(|s| a.in_sentence(s)).collect());
        let order = sentence_order(
            sentences.len(),
            found.as_deref(),
            item_seed(self.seed, item, "sentences"),
        );
        let mut out = Proposals::default();
        let mut candidates = Vec::new();
        // Token boundaries for editing every copy of a phrase: found once, if an edit gets there.
        let bounds = std::cell::OnceCell::new();
        for (family, writes) in self.families.iter().zip(&self.writes) {
            let mut rng = ChaCha8Rng::seed_from_u64(item_seed(self.seed, item, family.name().name()));
            for &si in &order {
                let sentence = &sentences[si];
                candidates.clear();
                family.candidates(text, sentence, &mut rng, &mut candidates);
                for candidate in candidates.drain(..) {
                    let candidate = fix_article(text, sentence, candidate);
                    let anchored = match (&anchors, &found) {
                        (Some(a), Some(found)) => {
                            a.anchor_edit(family.name(), sentence, &found[si], &candidate).map(Some)
                        }
                        _ => Ok(None),
                    };
                    let checked = |anchor| {
                        let bounds = bounds.get_or_init(|| copies::TokenBounds::of(text));
                        Ok((anchor, self.check(text, bounds, sentence, &candidate, writes)?))
                    };
                    match anchored.and_then(checked) {
                        Ok((anchor, edited)) => out.proposals.push(Proposal {
                            family: family.name(),
                            edit: Edit {
                                family: family.name().name().to_string(),
                                original: text[candidate.start..candidate.end].to_string(),
                                replacement: candidate.replacement.clone(),
                                offset: Some(text[..candidate.start].chars().count()),
                                anchor: anchor.as_ref().map(|a| a.term.clone()),
                            },
                            offset: candidate.start,
                            text: edited,
                            draw: balance_draw(self.seed, item, &candidate.direction),
                            direction: candidate.direction,
                            distance: anchor.map_or(0, |a| a.distance),
                        }),
                        Err(reason) => *out.rejected.entry(reason).or_default() += 1,
                    }
                }
            }
        }
        // Closest to the query first within each family (stable: the rules' order breaks ties).
        out.proposals.sort_by_key(|p| (p.family, p.distance));
        out
    }

    /// Applies a candidate (to every copy of its phrase, see [`copies::apply`]; `bounds` are
    /// `text`'s tokens) and runs the checks on its sentence (fluency on the words its family
    /// `writes`); returns the edited text.
    fn check(
        &self,
        text: &str,
        bounds: &copies::TokenBounds,
        sentence: &Sentence,
        c: &Candidate,
        writes: &HashSet<String>,
    ) -> std::result::Result<String, Rejection> {
        let edited = copies::apply(text, bounds, sentence, c)?;
        let source_sentence = &text[sentence.start..sentence.end];
        let edited_sentence = &format!(
            "{}{}{}",
            &text[sentence.start..c.start],
            c.replacement,
            &text[c.end..sentence.end]
        );
        let edited_tokens = text::tokens(edited_sentence, sentence.start);
        checks::check_edit(
            &sentence.tokens,
            &edited_tokens,
            source_sentence,
            edited_sentence,
            self.english,
        )?;
        let span_end = c.start + c.replacement.len();
        let inside: Vec<usize> = (0..edited_tokens.len())
            .filter(|&i| edited_tokens[i].start < span_end && edited_tokens[i].end > c.start)
            .collect();
        if let (Some(&first), Some(&last)) = (inside.first(), inside.last()) {
            if !self.bigrams.fluent(&edited_tokens, first, last, writes) {
                return Err(Rejection::Disfluent);
            }
            if coherence::clashes(&edited_tokens, first, last) {
                return Err(Rejection::Incoherent);
            }
        }
        Ok(edited)
    }
}

/// The balancer's uniform draw for one item and direction: the same for every proposal of that
/// direction in the item, so an item with many sites for one direction is not favoured.
fn balance_draw(seed: u64, item: &str, direction: &str) -> f64 {
    (item_seed(seed, item, &format!("balance:{direction}")) >> 11) as f64 / (1u64 << 53) as f64
}

/// A seed for one item and purpose, independent of threads and of other items.
pub fn item_seed(seed: u64, item: &str, purpose: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(item.as_bytes());
    h.update([0]);
    h.update(purpose.as_bytes());
    u64::from_le_bytes(h.finalize()[..8].try_into().expect("8 bytes"))
}

/// Sentences to edit, best first: with a query, those sharing at least half as many anchor
/// terms with it as the best one (none when none shares any); without one, every sentence in a
/// seeded order.
fn sentence_order(sentences: usize, found: Option<&[SentenceAnchors]>, seed: u64) -> Vec<usize> {
    let Some(found) = found else {
        let mut order: Vec<usize> = (0..sentences).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rand::seq::SliceRandom::shuffle(order.as_mut_slice(), &mut rng);
        return order;
    };
    let overlaps: Vec<usize> = found.iter().map(SentenceAnchors::overlap).collect();
    let best = overlaps.iter().copied().max().unwrap_or(0);
    let mut order: Vec<usize> = (0..sentences)
        .filter(|&i| overlaps[i] > 0 && overlaps[i] * 2 >= best)
        .collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(overlaps[i]), i));
    order
}

/// Moves an indefinite article in front of the span along with the edit ("a stable" → "an unstable").
fn fix_article(text: &str, sentence: &Sentence, mut c: Candidate) -> Candidate {
    let Some(first_word) = c.replacement.split_whitespace().next() else {
        return c;
    };
    let Some(before) = sentence.tokens.iter().rev().find(|t| t.end <= c.start) else {
        return c;
    };
    if !matches!(before.lower.as_str(), "a" | "an") || !text[before.end..c.start].trim().is_empty() {
        return c;
    }
    let wanted = text::article_for(first_word);
    if wanted != before.lower {
        c.replacement = format!(
            "{}{}{}",
            text::match_case(&text[before.start..before.end], wanted),
            &text[before.end..c.start],
            c.replacement
        );
        c.start = before.start;
    }
    c
}

/// Per-direction acceptance rates that even out each direction and its reverse over a run: a
/// direction offered by `n` items whose reverse is offered by `r` items is kept at rate
/// `min(1, (r + 1) / n)`.
#[derive(Debug, Default)]
pub struct Balancer {
    counts: HashMap<String, usize>,
}

impl Balancer {
    /// Counts the directions one item offers (each at most once per item).
    pub fn add(&mut self, proposals: &[Proposal]) {
        let directions: HashSet<&str> = proposals.iter().map(|p| p.direction.as_str()).collect();
        for d in directions {
            *self.counts.entry(d.to_string()).or_default() += 1;
        }
    }

    /// The acceptance rate of a direction.
    pub fn rate(&self, direction: &str) -> f64 {
        let count = self.counts.get(direction).copied().unwrap_or(0);
        if count == 0 {
            return 1.0;
        }
        let reverse = reverse(direction);
        let back = self.counts.get(&reverse).copied().unwrap_or(0);
        ((back + 1) as f64 / count as f64).min(1.0)
    }

    /// Whether a proposal survives balancing.
    pub fn accepts(&self, p: &Proposal) -> bool {
        p.draw < self.rate(&p.direction)
    }
}

/// `to>from` for `from>to`.
fn reverse(direction: &str) -> String {
    match direction.split_once('>') {
        Some((a, b)) => format!("{b}>{a}"),
        None => direction.to_string(),
    }
}

/// A chosen counterfactual: the proposal and its number within its family for this item.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    /// The edit.
    pub proposal: Proposal,
    /// 0-based number within the family (the `n` of `<id>#cf:<family>:<n>`).
    pub n: usize,
}

impl Chosen {
    /// The counterfactual's id, derived from its source's id.
    pub fn id(&self, source_id: &str) -> String {
        format!("{source_id}#cf:{}:{}", self.proposal.family.name(), self.n)
    }
}

/// Up to `n` balanced proposals of one item: one per family in turn, then a second round, and so
/// on. Families whose closest edit is nearer the query go first; ties start at a seeded family,
/// so no family is always first. Distinct texts only.
pub fn choose(proposals: &Proposals, balancer: &Balancer, n: usize, seed: u64, item: &str) -> Vec<Chosen> {
    let mut by_family: BTreeMap<FamilyName, Vec<&Proposal>> = BTreeMap::new();
    for p in proposals.proposals.iter().filter(|p| balancer.accepts(p)) {
        by_family.entry(p.family).or_default().push(p);
    }
    let families: Vec<FamilyName> = by_family.keys().copied().collect();
    if families.is_empty() || n == 0 {
        return Vec::new();
    }
    let start = (item_seed(seed, item, "families") % families.len() as u64) as usize;
    let mut order: Vec<FamilyName> = (0..families.len())
        .map(|k| families[(start + k) % families.len()])
        .collect();
    // Stable: families at the same distance keep the seeded rotation.
    order.sort_by_key(|f| by_family[f][0].distance);
    let mut chosen: Vec<Chosen> = Vec::new();
    let mut texts: HashSet<&str> = HashSet::new();
    let mut cursor: BTreeMap<FamilyName, usize> = BTreeMap::new();
    let mut progress = true;
    while chosen.len() < n && progress {
        progress = false;
        for &family in &order {
            let list = &by_family[&family];
            let at = cursor.entry(family).or_default();
            while *at < list.len() && !texts.insert(list[*at].text.as_str()) {
                *at += 1;
            }
            if *at < list.len() && chosen.len() < n {
                let number = chosen.iter().filter(|c| c.proposal.family == family).count();
                chosen.push(Chosen {
                    proposal: list[*at].clone(),
                    n: number,
                });
                *at += 1;
                progress = true;
            }
        }
    }
    chosen
}

/// One text to perturb.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// Seeding key (an id, or query and positive ids for a mining row).
    pub key: &'a str,
    /// The text to edit.
    pub text: &'a str,
    /// The query it answers, if any: only the sentences that overlap it are edited.
    pub query: Option<&'a str>,
}

/// Counts of one batch of perturbations, for reports and manifests.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct BatchReport {
    /// Texts seen.
    pub texts: usize,
    /// Texts with at least one chosen edit.
    pub texts_edited: usize,
    /// Edits that passed the checks, by family.
    pub proposed: BTreeMap<String, usize>,
    /// Edits rejected by a check, by reason.
    pub rejected: BTreeMap<String, usize>,
    /// Edits chosen, by family.
    pub chosen: BTreeMap<String, usize>,
    /// Edits chosen, by direction (`family:from>to`).
    pub directions: BTreeMap<String, usize>,
}

impl BatchReport {
    /// Counts one text: its proposals and rejections, and the edits chosen for it.
    pub fn count(&mut self, proposals: &Proposals, chosen: &[Chosen]) {
        self.texts += 1;
        self.texts_edited += usize::from(!chosen.is_empty());
        for prop in &proposals.proposals {
            *self.proposed.entry(prop.family.name().to_string()).or_default() += 1;
        }
        for (reason, count) in &proposals.rejected {
            *self.rejected.entry(reason.name().to_string()).or_default() += count;
        }
        for c in chosen {
            let family = c.proposal.family.name();
            *self.chosen.entry(family.to_string()).or_default() += 1;
            *self
                .directions
                .entry(format!("{family}:{}", c.proposal.direction))
                .or_default() += 1;
        }
    }

    /// Adds another batch's counts.
    pub fn absorb(&mut self, other: BatchReport) {
        self.texts += other.texts;
        self.texts_edited += other.texts_edited;
        for (mine, theirs) in [
            (&mut self.proposed, other.proposed),
            (&mut self.rejected, other.rejected),
            (&mut self.chosen, other.chosen),
            (&mut self.directions, other.directions),
        ] {
            for (k, v) in theirs {
                *mine.entry(k).or_default() += v;
            }
        }
    }
}

/// (draw, item, position in the item's list) of one chosen edit: the order in which
/// [`Thinning`] keeps a direction's edits.
type Site = (f64, usize, usize);

/// Per family, per direction: what [`DirectionSites`] and [`Thinning`] keep. Keyed by family,
/// then direction, so lookups borrow the proposal's direction instead of building a key.
type ByDirection<T> = HashMap<FamilyName, HashMap<String, T>>;

/// Lowest draw first; ties go to the earlier item, then the earlier edit in it.
fn site_order(a: &Site, b: &Site) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2)))
}

/// The chosen edits of a run, by direction, gathered item by item for [`Thinning`].
#[derive(Debug, Default)]
pub struct DirectionSites {
    sites: ByDirection<Vec<Site>>,
}

impl DirectionSites {
    /// Records the edits chosen for item number `item` (its position in the run).
    pub fn record(&mut self, item: usize, chosen: &[Chosen]) {
        for (k, c) in chosen.iter().enumerate() {
            let site = (c.proposal.draw, item, k);
            let directions = self.sites.entry(c.proposal.family).or_default();
            match directions.get_mut(&c.proposal.direction) {
                Some(list) => list.push(site),
                None => {
                    directions.insert(c.proposal.direction.clone(), vec![site]);
                }
            }
        }
    }

    /// Evens out the chosen edits exactly: a direction chosen `n` times whose reverse was chosen
    /// `r` times keeps its `min(n, r + 1)` edits with the lowest draws. (The balancer evens out
    /// what items offer; which family an item ends up with can still tilt the chosen directions.)
    pub fn thinning(self) -> Thinning {
        let last_kept = self
            .sites
            .into_iter()
            .map(|(family, directions)| {
                let times_chosen: HashMap<String, usize> =
                    directions.iter().map(|(d, list)| (d.clone(), list.len())).collect();
                let kept = directions
                    .into_iter()
                    .map(|(direction, mut list)| {
                        let back = times_chosen.get(&reverse(&direction)).copied().unwrap_or(0);
                        let keep = list.len().min(back + 1);
                        list.select_nth_unstable_by(keep - 1, site_order);
                        (direction, list[keep - 1])
                    })
                    .collect();
                (family, kept)
            })
            .collect();
        Thinning { last_kept }
    }
}

/// Which chosen edits survive the evening-out of directions (see [`DirectionSites::thinning`]).
#[derive(Debug)]
pub struct Thinning {
    /// The last site kept of each direction.
    last_kept: ByDirection<Site>,
}

impl Thinning {
    /// Drops the edits of item number `item` that its directions do not keep and renumbers the
    /// rest within each family, so ids stay dense.
    pub fn apply(&self, item: usize, chosen: &mut Vec<Chosen>) {
        let mut k = 0;
        chosen.retain(|c| {
            let site = (c.proposal.draw, item, k);
            k += 1;
            self.last_kept
                .get(&c.proposal.family)
                .and_then(|directions| directions.get(&c.proposal.direction))
                .is_some_and(|last| site_order(&site, last).is_le())
        });
        let mut next: HashMap<FamilyName, usize> = HashMap::new();
        for c in chosen.iter_mut() {
            let n = next.entry(c.proposal.family).or_default();
            c.n = *n;
            *n += 1;
        }
    }
}

/// Every item's proposals, computed in parallel (output independent of threads).
pub fn propose_all(perturber: &Perturber, items: &[Item<'_>]) -> Vec<Proposals> {
    use rayon::prelude::*;
    items
        .par_iter()
        .map(|it| perturber.propose(it.key, it.text, it.query))
        .collect()
}

/// Proposes edits for every item, balances the directions over the whole batch and chooses up
/// to `n` per item.
pub fn perturb_all(perturber: &Perturber, items: &[Item<'_>], n: usize, seed: u64) -> (Vec<Vec<Chosen>>, BatchReport) {
    let proposals = propose_all(perturber, items);
    let mut balancer = Balancer::default();
    for p in &proposals {
        balancer.add(&p.proposals);
    }
    let mut chosen: Vec<Vec<Chosen>> = proposals
        .iter()
        .zip(items)
        .map(|(p, it)| choose(p, &balancer, n, seed, it.key))
        .collect();
    let mut sites = DirectionSites::default();
    for (i, list) in chosen.iter().enumerate() {
        sites.record(i, list);
    }
    let thinning = sites.thinning();
    let mut report = BatchReport::default();
    for (i, (list, p)) in chosen.iter_mut().zip(&proposals).enumerate() {
        thinning.apply(i, list);
        report.count(p, list);
    }
    (chosen, report)
}

/// Every candidate a family offers on `text`, applied, one text each (for the families' tests).
#[cfg(test)]
pub(crate) fn candidate_texts(family: &dyn Family, text: &str) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = Vec::new();
    for s in text::sentences(text) {
        let mut candidates = Vec::new();
        family.candidates(text, &s, &mut rng, &mut candidates);
        out.extend(
            candidates
                .into_iter()
                .map(|c| format!("{}{}{}", &text[..c.start], c.replacement, &text[c.end..])),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perturber(corpus: &[&str]) -> Perturber {
        let mut p = Perturber::new(&FamilyName::ALL, 7);
        for t in corpus {
            p.learn(t);
        }
        p
    }

    #[test]
    fn the_sentence_that_answers_the_query_is_edited() {
        let text = "Bees are social insects. Colony losses increased after the spread of the mite. \
                    The queen lays eggs.";
        let p = perturber(&[text, "Losses decreased after treatment."]);
        let out = p.propose("d1", text, Some("why did colony losses increase"));
        assert!(!out.proposals.is_empty());
        for prop in &out.proposals {
            assert!(prop.offset > 24 && prop.offset < 80, "{prop:?}");
        }
        let comparative = out
            .proposals
            .iter()
            .find(|p| p.family == FamilyName::Comparative)
            .unwrap();
        assert_eq!(comparative.edit.original, "increased");
        assert_eq!(comparative.edit.replacement, "decreased");
    }

    #[test]
    fn articles_follow_the_replacement() {
        let text = "It is a stable compound.";
        let p = perturber(&[text, "an unstable compound"]);
        let out = p.propose("x", text, None);
        let antonym = out.proposals.iter().find(|p| p.family == FamilyName::Antonym).unwrap();
        assert_eq!(antonym.text, "It is an unstable compound.");
        assert_eq!(antonym.edit.original, "a stable");
    }

    fn proposal(direction: &str, draw: f64) -> Proposal {
        Proposal {
            family: FamilyName::Negation,
            edit: Edit {
                family: "negation".into(),
                original: String::new(),
                replacement: String::new(),
                offset: None,
                anchor: None,
            },
            offset: 0,
            text: String::new(),
            direction: direction.into(),
            draw,
            distance: 0,
        }
    }

    #[test]
    fn balancer_thins_the_common_direction() {
        let mut b = Balancer::default();
        let prop = |d: &str| proposal(d, 0.5);
        for _ in 0..9 {
            b.add(&[prop("a>b"), prop("a>b")]);
        }
        for _ in 0..2 {
            b.add(&[prop("b>a")]);
        }
        assert!((b.rate("a>b") - 3.0 / 9.0).abs() < 1e-9);
        assert_eq!(b.rate("b>a"), 1.0);
        assert_eq!(b.rate("never>seen"), 1.0);
    }

    #[test]
    fn thinning_keeps_a_direction_s_lowest_draws_and_renumbers() {
        let chosen = |edits: &[(&str, f64)]| -> Vec<Chosen> {
            edits
                .iter()
                .enumerate()
                .map(|(n, &(d, draw))| Chosen {
                    proposal: proposal(d, draw),
                    n,
                })
                .collect()
        };
        let mut items = [
            chosen(&[("a>b", 0.9), ("a>b", 0.1)]),
            chosen(&[("a>b", 0.5)]),
            chosen(&[("b>a", 0.3)]),
            chosen(&[("a>b", 0.05)]),
        ];
        let mut sites = DirectionSites::default();
        for (i, list) in items.iter().enumerate() {
            sites.record(i, list);
        }
        let thinning = sites.thinning();
        for (i, list) in items.iter_mut().enumerate() {
            thinning.apply(i, list);
        }
        // a>b was chosen 4 times against b>a's once: it keeps its 2 lowest draws.
        let kept: Vec<Vec<(f64, usize)>> = items
            .iter()
            .map(|list| list.iter().map(|c| (c.proposal.draw, c.n)).collect())
            .collect();
        assert_eq!(kept, [vec![(0.1, 0)], vec![], vec![(0.3, 0)], vec![(0.05, 0)]]);
    }

    #[test]
    fn choose_rotates_families_and_numbers_within_a_family() {
        let text = "The rate is high and costs increased by 30 percent in 1990.";
        let p = perturber(&[text, "the rate is not high", "costs decreased by", "the rate is low"]);
        let props = p.propose("row", text, None);
        let mut b = Balancer::default();
        b.add(&props.proposals);
        let chosen = choose(&props, &b, 3, 1, "row");
        assert!(!chosen.is_empty() && chosen.len() <= 3);
        let families: HashSet<FamilyName> = chosen.iter().map(|c| c.proposal.family).collect();
        assert_eq!(families.len(), chosen.len().min(families.len()));
        assert!(chosen[0].id("d9").starts_with("d9#cf:"));
        assert_eq!(chosen, choose(&props, &b, 3, 1, "row"), "deterministic");
    }

    #[test]
    fn family_lists_parse() {
        assert_eq!(FamilyName::parse_list("all").unwrap().len(), 4);
        assert_eq!(
            FamilyName::parse_list("negation, number").unwrap(),
            [FamilyName::Negation, FamilyName::Number]
        );
        assert!(FamilyName::parse_list("tense").is_err());
    }
}
