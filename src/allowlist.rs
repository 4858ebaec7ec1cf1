//! Which requests the gateway serves: the one place that decides whether a
//! path may be forwarded, so the gateway never signs calls outside the
//! entrust API (it must not be a signing oracle for the vendor's other APIs).
//!
//! The forwarded paths are a closed set, fixed at start-up: the vendor's
//! documented endpoints plus `server.extra_entrust_paths`. An
//! [`EntrustPath`] can only be made here, from that set, so the limiter and
//! the vendor client never see any other path.

use std::fmt;

use crate::entrust::path::DOCUMENTED;

/// Longest path the gateway forwards.
pub const MAX_PATH_LEN: usize = 256;

/// A path the gateway forwards: made only by [`Routes::entrust`] or
/// [`EntrustPath::documented`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntrustPath<'a> {
    path: &'a str,
    /// Its place in [`Routes::all`]: the documented paths in
    /// [`DOCUMENTED`]'s order, then the extra ones. What is kept per path
    /// (quota, metric handles) is found by it, not by the name again.
    index: usize,
}

impl<'a> EntrustPath<'a> {
    /// A documented endpoint (the constants in [`crate::entrust::path`]).
    pub fn documented(path: &str) -> Option<EntrustPath<'static>> {
        DOCUMENTED
            .iter()
            .position(|p| *p == path)
            .map(|index| EntrustPath {
                path: DOCUMENTED[index],
                index,
            })
    }

    pub fn as_str(&self) -> &'a str {
        self.path
    }

    /// Its place in [`Routes::all`].
    pub fn index(&self) -> usize {
        self.index
    }
}

impl fmt::Display for EntrustPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path)
    }
}

/// The paths this gateway forwards.
#[derive(Debug, Clone)]
pub struct Routes {
    extra: Vec<String>,
}

impl Routes {
    /// The documented paths plus `extra` (each must be a normalized
    /// `/entrust/**.json` path).
    /// `Err` names the configuration key at fault.
    pub fn new(extra: &[String]) -> Result<Routes, String> {
        for (i, p) in extra.iter().enumerate() {
            if entrust_path(p).is_none() {
                return Err(format!(
                    "server.extra_entrust_paths[{i}]: {:?} is not a normalized /entrust/....json path",
                    printable(p)
                ));
            }
        }
        let mut extra: Vec<String> = extra
            .iter()
            .filter(|p| !DOCUMENTED.contains(&p.as_str()))
            .cloned()
            .collect();
        extra.sort();
        extra.dedup();
        Ok(Routes { extra })
    }

    /// `Some` when `path` is forwarded.
    pub fn entrust(&self, path: &str) -> Option<EntrustPath<'_>> {
        EntrustPath::documented(path).or_else(|| {
            let i = self.extra.iter().position(|p| p.as_str() == path)?;
            Some(EntrustPath {
                path: &self.extra[i],
                index: DOCUMENTED.len() + i,
            })
        })
    }

    /// The path at `index` in [`Routes::all`].
    pub fn get(&self, index: usize) -> Option<EntrustPath<'_>> {
        match DOCUMENTED.get(index) {
            Some(path) => Some(EntrustPath { path, index }),
            None => self
                .extra
                .get(index - DOCUMENTED.len())
                .map(|path| EntrustPath { path, index }),
        }
    }

    /// Every forwarded path (the quota makes one quota for each at start-up).
    pub fn all(&self) -> impl Iterator<Item = EntrustPath<'_>> {
        DOCUMENTED
            .iter()
            .map(|p| &**p)
            .chain(self.extra.iter().map(String::as_str))
            .enumerate()
            .map(|(index, path)| EntrustPath { path, index })
    }
}

/// `Some(path)` when `path` is a normalized `/entrust/**.json` path: only
/// ASCII letters, digits, `_`, `-` and `.`, no empty, `.` or `..` segments,
/// and no percent-encoding (so no encoded slashes or dots either).
pub fn entrust_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(crate::entrust::path::PREFIX)?;
    if path.len() > MAX_PATH_LEN || !rest.ends_with(".json") {
        return None;
    }
    let ok_chars = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'));
    let ok_segments = rest
        .split('/')
        .all(|s| !s.is_empty() && s != "." && s != ".." && !s.starts_with('.'));
    (ok_chars && ok_segments && rest.len() > ".json".len()).then_some(path)
}

// ---- The vendor's legacy group mute paths (OpenIM mute routes) ----
//
// `/group/user/gag/{add,rollback,list}.json` and
// `/group/ban/{add,rollback,query}.json` are documented paths
// (`entrust::path::LEGACY_MUTE`, part of `DOCUMENTED`): forwarded as they
// are, each with its own quota, like the entrust paths. They are not
// `/entrust/` paths, so `server.extra_entrust_paths` can't name them and
// no other `/group/....json` path is forwarded.

/// Whether `path` is one of the legacy mute paths the gateway forwards.
pub fn is_legacy_mute(path: &str) -> bool {
    crate::entrust::path::LEGACY_MUTE.contains(&path)
}

// ---- end of the legacy mute paths ----

/// A path as it may appear in an error message: at most 80 characters.
pub fn printable(path: &str) -> String {
    let mut s: String = path.chars().take(80).collect();
    if path.len() > s.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_s_index_is_its_place_in_all() {
        let routes =
            Routes::new(&["/entrust/x/b.json".into(), "/entrust/x/a.json".into()]).unwrap();
        for (i, p) in routes.all().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(routes.entrust(p.as_str()), Some(p));
        }
        assert_eq!(routes.all().count(), DOCUMENTED.len() + 2);
        for (i, p) in DOCUMENTED.iter().enumerate() {
            assert_eq!(EntrustPath::documented(p).map(|e| e.index()), Some(i));
        }
        assert_eq!(
            routes.entrust("/entrust/x/a.json").map(|e| e.index()),
            Some(DOCUMENTED.len())
        );
        // Displayed as the path (refusal details name it).
        let p = routes.entrust("/entrust/x/a.json").unwrap();
        assert_eq!(p.to_string(), "/entrust/x/a.json");
    }

    #[test]
    fn the_legacy_mute_paths_are_routes_and_no_other_group_json_path() {
        let r = Routes::new(&[]).unwrap();
        for p in crate::entrust::path::LEGACY_MUTE {
            assert!(is_legacy_mute(p));
            assert_eq!(r.entrust(p).map(|e| e.as_str()), Some(p));
        }
        assert!(r.entrust("/group/user/ban/whitelist/add.json").is_none());
        assert!(r.entrust("/group/create.json").is_none());
        assert!(!is_legacy_mute("/group/create.json"));
        // extra_entrust_paths can't add one.
        assert!(Routes::new(&["/group/create.json".into()]).is_err());
    }

    #[test]
    fn only_documented_and_configured_paths_are_routes() {
        let r = Routes::new(&["/entrust/new/thing.json".into()]).unwrap();
        assert_eq!(r.all().count(), DOCUMENTED.len() + 1);
        assert!(r.entrust("/entrust/group/create.json").is_some());
        assert!(r.entrust("/entrust/new/thing.json").is_some());
        assert!(r.entrust("/entrust/group/invented.json").is_none());
        assert!(Routes::new(&["/user/getToken.json".into()]).is_err());
    }

    #[test]
    fn accepts_entrust_json_paths_only() {
        for ok in [
            "/entrust/group/create.json",
            "/entrust/group/member/kick/all.json",
            "/entrust/joined/group/query.json",
        ] {
            assert_eq!(entrust_path(ok), Some(ok));
        }
        for bad in [
            "/user/getToken.json",
            "/entrust/../user/getToken.json",
            "/entrust//group/create.json",
            "/entrust/group/./create.json",
            "/entrust/group%2Fcreate.json",
            "/entrust/group/create",
            "/entrust/.json",
            "/entrust/",
            "/ENTRUST/group/create.json",
            "/entrust/group/create.json/",
            "/entrust/group/create.json.bak",
            "//entrust/group/create.json",
        ] {
            assert_eq!(entrust_path(bad), None, "{bad}");
        }
        assert_eq!(
            entrust_path(&format!("/entrust/{}.json", "a".repeat(300))),
            None
        );
    }

    /// The length bound is inclusive.
    #[test]
    fn a_path_of_exactly_max_path_len_is_accepted_one_more_is_not() {
        let prefix = "/entrust/";
        let fill = |n: usize| {
            format!(
                "{prefix}{}.json",
                "a".repeat(n - prefix.len() - ".json".len())
            )
        };
        let at = fill(MAX_PATH_LEN);
        assert_eq!(at.len(), MAX_PATH_LEN);
        assert_eq!(entrust_path(&at), Some(at.as_str()));
        let over = fill(MAX_PATH_LEN + 1);
        assert_eq!(entrust_path(&over), None);
    }

    /// Error messages cut a long path at 80 characters, marked with an
    /// ellipsis, and leave a short one whole.
    #[test]
    fn printable_cuts_at_80_characters_with_an_ellipsis() {
        let short = "/entrust/group/create.json";
        assert_eq!(printable(short), short);
        let exactly = "a".repeat(80);
        assert_eq!(printable(&exactly), exactly);
        let long = "b".repeat(81);
        assert_eq!(printable(&long), format!("{}…", "b".repeat(80)));
    }

    #[test]
    fn get_finds_each_path_by_its_index() {
        let routes = Routes::new(&["/entrust/x/a.json".into()]).unwrap();
        for p in routes.all() {
            assert_eq!(routes.get(p.index()), Some(p));
        }
        assert_eq!(routes.get(routes.all().count()), None);
    }
}
