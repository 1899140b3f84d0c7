//! Interactive fuzzy search over records, built in memory after unlock.
//!
//! Each record contributes one lower-cased haystack of fields (name, email,
//! phone, source id, steward id). A query is split on whitespace; every term
//! must match inside one field (skim's fuzzy algorithm, as in fzf; the random
//! steward id only by substring, or it would match everything), and the
//! scores add up.
//!
//! Speed at a million records: a first pass checks every candidate field by
//! field with a cheap in-order test and gives a cheap score (substring at a
//! word start beats substring beats scattered letters). When that leaves at
//! most [`RERANK_LIMIT`] hits — any query of a few letters — they are ranked
//! again with skim's scorer. The work is spread over all cores and abandoned
//! as soon as a newer keystroke supersedes it. Pure: no I/O, no terminal.

use std::sync::atomic::{AtomicU64, Ordering};

use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;
use rayon::prelude::*;

use crate::model::Record;

/// One match: index into the record list, and its score (higher is better).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub index: u32,
    pub score: i32,
}

/// The searchable text of every record.
#[derive(Clone, Default)]
pub struct SearchIndex {
    haystacks: Vec<Box<str>>,
}

/// Bytes of one field at most inside a haystack.
const MAX_FIELD: usize = 96;

/// Separates fields inside a haystack.
const SEP: char = '\u{1f}';

/// Length of a steward id as text (a ULID).
const ID_LEN: usize = 26;

/// `<steward id>` SEP `name` SEP `email` SEP `phone` SEP `source id`,
/// lower-cased. The id comes first, at a fixed length, so splitting it off
/// costs nothing per keystroke.
fn haystack(r: &Record) -> Box<str> {
    let mut s = String::with_capacity(128);
    s.push_str(&r.id.to_string().to_lowercase());
    let name = r.display_name();
    for part in [Some(name.as_str()), r.email.as_deref(), r.phone.as_deref(), Some(r.source_id.as_str())] {
        let part = part.unwrap_or("");
        // Bound each field so per-keystroke work stays bounded.
        let mut cut = part.len().min(MAX_FIELD);
        while !part.is_char_boundary(cut) {
            cut -= 1;
        }
        s.push(SEP);
        s.push_str(&part[..cut].replace(SEP, " ").to_lowercase());
    }
    s.into_boxed_str()
}

/// Hits at most for which skim's (slower, finer) scorer re-ranks the results.
pub const RERANK_LIMIT: usize = 20_000;

/// Cheap score of `term` in one field, or `None` when it does not match.
#[cfg(test)]
fn quick_field(field: &[u8], term: &[u8]) -> Option<i64> {
    quick_field_with(&memchr::memmem::Finder::new(term), field, term)
}

/// [`quick_field`] with a prebuilt substring finder for `term`.
fn quick_field_with(finder: &memchr::memmem::Finder, field: &[u8], term: &[u8]) -> Option<i64> {
    if let Some(pos) = finder.find(field) {
        let start_bonus = match pos.checked_sub(1).map(|p| field[p]) {
            None => 500,
            Some(b' ' | b'.' | b'_' | b'-' | b'@' | b'+' | b'(') => 300,
            Some(_) => 0,
        };
        let exact = if field.len() == term.len() { 200 } else { 0 };
        return Some(1000 + start_bonus + exact - pos.min(100) as i64);
    }
    let span = subsequence_span(field, term)?;
    Some(200 - (span - term.len()).min(199) as i64)
}

/// Length of the first in-order match of `term` in `field`, if any.
fn subsequence_span(field: &[u8], term: &[u8]) -> Option<usize> {
    if term.is_ascii() {
        let (&first, rest) = term.split_first()?;
        let start = memchr::memchr(first, field)?;
        let mut at = start + 1;
        for &c in rest {
            at += memchr::memchr(c, &field[at..])? + 1;
        }
        Some(at - start)
    } else {
        let field = std::str::from_utf8(field).ok()?;
        let term = std::str::from_utf8(term).ok()?;
        subsequence(field, term).then_some(field.len())
    }
}

/// True when every char of `needle` occurs in `hay` in order.
fn subsequence(hay: &str, needle: &str) -> bool {
    if needle.is_ascii() {
        return needle.is_empty() || subsequence_span(hay.as_bytes(), needle.as_bytes()).is_some();
    }
    let mut n = needle.chars().peekable();
    for c in hay.chars() {
        if n.peek() == Some(&c) {
            n.next();
        }
    }
    n.peek().is_none()
}

/// Fields of a haystack, and its steward id.
fn split(hay: &str) -> (impl Iterator<Item = &str>, &str) {
    let (id, fields) = match (hay.get(..ID_LEN), hay.get(ID_LEN + 1..)) {
        (Some(id), Some(fields)) => (id, fields),
        _ => ("", hay),
    };
    (fields.split(SEP), id)
}

/// Cheap score of one term: the best field, or `None`.
#[cfg(test)]
fn quick_term(hay: &str, term: &str) -> Option<i64> {
    quick_term_with(&memchr::memmem::Finder::new(term), hay, term)
}

fn quick_term_with(finder: &memchr::memmem::Finder, hay: &str, term: &str) -> Option<i64> {
    let (fields, id) = split(hay);
    let mut best = fields.filter_map(|f| quick_field_with(finder, f.as_bytes(), term.as_bytes())).max();
    if term.len() >= 4 && id.contains(term) {
        best = Some(best.unwrap_or(0).max(10 * term.len() as i64));
    }
    best
}

/// skim's score of one term: the best field, or `None`.
fn skim_term(matcher: &SkimMatcherV2, hay: &str, term: &str) -> Option<i64> {
    let (fields, id) = split(hay);
    let mut best = fields.filter(|f| subsequence(f, term)).filter_map(|f| matcher.fuzzy_match(f, term)).max();
    if term.len() >= 4 && id.contains(term) {
        best = Some(best.unwrap_or(0).max(10 * term.len() as i64));
    }
    best
}

/// A query cancelled by a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl SearchIndex {
    pub fn build(records: &[Record]) -> SearchIndex {
        SearchIndex { haystacks: records.par_iter().map(haystack).collect() }
    }

    /// The searchable text of one record (what [`SearchIndex::build`] keeps).
    pub fn text_of(r: &Record) -> Box<str> {
        haystack(r)
    }

    /// The searchable texts, one per record, in order.
    pub fn texts(&self) -> &[Box<str>] {
        &self.haystacks
    }

    /// The texts, to change in place (one per record, in order).
    pub fn texts_mut(&mut self) -> &mut Vec<Box<str>> {
        &mut self.haystacks
    }

    /// An index over texts made with [`SearchIndex::text_of`].
    pub fn from_texts(haystacks: Vec<Box<str>>) -> SearchIndex {
        SearchIndex { haystacks }
    }

    pub fn len(&self) -> usize {
        self.haystacks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.haystacks.is_empty()
    }

    /// Searches `within` (all records if `None`) for `query`, best first.
    /// Gives up with `Cancelled` once `generation` no longer equals `mine`.
    pub fn search(
        &self,
        query: &str,
        within: Option<&[Hit]>,
        generation: &AtomicU64,
        mine: u64,
    ) -> Result<Vec<Hit>, Cancelled> {
        let q = query.to_lowercase();
        let terms: Vec<&str> = q.split_whitespace().collect();
        if terms.is_empty() {
            return Ok((0..self.haystacks.len() as u32).map(|index| Hit { index, score: 0 }).collect());
        }
        let cancelled = || generation.load(Ordering::Relaxed) != mine;
        const CHUNK: usize = 16 * 1024;
        // Pass 1: who matches, with a cheap score.
        let finders: Vec<memchr::memmem::Finder> = terms.iter().map(memchr::memmem::Finder::new).collect();
        let quick = |i: u32| -> Option<Hit> {
            let hay = self.haystacks.get(i as usize)?;
            let mut total = 0;
            for (t, finder) in terms.iter().zip(&finders) {
                total += quick_term_with(finder, hay, t)?;
            }
            Some(Hit { index: i, score: i32::try_from(total).unwrap_or(i32::MAX) })
        };
        let mut hits: Vec<Hit> = match within {
            Some(prev) => prev
                .par_chunks(CHUNK)
                .flat_map_iter(|chunk| {
                    let skip = cancelled();
                    chunk.iter().filter(move |_| !skip).filter_map(|h| quick(h.index))
                })
                .collect(),
            None => {
                let n = self.haystacks.len() as u32;
                (0..n.div_ceil(CHUNK as u32))
                    .into_par_iter()
                    .flat_map_iter(|c| {
                        let skip = cancelled();
                        let end = ((c + 1) * CHUNK as u32).min(n);
                        (c * CHUNK as u32..end).filter(move |_| !skip).filter_map(quick)
                    })
                    .collect()
            }
        };
        if cancelled() {
            return Err(Cancelled);
        }
        if within.is_some() {
            // Narrowing kept the previous order; restore record order for ties.
            hits.par_sort_unstable_by_key(|h| h.index);
        }
        // Pass 2: a finer ranking when there are few enough hits to afford it.
        if hits.len() <= RERANK_LIMIT {
            let matcher = SkimMatcherV2::default().ignore_case();
            hits.par_iter_mut().for_each(|h| {
                if let Some(hay) = self.haystacks.get(h.index as usize) {
                    let total: i64 = terms.iter().filter_map(|t| skim_term(&matcher, hay, t)).sum();
                    h.score = i32::try_from(total).unwrap_or(i32::MAX);
                }
            });
        }
        if cancelled() {
            return Err(Cancelled);
        }
        sort_hits(&mut hits);
        Ok(hits)
    }
}

/// Best score first, then record order. Cheap scores span a small range, so
/// large result sets are counting-sorted in linear time.
fn sort_hits(hits: &mut Vec<Hit>) {
    let (Some(min), Some(max)) = (hits.iter().map(|h| h.score).min(), hits.iter().map(|h| h.score).max()) else {
        return;
    };
    let range = (max - min) as usize;
    if hits.len() < 50_000 || range > 1 << 16 {
        hits.par_sort_unstable_by(|a, b| b.score.cmp(&a.score).then(a.index.cmp(&b.index)));
        return;
    }
    // Hits arrive in record order (chunks are collected in order), so a
    // stable counting sort by descending score keeps the tie order.
    let mut counts = vec![0usize; range + 1];
    for h in hits.iter() {
        counts[(max - h.score) as usize] += 1;
    }
    let mut start = 0;
    for c in counts.iter_mut() {
        let n = *c;
        *c = start;
        start += n;
    }
    let mut out = vec![Hit { index: 0, score: 0 }; hits.len()];
    for h in hits.iter() {
        let slot = &mut counts[(max - h.score) as usize];
        out[*slot] = *h;
        *slot += 1;
    }
    *hits = out;
}

/// Char positions in `text` matched by `query` (for highlighting), or empty.
pub fn match_positions(text: &str, query: &str) -> Vec<usize> {
    let matcher = SkimMatcherV2::default().ignore_case();
    let mut out = Vec::new();
    for t in query.split_whitespace() {
        if let Some((_, idx)) = matcher.fuzzy_indices(text, t) {
            out.extend(idx);
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn rec(g: &str, f: &str, email: &str) -> Record {
        let mut r = Record::new("t", &format!("{g}{f}"), Utc::now());
        r.given_name = Some(g.into());
        r.family_name = Some(f.into());
        r.email = Some(email.into());
        r
    }

    #[test]
    fn finds_by_name_email_and_multiple_terms() {
        let recs = vec![
            rec("Ada", "Lovelace", "ada@x.org"),
            rec("Alan", "Turing", "alan@y.org"),
            rec("Grace", "Hopper", "gh@z.org"),
        ];
        let idx = SearchIndex::build(&recs);
        let g = AtomicU64::new(1);
        let hits = idx.search("turing", None, &g, 1).expect("not cancelled");
        assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), vec![1]);
        let hits = idx.search("gh@z", None, &g, 1).expect("not cancelled");
        assert_eq!(hits[0].index, 2);
        let hits = idx.search("lovelace ada", None, &g, 1).expect("not cancelled");
        assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), vec![0]);
        // A term must match inside one field, not across fields.
        assert!(idx.search("lovelacex", None, &g, 1).expect("ok").is_empty());
        // The steward id matches by substring.
        let id = recs[2].id.to_string();
        let hits = idx.search(&id[20..], None, &g, 1).expect("ok");
        assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), vec![2]);
        assert!(idx.search("zzzz", None, &g, 1).expect("ok").is_empty());
    }

    #[test]
    fn stale_generation_cancels() {
        let recs = vec![rec("Ada", "Lovelace", "ada@x.org")];
        let idx = SearchIndex::build(&recs);
        let g = AtomicU64::new(2);
        assert_eq!(idx.search("ada", None, &g, 1), Err(Cancelled));
    }

    #[test]
    fn quick_scores_prefer_word_starts_and_reject_other_fields() {
        assert!(quick_field(b"ada lovelace", b"love") > quick_field(b"ada glovelace", b"love"));
        assert!(quick_field(b"ada lovelace", b"ada") > quick_field(b"ada lovelace", b"lvc"));
        assert_eq!(quick_field(b"ada lovelace", b"xyz"), None);
        assert_eq!(subsequence_span(b"abcdef", b"bdf"), Some(5));
        let hay = haystack(&rec("Ada", "Lovelace", "ada@x.org"));
        assert!(quick_term(&hay, "lovelace").is_some());
        assert!(quick_term(&hay, "lovelacex").is_none());
    }

    #[test]
    fn counting_sort_matches_comparison_sort() {
        let mut a: Vec<Hit> = (0..60_000u32).map(|i| Hit { index: i, score: ((i * 7919) % 1500) as i32 }).collect();
        let mut b = a.clone();
        sort_hits(&mut a);
        b.sort_by(|x, y| y.score.cmp(&x.score).then(x.index.cmp(&y.index)));
        assert_eq!(a, b);
    }

    #[test]
    fn subsequence_check() {
        assert!(subsequence("ada lovelace", "alv"));
        assert!(!subsequence("ada lovelace", "xz"));
        assert!(subsequence("zoë", "zë"));
    }

    #[test]
    fn positions_for_highlight() {
        assert_eq!(match_positions("Lovelace", "love"), vec![0, 1, 2, 3]);
    }
}
