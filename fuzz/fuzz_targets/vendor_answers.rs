//! Any bytes as a vendor answer: the parsers in `entrust::profile` and the
//! OpenIM translators on what they return must never panic, and keep their
//! invariants.
#![no_main]

use entrust_gateway::entrust::profile;
use entrust_gateway::openim::{group, member};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    if let Ok(list) = profile::parse_profiles(body) {
        for p in &list {
            assert!(!p.group_id.is_empty());
            let info = group::group_info(p);
            assert_eq!(info.as_object().map(|m| m.len()), Some(17));
        }
    }
    if let Ok(page) = profile::parse_members(body) {
        for m in &page.items {
            assert!(!m.user_id.is_empty());
            let v = member::group_member("g", m);
            assert!([100, 60, 20].contains(&v["roleLevel"].as_i64().unwrap_or(0)));
        }
    }
    if let Ok(page) = profile::parse_joined_groups(body) {
        assert!(page.items.iter().all(|g| !g.group_id.is_empty()));
    }
    let _ = profile::status(body);
});
