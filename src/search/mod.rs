//! Interactive fuzzy search over records, built in memory after unlock.
//!
//! Each record contributes one lower-cased haystack of fields (name, email,
//! phone, source id, steward id). A query is split on whitespace; every term
//! must match inside one field (skim's fuzzy algorithm, as in fzf; the random
//! steward id only by substring, or it would match everything), and the
//! scores add up. A cheap in-order character check rejects most records
//! before the matcher runs;
//! the work is spread over all cores and abandoned as soon as a newer
//! keystroke supersedes it. Pure: no I/O, no terminal.

use std::sync::atomic::{AtomicU64, Ordering};

use fuzzy_matcher::FuzzyMatcher;
use fuzzy_matcher::skim::SkimMatcherV2;
use rayon::prelude::*;

use crate::model::Record;

/// One match: index into the record list, and its score (higher is better).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub index: u32,
    pub score: i64,
}

/// The searchable text of every record.
pub struct SearchIndex {
    haystacks: Vec<Box<str>>,
}

/// Bytes of one field at most inside a haystack.
const MAX_FIELD: usize = 96;

/// Separates fields inside a haystack.
const SEP: char = '\u{1f}';

fn haystack(r: &Record) -> Box<str> {
    let mut s = String::with_capacity(96);
    let name = r.display_name();
    for part in [Some(name.as_str()), r.email.as_deref(), r.phone.as_deref(), Some(r.source_id.as_str())] {
        let part = part.unwrap_or("");
        // Bound each field so per-keystroke work stays bounded.
        let mut cut = part.len().min(MAX_FIELD);
        while !part.is_char_boundary(cut) {
            cut -= 1;
        }
        s.push_str(&part[..cut].replace(SEP, " "));
        s.push(SEP);
    }
    s.push_str(&r.id.to_string());
    s.to_lowercase().into_boxed_str()
}

/// Score of one term against one haystack: the best field, or `None`.
fn score_term(matcher: &SkimMatcherV2, hay: &str, term: &str) -> Option<i64> {
    let mut fields = hay.split(SEP);
    let id = fields.next_back()?;
    let mut best = fields.filter(|f| subsequence(f, term)).filter_map(|f| matcher.fuzzy_match(f, term)).max();
    if term.len() >= 4 && id.contains(term) {
        best = Some(best.unwrap_or(0).max(10 * term.len() as i64));
    }
    best
}

/// True when every char of `needle` occurs in `hay` in order.
fn subsequence(hay: &str, needle: &str) -> bool {
    if needle.is_ascii() {
        let mut n = needle.as_bytes().iter().peekable();
        for b in hay.as_bytes() {
            match n.peek() {
                Some(&&c) if c == *b => {
                    n.next();
                }
                None => return true,
                _ => {}
            }
        }
        n.peek().is_none()
    } else {
        let mut n = needle.chars().peekable();
        for c in hay.chars() {
            if n.peek() == Some(&c) {
                n.next();
            }
        }
        n.peek().is_none()
    }
}

/// A query cancelled by a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl SearchIndex {
    pub fn build(records: &[Record]) -> SearchIndex {
        SearchIndex { haystacks: records.par_iter().map(haystack).collect() }
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
        let matcher = SkimMatcherV2::default().ignore_case();
        let score = |i: u32| -> Option<Hit> {
            let hay = self.haystacks.get(i as usize)?;
            let mut total = 0;
            for t in &terms {
                if !subsequence(hay, t) {
                    return None;
                }
                total += score_term(&matcher, hay, t)?;
            }
            Some(Hit { index: i, score: total })
        };
        const CHUNK: usize = 16 * 1024;
        let candidates: Vec<u32> = match within {
            Some(prev) => prev.iter().map(|h| h.index).collect(),
            None => (0..self.haystacks.len() as u32).collect(),
        };
        let chunks: Vec<Option<Vec<Hit>>> = candidates
            .par_chunks(CHUNK)
            .map(|chunk| {
                if generation.load(Ordering::Relaxed) != mine {
                    return None;
                }
                Some(chunk.iter().filter_map(|&i| score(i)).collect())
            })
            .collect();
        let mut hits = Vec::new();
        for c in chunks {
            hits.extend(c.ok_or(Cancelled)?);
        }
        if generation.load(Ordering::Relaxed) != mine {
            return Err(Cancelled);
        }
        hits.par_sort_unstable_by(|a, b| b.score.cmp(&a.score).then(a.index.cmp(&b.index)));
        Ok(hits)
    }
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
        let recs = vec![rec("Ada", "Lovelace", "ada@x.org"), rec("Alan", "Turing", "alan@y.org"), rec("Grace", "Hopper", "gh@z.org")];
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
