//! The store's rules, one by one.

use super::*;

fn users(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn store_with(id: &str, owner: &str, members: &[&str]) -> Store {
    let mut s = Store::default();
    s.create(id, "n", owner, &users(members), ProfileParams::default(), 1)
        .unwrap();
    s
}

fn roles(s: &Store, id: &str) -> Vec<(String, i64)> {
    GroupSnapshot::from(s.get(id).unwrap()).members
}

#[test]
fn create_and_exists() {
    let mut s = store_with("g", "o", &["a", "o", "b"]);
    assert_eq!(
        roles(&s, "g"),
        [("o".into(), 3), ("a".into(), 1), ("b".into(), 1)]
    );
    let e = s
        .create("g", "n", "o", &[], ProfileParams::default(), 2)
        .unwrap_err();
    assert_eq!(e.code, 25409);
}

#[test]
fn join_rules() {
    let mut s = store_with("g", "o", &["a"]);
    assert_eq!(s.join("g", &users(&["b", "a"]), 2).unwrap_err().code, 25412);
    assert_eq!(roles(&s, "g").len(), 2, "all or nothing");
    s.join("g", &users(&["b"]), 2).unwrap();
    assert_eq!(s.join("x", &users(&["b"]), 2).unwrap_err().code, 25410);
    let many: Vec<String> = (0..MEMBER_MAX).map(|i| format!("u{i}")).collect();
    assert_eq!(s.join("g", &many, 3).unwrap_err().code, 25411);
}

#[test]
fn remove_and_transfer() {
    let mut s = store_with("g", "o", &["a", "b"]);
    assert_eq!(
        s.remove("g", &users(&["o"]), false).unwrap_err().code,
        25417
    );
    assert_eq!(
        s.remove("g", &users(&["a", "z"]), false).unwrap_err().code,
        25418
    );
    s.remove("g", &users(&["a"]), false).unwrap();
    assert_eq!(s.transfer("g", "z", false, false).unwrap_err().code, 25418);
    s.transfer("g", "b", false, false).unwrap();
    assert_eq!(roles(&s, "g"), [("o".into(), 1), ("b".into(), 3)]);
    s.transfer("g", "o", true, false).unwrap();
    assert_eq!(roles(&s, "g"), [("o".into(), 3)]);
    assert_eq!(s.get("g").unwrap().owner, "o");
}

#[test]
fn managers() {
    let mut s = store_with("g", "o", &["a", "b"]);
    assert_eq!(s.manager_add("g", &users(&["o"])).unwrap_err().code, 25417);
    let (absent, n) = s.manager_add("g", &users(&["a", "z"])).unwrap();
    assert_eq!((absent, n), (vec!["z".to_owned()], 1));
    assert_eq!(
        s.manager_remove("g", &users(&["a", "b"])).unwrap_err().code,
        25420
    );
    s.manager_remove("g", &users(&["a"])).unwrap();
    assert_eq!(roles(&s, "g")[1], ("a".into(), 1));
    let many: Vec<String> = (0..MANAGER_MAX + 1).map(|i| format!("m{i}")).collect();
    s.join("g", &many, 2).unwrap();
    assert_eq!(s.manager_add("g", &many).unwrap_err().code, 25419);
}

#[test]
fn follows_and_remarks() {
    let mut s = store_with("g", "o", &["a", "b", "c"]);
    assert_eq!(
        s.follow("g", "z", &users(&["a"]), 1).unwrap_err().code,
        25418
    );
    assert_eq!(
        s.follow("g", "a", &users(&["b", "z"]), 1).unwrap_err().code,
        25418
    );
    s.follow("g", "a", &users(&["b", "c"]), 1).unwrap();
    s.follow("g", "a", &users(&["b"]), 2).unwrap();
    assert_eq!(
        s.followed("g", "a").unwrap(),
        [("b".to_owned(), 1), ("c".to_owned(), 1)]
    );
    s.unfollow("g", "a", &users(&["c", "o"])).unwrap();
    assert_eq!(s.followed("g", "a").unwrap(), [("b".to_owned(), 1)]);
    // isDelFollowed on quit forgets follows both ways.
    s.remove("g", &users(&["b"]), true).unwrap();
    assert!(s.followed("g", "a").unwrap().is_empty());

    let many: Vec<String> = (0..FOLLOW_MAX).map(|i| format!("f{i}")).collect();
    s.join("g", &many, 3).unwrap();
    s.follow("g", "c", &many, 3).unwrap();
    assert_eq!(
        s.follow("g", "c", &users(&["a"]), 3).unwrap_err().code,
        25419
    );

    assert_eq!(s.remark_set("g", "z", "r").unwrap_err().code, 25418);
    s.remark_set("g", "a", "mine").unwrap();
    assert_eq!(s.get("g").unwrap().remark("a"), "mine");
    s.remark_delete("g", "a").unwrap();
    assert_eq!(s.get("g").unwrap().remark("a"), "");
    assert_eq!(s.remark_delete("x", "a").unwrap_err().code, 25410);
}
