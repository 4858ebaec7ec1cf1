//! Opaque page tokens for the paged queries.
//!
//! A token names the last item returned (by its sequence number) and is bound
//! to the query it came from (group or user, filter, order): a token that was
//! altered, or sent with a different query, answers 25432. Paging by cursor
//! rather than offset means a join or quit between pages neither repeats nor
//! skips anyone. The last page answers `pageToken: ""`.

use sha1::{Digest, Sha1};

use super::reply::ApiError;
use crate::entrust::code;

fn check(context: &str, seq: u64) -> String {
    let mut h = Sha1::new();
    h.update(b"sim-page|");
    h.update(context.as_bytes());
    h.update(b"|");
    h.update(seq.to_be_bytes());
    hex::encode(h.finalize())[..8].to_owned()
}

pub(crate) fn encode(context: &str, seq: u64) -> String {
    format!("{seq:016x}{}", check(context, seq))
}

/// The cursor in `token`; `None` for a missing or empty token (first page).
pub(crate) fn decode(context: &str, token: Option<&str>) -> Result<Option<u64>, ApiError> {
    let t = match token {
        None | Some("") => return Ok(None),
        Some(t) => t,
    };
    let bad = || {
        ApiError::new(
            code::BAD_PAGE_TOKEN,
            "pageToken is not valid for this query",
        )
    };
    if t.len() != 24 || !t.is_ascii() {
        return Err(bad());
    }
    let seq = u64::from_str_radix(&t[..16], 16).map_err(|_| bad())?;
    if t[16..] != check(context, seq) {
        return Err(bad());
    }
    Ok(Some(seq))
}

/// One page of `items` (already in answer order), after `cursor`.
/// `ascending` says which way the sequence numbers run.
pub(crate) fn page<T>(
    items: Vec<T>,
    seq: impl Fn(&T) -> u64,
    cursor: Option<u64>,
    ascending: bool,
    size: usize,
    context: &str,
) -> (Vec<T>, String) {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|it| match cursor {
            None => true,
            Some(c) if ascending => seq(it) > c,
            Some(c) => seq(it) < c,
        })
        .collect();
    let more = rest.len() > size;
    rest.truncate(size);
    let token = match rest.last() {
        Some(last) if more => encode(context, seq(last)),
        _ => String::new(),
    };
    (rest, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let t = encode("g|0|1", 42);
        assert_eq!(decode("g|0|1", Some(&t)).unwrap(), Some(42));
        assert_eq!(decode("g|0|1", None).unwrap(), None);
        assert_eq!(decode("g|0|0", Some(&t)).unwrap_err().code, 25432);
        assert_eq!(decode("g|0|1", Some("garbage")).unwrap_err().code, 25432);
        let mut bad = t.clone();
        bad.replace_range(15..16, if &t[15..16] == "0" { "1" } else { "0" });
        assert_eq!(decode("g|0|1", Some(&bad)).unwrap_err().code, 25432);
    }

    #[test]
    fn pages_both_ways() {
        let items: Vec<u64> = (1..=5).collect();
        let (p1, t1) = page(items.clone(), |x| *x, None, true, 2, "c");
        assert_eq!(p1, [1, 2]);
        let c = decode("c", Some(&t1)).unwrap();
        let (p2, _) = page(items.clone(), |x| *x, c, true, 2, "c");
        assert_eq!(p2, [3, 4]);
        let (p3, t3) = page(items.clone(), |x| *x, Some(4), true, 2, "c");
        assert_eq!((p3, t3.as_str()), (vec![5], ""));
        let desc: Vec<u64> = items.into_iter().rev().collect();
        let (d, _) = page(desc, |x| *x, Some(4), false, 2, "c");
        assert_eq!(d, [3, 2]);
    }
}
