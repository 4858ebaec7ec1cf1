//! Which requests the gateway serves: the one place that decides whether a
//! path may be forwarded, so the gateway never signs calls outside the
//! entrust API (it must not be a signing oracle for the vendor's other APIs).

/// Longest path the gateway forwards.
pub const MAX_PATH_LEN: usize = 256;

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
    use super::entrust_path;

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
}
