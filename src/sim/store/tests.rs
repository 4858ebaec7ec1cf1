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
        s.remove("g", &users(&["o"]), Cleanup::NONE)
            .unwrap_err()
            .code,
        25417
    );
    assert_eq!(
        s.remove("g", &users(&["a", "z"]), Cleanup::NONE)
            .unwrap_err()
            .code,
        25418
    );
    s.remove("g", &users(&["a"]), Cleanup::NONE).unwrap();
    assert_eq!(
        s.transfer("g", "z", false, Cleanup::NONE).unwrap_err().code,
        25418
    );
    s.transfer("g", "b", false, Cleanup::NONE).unwrap();
    assert_eq!(roles(&s, "g"), [("o".into(), 1), ("b".into(), 3)]);
    s.transfer("g", "o", true, Cleanup::NONE).unwrap();
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
    s.remove(
        "g",
        &users(&["b"]),
        Cleanup {
            favorites: true,
            ..Cleanup::NONE
        },
    )
    .unwrap();
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

/// nexconn-v4-group-api.md §7.5: leaving removes what the cleanup flags
/// name: the mute in the group, the allowed-sender entry, the favorites.
#[test]
fn cleanup_on_leave() {
    let mut s = store_with("g", "o", &["a", "b", "c"]);
    s.mute_add(Some("g"), &users(&["a", "b"]), 0, 1, 100)
        .unwrap();
    s.allowed_add("g", &users(&["a", "b"])).unwrap();
    s.follow("g", "c", &users(&["a", "b"]), 1).unwrap();
    s.remove("g", &users(&["a"]), Cleanup::NONE).unwrap();
    let snap = GroupSnapshot::from(s.get("g").unwrap());
    assert_eq!(
        snap.muted,
        ["a", "b"],
        "kept: §7.M, a mute survives leaving"
    );
    assert_eq!(snap.allowed_senders, ["a", "b"]);
    s.remove("g", &users(&["b"]), Cleanup::ALL).unwrap();
    let snap = GroupSnapshot::from(s.get("g").unwrap());
    assert_eq!(snap.muted, ["a"]);
    assert_eq!(snap.allowed_senders, ["a"]);
    assert_eq!(s.followed("g", "c").unwrap(), [("a".to_owned(), 1)]);
    // The old owner leaving on transfer.
    s.join("g", &users(&["d"]), 2).unwrap();
    s.mute_add(Some("g"), &users(&["o"]), 0, 2, 100).unwrap();
    s.transfer("g", "d", true, Cleanup::ALL).unwrap();
    assert_eq!(GroupSnapshot::from(s.get("g").unwrap()).muted, ["a"]);
}

/// nexconn-v4-group-api.md §7.M: mutes expire, restart when repeated, and
/// the global list holds at most the given number of users.
#[test]
fn mutes() {
    let mut s = store_with("g", "o", &["a"]);
    assert_eq!(
        s.mute_add(Some("x"), &users(&["a"]), 1, 0, 100)
            .unwrap_err()
            .code,
        25410
    );
    s.mute_add(Some("g"), &users(&["a"]), 1, 0, 100).unwrap();
    s.mute_add(Some("g"), &users(&["z"]), 0, 0, 100).unwrap();
    let live = |s: &Store, now| -> Vec<String> {
        s.mutes(Some("g"), now)
            .unwrap()
            .into_iter()
            .map(|m| m.user_id)
            .collect()
    };
    assert_eq!(live(&s, 59_999), ["a", "z"]);
    assert_eq!(live(&s, 60_000), ["z"], "one minute, then over");
    s.mute_add(Some("g"), &users(&["a"]), 1, 30_000, 100)
        .unwrap();
    assert_eq!(live(&s, 60_000), ["z", "a"], "muting again restarts");
    s.mute_remove(Some("g"), &users(&["z", "nobody"])).unwrap();
    assert_eq!(live(&s, 60_000), ["a"]);
    s.mute_add(None, &users(&["p", "q"]), 0, 0, 2).unwrap();
    assert_eq!(
        s.mute_add(None, &users(&["r"]), 0, 0, 2).unwrap_err().code,
        1005
    );
    s.mute_add(None, &users(&["p"]), 0, 0, 2).unwrap();
    assert_eq!(s.mutes(None, 0).unwrap().len(), 2);
}

#[test]
fn freeze_and_allowed_senders() {
    let mut s = store_with("g", "o", &[]);
    s.create("h", "n", "o", &[], ProfileParams::default(), 1)
        .unwrap();
    assert_eq!(s.freeze(&users(&["g", "x"]), true).unwrap_err().code, 25410);
    assert!(s.frozen().is_empty(), "all or nothing");
    s.freeze(&users(&["h"]), true).unwrap();
    s.freeze(&users(&["g", "h"]), true).unwrap();
    let ids: Vec<&str> = s.frozen().iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["h", "g"], "freeze order; refreezing keeps the place");
    s.freeze(&users(&["h"]), false).unwrap();
    assert_eq!(s.frozen().len(), 1);
    s.allowed_add("g", &users(&["b", "a", "b"])).unwrap();
    s.allowed_remove("g", &users(&["b", "z"])).unwrap();
    assert_eq!(s.get("g").unwrap().allowed_senders, ["a"]);
    assert_eq!(s.allowed_add("x", &users(&["a"])).unwrap_err().code, 25410);
}
