//! Where the vendor's paging of a list stood, remembered for a short time,
//! so that OpenIM's offset paging walks a long list in linear time.
//!
//! OpenIM pages by offset (`pageNumber`, `showNumber`); the vendor pages by
//! token (100 a page, each answer naming the next). Without memory, page N
//! walks the vendor's tokens from the start: N vendor calls per page, so a
//! whole walk costs the square of its pages. Here, each token the vendor
//! hands out is remembered with the position it continues from, per list
//! (vendor path, group or user id, role filter), for [`TTL`]; page N+1
//! after page N starts from the nearest token at or before its offset, and
//! costs one or two calls. A cold jump to page N still walks. A list's total
//! is remembered too, so that a role the page does not reach (the owner,
//! the managers) costs no call.
//!
//! Staleness: a token is the vendor's cursor, so continuing from it never
//! repeats or skips a member the vendor still lists in the same order; a
//! member who joined meanwhile appears at the end (as with OpenIM's own
//! offset paging), one who left makes positions after it one less, so a
//! later page may start one member later than OpenIM's offsets would,
//! exactly as OpenIM's offset paging itself skips one when a member before
//! the offset leaves. Writes through this face forget the lists they
//! change at once; changes made elsewhere (another service on the entrust
//! face) are forgotten within [`TTL`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a list's cursors are kept after they were last added to.
pub const TTL: Duration = Duration::from_secs(30);
/// Lists remembered at once; past it the stalest is forgotten.
const MAX_LISTS: usize = 1024;
/// Cursors remembered per list; past it the one nearest the list's start
/// goes (a walk moves forward, and the start needs no cursor). With
/// [`MAX_LISTS`] this bounds the memory: at most 256 Ki tokens.
const MAX_TOKENS: usize = 256;

/// One list at the vendor: its path, the group or user it is of, and the
/// role filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct List {
    pub path: &'static str,
    pub id: String,
    pub kind: i64,
}

struct Cursors {
    at: Instant,
    total: Option<i64>,
    /// Position in the list → the token that fetches from there.
    tokens: BTreeMap<usize, String>,
}

/// The cursors of recently walked lists (see the module doc).
#[derive(Default)]
pub struct Pages {
    lists: Mutex<HashMap<List, Cursors>>,
}

impl Pages {
    fn lists(&self) -> std::sync::MutexGuard<'_, HashMap<List, Cursors>> {
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The list's total, if known and fresh.
    pub fn total(&self, list: &List) -> Option<i64> {
        let lists = self.lists();
        lists
            .get(list)
            .filter(|c| c.at.elapsed() < TTL)
            .and_then(|c| c.total)
    }

    /// The nearest remembered cursor at or before `offset`: its position
    /// and token.
    pub fn cursor(&self, list: &List, offset: usize) -> Option<(usize, String)> {
        let lists = self.lists();
        let c = lists.get(list).filter(|c| c.at.elapsed() < TTL)?;
        let (at, token) = c.tokens.range(..=offset).next_back()?;
        Some((*at, token.clone()))
    }

    /// Remembers that `token` fetches `list` from `position`, and its total.
    pub fn remember(&self, list: &List, position: usize, token: Option<&str>, total: Option<i64>) {
        let mut lists = self.lists();
        let now = Instant::now();
        if !lists.contains_key(list) && lists.len() >= MAX_LISTS {
            lists.retain(|_, c| now.duration_since(c.at) < TTL);
            if lists.len() >= MAX_LISTS
                && let Some(stalest) = lists
                    .iter()
                    .min_by_key(|(_, c)| c.at)
                    .map(|(k, _)| k.clone())
            {
                lists.remove(&stalest);
            }
        }
        let c = lists.entry(list.clone()).or_insert_with(|| Cursors {
            at: now,
            total: None,
            tokens: BTreeMap::new(),
        });
        if now.duration_since(c.at) >= TTL {
            c.tokens.clear();
            c.total = None;
        }
        c.at = now;
        if total.is_some() {
            c.total = total;
        }
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            c.tokens.insert(position, t.to_string());
            if c.tokens.len() > MAX_TOKENS {
                c.tokens.pop_first();
            }
        }
    }

    /// Forgets every list of `id` (a group whose members changed, or a user
    /// whose groups did).
    pub fn forget(&self, id: &str) {
        self.lists().retain(|l, _| l.id != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_cursor_at_or_before_an_offset_is_found_and_forgotten_with_its_list() {
        let p = Pages::default();
        let l = List {
            path: "/entrust/group/member/query.json",
            id: "g".into(),
            kind: 1,
        };
        assert_eq!(p.cursor(&l, 500), None);
        p.remember(&l, 100, Some("t100"), Some(1000));
        p.remember(&l, 200, Some("t200"), None);
        p.remember(&l, 300, Some(""), None);
        assert_eq!(p.cursor(&l, 99), None);
        assert_eq!(p.cursor(&l, 100), Some((100, "t100".into())));
        assert_eq!(p.cursor(&l, 250), Some((200, "t200".into())));
        assert_eq!(p.cursor(&l, 9000), Some((200, "t200".into())));
        assert_eq!(p.total(&l), Some(1000));
        p.forget("other");
        assert_eq!(p.total(&l), Some(1000));
        p.forget("g");
        assert_eq!((p.total(&l), p.cursor(&l, 250)), (None, None));
    }

    #[test]
    fn a_list_keeps_at_most_max_tokens_cursors_the_latest_ones() {
        let p = Pages::default();
        let l = List {
            path: "/entrust/group/member/query.json",
            id: "g".into(),
            kind: 1,
        };
        for i in 1..=MAX_TOKENS + 10 {
            p.remember(&l, i * 10, Some(&format!("t{i}")), None);
        }
        let lists = p.lists();
        let tokens = &lists[&l].tokens;
        assert_eq!(tokens.len(), MAX_TOKENS);
        assert_eq!(tokens.keys().next(), Some(&110));
        assert_eq!(tokens.keys().next_back(), Some(&((MAX_TOKENS + 10) * 10)));
    }

    #[test]
    fn at_most_max_lists_lists_are_kept() {
        let p = Pages::default();
        for i in 0..MAX_LISTS + 5 {
            let l = List {
                path: "/entrust/group/member/query.json",
                id: format!("g{i}"),
                kind: 1,
            };
            p.remember(&l, 100, Some("t"), Some(500));
        }
        assert_eq!(p.lists().len(), MAX_LISTS);
    }
}
