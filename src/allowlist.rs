//! Which requests the gateway serves: the one place that decides whether a
//! path may be forwarded, so the gateway never signs calls outside the
//! entrust API and the v4 group-channel API (it must not be a signing
//! oracle for the vendor's other APIs).
//!
//! The forwarded paths are a closed set, fixed at start-up: the vendor's
//! documented endpoints plus `server.extra_entrust_paths`, and the
//! documented v4 group paths plus `server.extra_v4_paths`. An
//! [`EntrustPath`] (either API's: [`EntrustPath::api`]) can only be made
//! here, from that set, so the limiter and the vendor client never see any
//! other path.
//!
//! Indexes: the documented entrust paths, then the documented v4 paths
//! ([`known`]), then the extra entrust paths, then the extra v4 paths.
//! Whatever is kept per path (quota, metric handles) is found by index.

use std::fmt;

use crate::entrust::path::DOCUMENTED;
use crate::v4::path::DOCUMENTED as V4_DOCUMENTED;

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
    /// Which of the vendor's APIs it belongs to.
    api: Api,
}

/// The vendor's two server APIs the gateway forwards: they differ in body
/// (form or JSON), success code (200 or 0) and which codes say "try again".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `/entrust/**.json`, form bodies (`reference/entrust-api.md`).
    Entrust,
    /// `/v4/**`, JSON bodies (`reference/nexconn-v4-group-api.md`).
    V4,
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
                api: Api::Entrust,
            })
    }

    pub fn as_str(&self) -> &'a str {
        self.path
    }

    /// Which API the path belongs to.
    pub fn api(&self) -> Api {
        self.api
    }

    /// Whether the endpoint only reads (a request that may have reached
    /// the vendor can be sent again): by each API's own list. An extra v4
    /// path is taken for a write, the safe side.
    pub fn is_read_only(&self) -> bool {
        match self.api {
            Api::Entrust => crate::entrust::path::is_read_only(self.path),
            Api::V4 => crate::v4::path::is_read_only(self.path),
        }
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
    /// `server.extra_v4_paths`, less the documented ones.
    extra_v4: Vec<String>,
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
        Ok(Routes {
            extra,
            extra_v4: Vec::new(),
        })
    }

    /// `Some` when `path` is a forwarded entrust path.
    pub fn entrust(&self, path: &str) -> Option<EntrustPath<'_>> {
        EntrustPath::documented(path).or_else(|| {
            let i = self.extra.iter().position(|p| p.as_str() == path)?;
            Some(EntrustPath {
                path: &self.extra[i],
                index: KNOWN + i,
                api: Api::Entrust,
            })
        })
    }

    /// `Some` when `path` is forwarded, whichever API it belongs to.
    pub fn forwarded(&self, path: &str) -> Option<EntrustPath<'_>> {
        self.entrust(path).or_else(|| self.v4(path))
    }

    /// The path at `index` in [`Routes::all`].
    pub fn get(&self, index: usize) -> Option<EntrustPath<'_>> {
        self.all().nth(index)
    }

    /// Every forwarded path (the quota makes one quota for each at start-up).
    pub fn all(&self) -> impl Iterator<Item = EntrustPath<'_>> {
        let documented = known().map(|p| (p, api_of_known(p)));
        let extra = self.extra.iter().map(|p| (p.as_str(), Api::Entrust));
        let extra_v4 = self.extra_v4.iter().map(|p| (p.as_str(), Api::V4));
        documented
            .chain(extra)
            .chain(extra_v4)
            .enumerate()
            .map(|(index, (path, api))| EntrustPath { path, index, api })
    }
}

// The v4 paths: kept apart from the entrust ones above so that each API's
// list can change on its own.

/// How many documented paths there are, both APIs: the first indexes.
pub const KNOWN: usize = DOCUMENTED.len() + V4_DOCUMENTED.len();

/// The documented paths of both APIs, in index order (entrust, then v4):
/// the paths that have their own metric series.
pub fn known() -> impl Iterator<Item = &'static str> {
    DOCUMENTED.iter().chain(V4_DOCUMENTED).copied()
}

/// The documented path at `index`, either API's.
pub fn known_at(index: usize) -> Option<&'static str> {
    DOCUMENTED
        .get(index)
        .or_else(|| V4_DOCUMENTED.get(index.checked_sub(DOCUMENTED.len())?))
        .copied()
}

fn api_of_known(path: &str) -> Api {
    if path.starts_with(crate::v4::path::PREFIX) {
        Api::V4
    } else {
        Api::Entrust
    }
}

impl Routes {
    /// These routes plus `extra` v4 paths (each must be a normalized
    /// `/v4/**` path). `Err` names the configuration key at fault.
    pub fn with_v4(mut self, extra: &[String]) -> Result<Routes, String> {
        for (i, p) in extra.iter().enumerate() {
            if v4_path(p).is_none() {
                return Err(format!(
                    "server.extra_v4_paths[{i}]: {:?} is not a normalized /v4/... path",
                    printable(p)
                ));
            }
        }
        let mut extra: Vec<String> = extra
            .iter()
            .filter(|p| !V4_DOCUMENTED.contains(&p.as_str()))
            .cloned()
            .collect();
        extra.sort();
        extra.dedup();
        self.extra_v4 = extra;
        Ok(self)
    }

    /// `Some` when `path` is a forwarded v4 path.
    pub fn v4(&self, path: &str) -> Option<EntrustPath<'_>> {
        if let Some(i) = V4_DOCUMENTED.iter().position(|p| *p == path) {
            return Some(EntrustPath {
                path: V4_DOCUMENTED[i],
                index: DOCUMENTED.len() + i,
                api: Api::V4,
            });
        }
        let i = self.extra_v4.iter().position(|p| p.as_str() == path)?;
        Some(EntrustPath {
            path: &self.extra_v4[i],
            index: KNOWN + self.extra.len() + i,
            api: Api::V4,
        })
    }
}

/// `Some(path)` when `path` is a normalized `/v4/**` path: segments of
/// ASCII letters, digits, `_` and `-` only (no dots, so no `.` or `..`
/// segments; no percent-encoding), none empty, no trailing `/`.
pub fn v4_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(crate::v4::path::PREFIX)?;
    if path.len() > MAX_PATH_LEN || rest.is_empty() {
        return None;
    }
    let ok_chars = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'/'));
    let ok_segments = rest.split('/').all(|s| !s.is_empty());
    (ok_chars && ok_segments).then_some(path)
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
            assert_eq!(routes.forwarded(p.as_str()), Some(p));
        }
        assert_eq!(routes.all().count(), KNOWN + 2);
        for (i, p) in DOCUMENTED.iter().enumerate() {
            assert_eq!(EntrustPath::documented(p).map(|e| e.index()), Some(i));
        }
        assert_eq!(
            routes.entrust("/entrust/x/a.json").map(|e| e.index()),
            Some(KNOWN)
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
        assert_eq!(r.all().count(), KNOWN + 1);
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

    /// v4 paths: the documented ones (both spellings) and the configured
    /// extra ones, each with its own index after the entrust ones.
    #[test]
    fn v4_paths_are_routes_with_their_own_indexes() {
        let routes = Routes::new(&["/entrust/x/a.json".into()])
            .unwrap()
            .with_v4(&["/v4/group-channel/newer".into(), V4_DOCUMENTED[0].into()])
            .unwrap();
        assert_eq!(routes.all().count(), KNOWN + 2);
        for (i, p) in routes.all().enumerate() {
            assert_eq!(p.index(), i);
            assert_eq!(routes.get(i), Some(p));
            assert_eq!(routes.forwarded(p.as_str()), Some(p));
        }
        for p in V4_DOCUMENTED {
            let r = routes.v4(p).unwrap();
            assert_eq!(r.api(), Api::V4);
            assert!(r.index() >= DOCUMENTED.len() && r.index() < KNOWN);
            assert!(routes.entrust(p).is_none(), "{p} is not an entrust path");
            assert_eq!(r.is_read_only(), crate::v4::path::is_read_only(p));
        }
        assert!(routes.v4(crate::v4::path::QUIT).is_some());
        assert!(routes.v4(crate::v4::path::MUTE_LIST_GET_DASHED).is_some());
        let extra = routes.v4("/v4/group-channel/newer").unwrap();
        assert_eq!(extra.index(), KNOWN + 1);
        assert!(!extra.is_read_only(), "an extra v4 path counts as a write");
        assert!(routes.v4("/v4/group-channel/invented").is_none());
        assert!(routes.v4("/entrust/group/create.json").is_none());
        assert!(routes.v4(crate::v4::path::MESSAGE_SEND).is_none());
        assert_eq!(known().count(), KNOWN);
        for (i, p) in known().enumerate() {
            assert_eq!(known_at(i), Some(p));
        }
        assert_eq!(known_at(KNOWN), None);
        assert!(
            Routes::new(&[])
                .unwrap()
                .with_v4(&["/v4/a/../b".into()])
                .is_err()
        );
    }

    #[test]
    fn accepts_normalized_v4_paths_only() {
        for ok in ["/v4/group-channel/create", "/v4/a_b/c-d/e1"] {
            assert_eq!(v4_path(ok), Some(ok));
        }
        for bad in [
            "/v4/",
            "/v4//x",
            "/v4/x/",
            "/v4/x/../y",
            "/v4/x/./y",
            "/v4/x%2Fy",
            "/v4/x.json",
            "/V4/x",
            "/entrust/x.json",
            "v4/x",
        ] {
            assert_eq!(v4_path(bad), None, "{bad}");
        }
        assert_eq!(v4_path(&format!("/v4/{}", "a".repeat(300))), None);
    }
}
