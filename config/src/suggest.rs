//! "Did you mean …?" — the closest known word to a misspelt one.
//!
//! Words are compared after folding case and dropping `-`/`_`, so MetalLB CRD spellings
//! (`peerAddress`, `aggregationLength`) map to the legacy keys (`peer-address`, `aggregation-length`).

/// Only this many candidates are compared (in the order given).
const MAX_CANDIDATES: usize = 256;

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub(crate) fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let folded = fold(word);
    if folded.is_empty() || folded.len() > 64 {
        return None;
    }
    let limit = (folded.chars().count() / 3).max(2);
    // Bounded work however many names a config defines.
    candidates
        .into_iter()
        .take(MAX_CANDIDATES)
        .map(|c| (distance(&folded, &fold(c)), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn fold(word: &str) -> String {
    word.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Levenshtein distance over chars (inputs are short: keys and names).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_crd_spellings() {
        let keys = ["peer-address", "peer-asn", "my-asn", "peer-port"];
        assert_eq!(closest("peer-adress", keys), Some("peer-address"));
        assert_eq!(closest("peerAddress", keys), Some("peer-address"));
        assert_eq!(closest("myASN", keys), Some("my-asn"));
        assert_eq!(closest("completely-different", keys), None);
        assert_eq!(closest("", keys), None);
    }

    #[test]
    fn distance_basics() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
