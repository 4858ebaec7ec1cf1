//! The token's round trip and refusals, the secret check, the throttle.

use super::*;

fn code(r: Result<String, Error>) -> i64 {
    match r {
        Err(Error::Token { code, .. }) => code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn round_trip_and_refusals() {
    let s = Secret::new("openIM123".into());
    let admins = vec!["imAdmin".to_string(), "a.b".to_string()];
    let t = issue(&s, "imAdmin", 1000).unwrap();
    assert_eq!(verify(&s, &t, &admins, 999).unwrap(), "imAdmin");
    assert_eq!(code(verify(&s, &t, &admins, 1000)), 1501);
    let other = Secret::new("other".into());
    assert_eq!(code(verify(&other, &t, &admins, 1)), 1502);
    // Altered expiry or user.
    let longer = t.replacen(".1000.", ".9999.", 1);
    assert_eq!(code(verify(&s, &longer, &admins, 1)), 1502);
    let dotted = issue(&s, "a.b", 1000).unwrap();
    assert_eq!(verify(&s, &dotted, &admins, 1).unwrap(), "a.b");
    let forged = format!("v1.{}.1000.{}", hex::encode("a.b"), "00".repeat(20));
    assert_eq!(code(verify(&s, &forged, &admins, 1)), 1502);
    assert_eq!(code(verify(&s, &t, &["x".to_string()], 1)), 1502);
    for bad in [
        "",
        "x",
        "v1.zz.1.00",
        "v2.00.1.00",
        "v1.00.-1.00",
        // Rust's u64 parser takes a leading '+': only the digit check refuses it.
        "v1.00.+1.00",
        "v1.00.1.00.00",
        "v1.00..00",
    ] {
        assert_eq!(code(verify(&s, bad, &admins, 1)), 1503, "{bad}");
    }
    assert!(!t.contains("openIM123"));
}

#[test]
fn secret_compare() {
    assert!(same_secret("abc", "abc"));
    assert!(!same_secret("abc", "abd"));
    assert!(!same_secret("abc", "abcd"));
    assert!(!same_secret("", "a"));
}
