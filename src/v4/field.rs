// The envelope (§3).
pub const CODE: &str = "code";
/// Holds the payload of every read path (§3).
pub const RESULT: &str = "result";
/// Errors: `{"code":N,"errorMessage":"…"}` (\[PY\] `ApiException`); there
/// is no `msg` (§3).
pub const ERROR_MESSAGE: &str = "errorMessage";

// Requests (§7).
/// Legacy `groupId` (§8).
pub const CHANNEL_ID: &str = "channelId";
/// Legacy `groupIds` (§7.3, §7.M freeze list).
pub const CHANNEL_IDS: &str = "channelIds";
pub const NAME: &str = "name";
pub const OWNER: &str = "owner";
pub const USER_ID: &str = "userId";
pub const USER_IDS: &str = "userIds";
pub const GROUP_PROFILE: &str = "groupProfile";
pub const PERMISSIONS: &str = "permissions";
pub const GROUP_EXT_PROFILE: &str = "groupExtProfile";
/// §7.4.
pub const NEW_OWNER: &str = "newOwner";
/// §7.4, legacy `isQuit`.
pub const SHOULD_LEAVE: &str = "shouldLeave";
/// §7.4, §9.2: the \[DOC\] text and example's name for [`SHOULD_LEAVE`].
pub const SHOULD_QUIT: &str = "shouldQuit";
/// §7.4, §7.5, legacy `isDelBan`.
pub const SHOULD_DELETE_MUTE: &str = "shouldDeleteMute";
/// §7.4, §7.5, legacy `isDelWhite`.
pub const SHOULD_DELETE_ALLOWED_SENDERS_LIST: &str = "shouldDeleteAllowedSendersList";
/// §7.4, §7.5, legacy `isDelFollowed`.
pub const SHOULD_DELETE_FAVORITES: &str = "shouldDeleteFavorites";
/// §7.5, §9.1: the \[DOC\] `quit` page's names of the three above.
pub const IS_DEL_BAN: &str = "isDelBan";
pub const IS_DEL_WHITE: &str = "isDelWhite";
pub const IS_DEL_FOLLOWED: &str = "isDelFollowed";
/// (v4 name, \[DOC\] `quit` name) of each cleanup flag on `leave` (§7.5).
pub const LEAVE_FLAGS: [(&str, &str); 3] = [
    (SHOULD_DELETE_MUTE, IS_DEL_BAN),
    (SHOULD_DELETE_ALLOWED_SENDERS_LIST, IS_DEL_WHITE),
    (SHOULD_DELETE_FAVORITES, IS_DEL_FOLLOWED),
];
/// §7.11, legacy `type`.
pub const MEMBER_ROLE: &str = "memberRole";
/// §7.21 filter, and the role in joined-list items.
pub const ROLE: &str = "role";
/// §4: opaque; omitted on the first page.
pub const PAGE_TOKEN: &str = "pageToken";
/// §4, legacy `size`.
pub const PAGE_SIZE: &str = "pageSize";
/// §4: 0 ascending, 1 descending.
pub const ORDER: &str = "order";
/// §4, §7.M: the freeze list's page number.
pub const PAGE: &str = "page";
/// §7.13.
pub const NICKNAME: &str = "nickname";
pub const EXTRA: &str = "extra";
/// §7.14, legacy `remarkName`.
pub const ALIAS: &str = "alias";
/// §7.17, legacy `followUserIds`.
pub const FAVORITE_IDS: &str = "favoriteIds";
/// §7.M, legacy `minute`.
pub const DURATION_MINUTES: &str = "durationMinutes";

// Answers (§7, [PY] models).
pub const PROFILES: &str = "profiles";
pub const MEMBERS: &str = "members";
pub const GROUPS: &str = "groups";
/// §7.11; absent from `joined/list` and `list` (§4).
pub const TOTAL_COUNT: &str = "totalCount";
/// Integer Unix ms (§6), legacy `time` / `createTime`.
pub const CREATED_AT: &str = "createdAt";
/// Integer Unix ms (§6), legacy `time` on members, `joinTime` on groups.
pub const JOINED_AT: &str = "joinedAt";
pub const MEMBER_COUNT: &str = "memberCount";
/// §7.20.
pub const CREATOR: &str = "creator";
/// §7.20, §9.3: the \[DOC\] name of `groupProfile` in `list` items, as a
/// JSON string.
pub const PROFILE_TEXT: &str = "profile";
/// §7.19, legacy `followedMembers`.
pub const FAVORITES: &str = "favorites";
/// Integer Unix ms (§7.19), legacy `timestamp`.
pub const FAVORITED_AT: &str = "favoritedAt";
/// §7.M, legacy `users`.
pub const MUTED_MEMBERS: &str = "mutedMembers";
/// `YYYY-MM-DD HH:MM:SS` text, not ms (§6, §7.M), legacy `startTime`.
pub const MUTED_AT: &str = "mutedAt";
/// `YYYY-MM-DD HH:MM:SS` text (§6, §7.M), legacy `time`.
pub const MUTE_EXPIRES_AT: &str = "muteExpiresAt";
/// §7.M.
pub const FREEZE_STATUSES: &str = "freezeStatuses";
/// §7.M: an integer whose values are not documented.
pub const STATUS: &str = "status";

/// Keys of `groupProfile` (§6).
pub const INTRODUCTION: &str = "introduction";
pub const ANNOUNCEMENT: &str = "announcement";
pub const PORTRAIT_URL: &str = "portraitUrl";

/// The `permissions` keys (§6) with their largest value (all start at
/// 0, the default). The \[DOC\] table was cut after these six, so more may
/// exist.
pub const PERMISSION_KEYS: [(&str, i64); 6] = [
    ("joinPerm", 3),
    ("removePerm", 2),
    ("memInvitePerm", 2),
    ("invitePerm", 1),
    ("profilePerm", 2),
    ("memProfilePerm", 2),
];
