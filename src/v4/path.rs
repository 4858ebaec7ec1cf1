/// Every v4 path starts so (§0, §5).
pub const PREFIX: &str = "/v4/";
/// Every group-channel path starts so (§5).
pub const GROUP_CHANNEL_PREFIX: &str = "/v4/group-channel/";

// Group-channel management: the 21 paths of §5 rows 1-21 ([YAML]
// operationIds in the trailing comments), plus the [DOC] spelling of
// row 5.

/// §5 row 1, §7.1 (createGroupChannel).
pub const CREATE: &str = "/v4/group-channel/create";
/// §5 row 2, §7.2 (updateGroupChannelProfile).
pub const PROFILE_UPDATE: &str = "/v4/group-channel/profile/update";
/// §5 row 3, §7.3 (batchGetGroupChannelProfiles).
pub const PROFILE_LIST: &str = "/v4/group-channel/profile/list";
/// §5 row 4, §7.4 (transferGroupChannelOwner).
pub const TRANSFER_OWNER: &str = "/v4/group-channel/transfer/owner";
/// §5 row 5, §7.5 (quitGroupChannel): the spelling the SDK sends
/// (\[PY\], \[YAML\]); removes users, covering legacy quit and kick.
pub const LEAVE: &str = "/v4/group-channel/leave";
/// §7.5, §9.1: the \[DOC\] page's spelling of [`LEAVE`] (with the
/// `isDel*` field names). The SDK never sends it.
pub const QUIT: &str = "/v4/group-channel/quit";
/// §5 row 6, §7.6 (kickUserFromAllGroupChannels).
pub const MEMBER_KICKOUT_ALL: &str = "/v4/group-channel/member/kickout-all";
/// §5 row 7, §7.7 (dismissGroupChannel).
pub const DISMISS: &str = "/v4/group-channel/dismiss";
/// §5 row 8, §7.8 (joinGroupChannel).
pub const JOIN: &str = "/v4/group-channel/join";
/// §5 row 9, §7.9 (addGroupChannelAdmins).
pub const ADMIN_ADD: &str = "/v4/group-channel/admin/add";
/// §5 row 10, §7.10 (removeGroupChannelAdmins).
pub const ADMIN_REMOVE: &str = "/v4/group-channel/admin/remove";
/// §5 row 11, §7.11 (listGroupChannelMembers).
pub const MEMBER_LIST: &str = "/v4/group-channel/member/list";
/// §5 row 12, §7.12 (batchGetGroupChannelMembers).
pub const MEMBER_BATCH_GET: &str = "/v4/group-channel/member/batch/get";
/// §5 row 13, §7.13 (setGroupChannelMember).
pub const MEMBER_SET: &str = "/v4/group-channel/member/set";
/// §5 row 14, §7.14 (setGroupChannelAlias).
pub const ALIAS_SET: &str = "/v4/group-channel/alias/set";
/// §5 row 15, §7.15 (deleteGroupChannelAlias).
pub const ALIAS_DELETE: &str = "/v4/group-channel/alias/delete";
/// §5 row 16, §7.16 (getGroupChannelAlias).
pub const ALIAS_GET: &str = "/v4/group-channel/alias/get";
/// §5 row 17, §7.17 (addGroupChannelMemberFavorites).
pub const FAVORITES_ADD: &str = "/v4/group-channel/member/favorites/add";
/// §5 row 18, §7.18 (removeGroupChannelMemberFavorites).
pub const FAVORITES_REMOVE: &str = "/v4/group-channel/member/favorites/remove";
/// §5 row 19, §7.19 (listGroupChannelMemberFavorites).
pub const FAVORITES_LIST: &str = "/v4/group-channel/member/favorites/list";
/// §5 row 20, §7.20 (listGroupChannels).
pub const LIST: &str = "/v4/group-channel/list";
/// §5 row 21, §7.21 (listUserJoinedGroupChannels).
pub const JOINED_LIST: &str = "/v4/group-channel/joined/list";

// Group-channel moderation: §5 rows M1-M9, §7.M, plus the [YAML]
// endpoint list's spelling of M3.

/// §5 M1 (addGroupChannelUserMuteList).
pub const MUTE_LIST_ADD: &str = "/v4/group-channel/user/mute-list/add";
/// §5 M2 (removeGroupChannelUserMuteList).
pub const MUTE_LIST_REMOVE: &str = "/v4/group-channel/user/mute-list/remove";
/// §5 M3 (getGroupChannelUserMuteList): the spelling the SDK sends
/// (\[PY\] `resource_path`).
pub const MUTE_LIST_GET: &str = "/v4/group-channel/user/mute-list/get";
/// §5 M3, §9.5: the spelling of [`MUTE_LIST_GET`] in the \[YAML\]'s
/// published endpoint list. The SDK never sends it.
pub const MUTE_LIST_GET_DASHED: &str = "/v4/group-channel/user/mute-list-get";
/// §5 M4 (addGroupChannelFreezeList).
pub const FREEZE_LIST_ADD: &str = "/v4/group-channel/freeze-list/add";
/// §5 M5 (removeGroupChannelFreezeList).
pub const FREEZE_LIST_REMOVE: &str = "/v4/group-channel/freeze-list/remove";
/// §5 M6 (getGroupChannelFreezeList).
pub const FREEZE_LIST_GET: &str = "/v4/group-channel/freeze-list/get";
/// §5 M7 (addGroupChannelAllowedSenderList).
pub const ALLOWED_SENDER_LIST_ADD: &str = "/v4/group-channel/allowed-sender-list/add";
/// §5 M8 (removeGroupChannelAllowedSenderList).
pub const ALLOWED_SENDER_LIST_REMOVE: &str = "/v4/group-channel/allowed-sender-list/remove";
/// §5 M9 (getGroupChannelAllowedSenderList).
pub const ALLOWED_SENDER_LIST_GET: &str = "/v4/group-channel/allowed-sender-list/get";

// Outside the documented group paths (§5 X1-X4, A1-A2): listed for the
// rate exceptions of `rate_per_second`, not in `DOCUMENTED`.

/// §5 X1, §7.X: 20/s, counted per target group (\[PY\]).
pub const MESSAGE_SEND: &str = "/v4/group-channel/message/send";
/// §5 X2, §7.X: 100/s (\[PY\]).
pub const MESSAGE_STREAM_SEND: &str = "/v4/group-channel/message/stream/send";
/// §5 X3, §7.X: rate not stated (\[PY\]).
pub const MESSAGE_UPDATE: &str = "/v4/group-channel/message/update";
/// §5 X4, §7.X: 10/s, window of at most 14 days (\[PY\]).
pub const HISTORY_MESSAGE_LIST: &str = "/v4/group-channel/history-message/list";
/// §5 A1, §7.A: 200/s (\[YAML\]).
pub const ACCESS_TOKEN_ISSUE: &str = "/v4/auth/access-token/issue";
/// §5 A2, §7.A: 100/s.
pub const ACCESS_TOKEN_EXPIRE: &str = "/v4/auth/access-token/expire";

/// The group-channel management paths: §5's 21 rows, and [`QUIT`].
pub const MANAGEMENT: [&str; 22] = [
    CREATE,
    PROFILE_UPDATE,
    PROFILE_LIST,
    TRANSFER_OWNER,
    LEAVE,
    QUIT,
    MEMBER_KICKOUT_ALL,
    DISMISS,
    JOIN,
    ADMIN_ADD,
    ADMIN_REMOVE,
    MEMBER_LIST,
    MEMBER_BATCH_GET,
    MEMBER_SET,
    ALIAS_SET,
    ALIAS_DELETE,
    ALIAS_GET,
    FAVORITES_ADD,
    FAVORITES_REMOVE,
    FAVORITES_LIST,
    LIST,
    JOINED_LIST,
];

/// The group-channel moderation paths: §5's 9 rows M1-M9, and
/// [`MUTE_LIST_GET_DASHED`].
pub const MODERATION: [&str; 10] = [
    MUTE_LIST_ADD,
    MUTE_LIST_REMOVE,
    MUTE_LIST_GET,
    MUTE_LIST_GET_DASHED,
    FREEZE_LIST_ADD,
    FREEZE_LIST_REMOVE,
    FREEZE_LIST_GET,
    ALLOWED_SENDER_LIST_ADD,
    ALLOWED_SENDER_LIST_REMOVE,
    ALLOWED_SENDER_LIST_GET,
];

/// Every documented v4 group path, both spellings where the sources
/// disagree (§9.1, §9.5): 30 endpoints, 32 paths.
pub const ALL: [&str; 32] = concat(MANAGEMENT, MODERATION);

/// `a` then `b` (a const fn: the lists above are written once).
const fn concat<const A: usize, const B: usize, const N: usize>(
    a: [&'static str; A],
    b: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N);
    let mut out = [""; N];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

/// The documented paths as a slice: the paths the gateway may forward
/// and the simulator answers.
pub const DOCUMENTED: &[&str] = &ALL;

/// Spelling variants (§9.1, §9.5): (the variant, the path the SDK sends).
pub const SPELLINGS: [(&str, &str); 2] = [(QUIT, LEAVE), (MUTE_LIST_GET_DASHED, MUTE_LIST_GET)];

/// The spelling the SDK sends for `path`: `path` itself unless it is a
/// variant of [`SPELLINGS`].
pub fn sdk_spelling(path: &str) -> &str {
    SPELLINGS
        .iter()
        .find(|(variant, _)| *variant == path)
        .map_or(path, |(_, sdk)| sdk)
}

/// The paths that only read (§5 `R` rows that change nothing), so that a
/// request that may have reached the server can be sent again safely.
/// `join` answers a result but writes.
pub const READ_ONLY: [&str; 11] = [
    PROFILE_LIST,
    MEMBER_LIST,
    MEMBER_BATCH_GET,
    ALIAS_GET,
    FAVORITES_LIST,
    LIST,
    JOINED_LIST,
    MUTE_LIST_GET,
    MUTE_LIST_GET_DASHED,
    FREEZE_LIST_GET,
    ALLOWED_SENDER_LIST_GET,
];

pub fn is_read_only(path: &str) -> bool {
    READ_ONLY.contains(&path)
}

/// Paths whose every field is optional (§7.20 `list`, §7.M
/// `mute-list/get` and `freeze-list/get`): `{}` is a whole request.
pub const ALL_OPTIONAL: [&str; 4] = [LIST, MUTE_LIST_GET, MUTE_LIST_GET_DASHED, FREEZE_LIST_GET];

/// The documented rate of `path`, per second, per app (§5, §9.7): 100
/// for every group path; the exceptions are outside them
/// ([`ACCESS_TOKEN_ISSUE`] 200, [`MESSAGE_SEND`] 20 counted per target
/// group, [`HISTORY_MESSAGE_LIST`] 10). Unknown paths get the default.
pub fn rate_per_second(path: &str) -> u32 {
    match path {
        ACCESS_TOKEN_ISSUE => super::limit::ACCESS_TOKEN_ISSUE_RATE,
        MESSAGE_SEND => super::limit::MESSAGE_SEND_RATE_PER_GROUP,
        HISTORY_MESSAGE_LIST => super::limit::HISTORY_MESSAGE_RATE,
        _ => super::limit::RATE_PER_SECOND,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_endpoints_thirty_two_paths() {
        let mut unique = DOCUMENTED.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 32);
        assert_eq!(MANAGEMENT.len() + MODERATION.len(), ALL.len());
        assert!(
            MANAGEMENT
                .iter()
                .chain(&MODERATION)
                .all(|p| ALL.contains(p))
        );
        let sdk: Vec<&str> = DOCUMENTED
            .iter()
            .map(|p| sdk_spelling(p))
            .filter(|p| !SPELLINGS.iter().any(|(v, _)| v == p))
            .collect();
        let mut sdk_unique = sdk.clone();
        sdk_unique.dedup();
        assert_eq!(sdk_unique.len(), 30, "21 management + 9 moderation");
        assert!(
            DOCUMENTED
                .iter()
                .all(|p| p.starts_with(GROUP_CHANNEL_PREFIX))
        );
        assert_eq!(sdk_spelling(QUIT), LEAVE);
        assert_eq!(sdk_spelling(MUTE_LIST_GET_DASHED), MUTE_LIST_GET);
        assert_eq!(sdk_spelling(CREATE), CREATE);
    }

    #[test]
    fn reads_and_rates() {
        assert!(READ_ONLY.iter().all(|p| DOCUMENTED.contains(p)));
        assert!(!is_read_only(JOIN), "join answers a result but writes");
        assert!(is_read_only(MUTE_LIST_GET_DASHED));
        assert!(DOCUMENTED.iter().all(|p| rate_per_second(p) == 100));
        assert_eq!(rate_per_second(ACCESS_TOKEN_ISSUE), 200);
        assert_eq!(rate_per_second(MESSAGE_SEND), 20);
        assert_eq!(rate_per_second(HISTORY_MESSAGE_LIST), 10);
        assert!(ALL_OPTIONAL.iter().all(|p| is_read_only(p)));
    }
}
