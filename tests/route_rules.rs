//! The route check's edges (src/route.rs), which the mutation run found
//! unguarded: the length bound is inclusive, and error messages cut a long
//! path at 80 characters, marked with an ellipsis, and leave a short one whole.

use entrust_gateway::route::{MAX_PATH_LEN, entrust_path, printable};

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

#[test]
fn printable_cuts_at_80_characters_with_an_ellipsis() {
    let short = "/entrust/group/create.json";
    assert_eq!(printable(short), short);
    let exactly = "a".repeat(80);
    assert_eq!(printable(&exactly), exactly);
    let long = "b".repeat(81);
    assert_eq!(printable(&long), format!("{}…", "b".repeat(80)));
}
