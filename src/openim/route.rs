//! The routes OpenIM registers that this face answers, and what each is.

/// Every route this face answers. Unknown paths under `/group/` and
/// `/auth/` are 404; routes OpenIM has and the vendor can't back answer
/// OpenIM's envelope with 1002 ([`Route::unsupported`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    GetAdminToken,
    UserToken,
    ParseToken,
    CreateGroup,
    SetGroupInfo,
    SetGroupInfoEx,
    GetGroupsInfo,
    InviteUserToGroup,
    JoinGroup,
    KickGroup,
    QuitGroup,
    TransferGroup,
    DismissGroup,
    GetGroupMemberList,
    GetGroupMembersInfo,
    SetGroupMemberInfo,
    GetJoinedGroupList,
    GetGroupMemberUserId,
    GetFullGroupMemberUserIds,
    GetFullJoinGroupIds,
    GetGroupAbstractInfo,
    GetGroups,
    MuteGroup,
    CancelMuteGroup,
    MuteGroupMember,
    CancelMuteGroupMember,
    GroupApplicationResponse,
    GetRecvGroupApplicationList,
    GetUserReqGroupApplicationList,
    GetGroupUsersReqApplicationList,
    GetSpecifiedUserGroupRequestInfo,
    GetGroupApplicationUnhandledCount,
    GetIncrementalJoinGroups,
    GetIncrementalGroupMembers,
    GetIncrementalGroupMembersBatch,
    GetCommonGroupsWithFriend,
    GetUserToken,
    ForceLogout,
}

impl Route {
    pub const ALL: [Route; 38] = [
        Route::GetAdminToken,
        Route::UserToken,
        Route::ParseToken,
        Route::CreateGroup,
        Route::SetGroupInfo,
        Route::SetGroupInfoEx,
        Route::GetGroupsInfo,
        Route::InviteUserToGroup,
        Route::JoinGroup,
        Route::KickGroup,
        Route::QuitGroup,
        Route::TransferGroup,
        Route::DismissGroup,
        Route::GetGroupMemberList,
        Route::GetGroupMembersInfo,
        Route::SetGroupMemberInfo,
        Route::GetJoinedGroupList,
        Route::GetGroupMemberUserId,
        Route::GetFullGroupMemberUserIds,
        Route::GetFullJoinGroupIds,
        Route::GetGroupAbstractInfo,
        Route::GetGroups,
        Route::MuteGroup,
        Route::CancelMuteGroup,
        Route::MuteGroupMember,
        Route::CancelMuteGroupMember,
        Route::GroupApplicationResponse,
        Route::GetRecvGroupApplicationList,
        Route::GetUserReqGroupApplicationList,
        Route::GetGroupUsersReqApplicationList,
        Route::GetSpecifiedUserGroupRequestInfo,
        Route::GetGroupApplicationUnhandledCount,
        Route::GetIncrementalJoinGroups,
        Route::GetIncrementalGroupMembers,
        Route::GetIncrementalGroupMembersBatch,
        Route::GetCommonGroupsWithFriend,
        Route::GetUserToken,
        Route::ForceLogout,
    ];

    /// The path (open-im-server `internal/api/router.go`); also the metric
    /// label.
    pub const fn path(self) -> &'static str {
        match self {
            Route::GetAdminToken => "/auth/get_admin_token",
            Route::UserToken => "/auth/user_token",
            Route::ParseToken => "/auth/parse_token",
            Route::CreateGroup => "/group/create_group",
            Route::SetGroupInfo => "/group/set_group_info",
            Route::SetGroupInfoEx => "/group/set_group_info_ex",
            Route::GetGroupsInfo => "/group/get_groups_info",
            Route::InviteUserToGroup => "/group/invite_user_to_group",
            Route::JoinGroup => "/group/join_group",
            Route::KickGroup => "/group/kick_group",
            Route::QuitGroup => "/group/quit_group",
            Route::TransferGroup => "/group/transfer_group",
            Route::DismissGroup => "/group/dismiss_group",
            Route::GetGroupMemberList => "/group/get_group_member_list",
            Route::GetGroupMembersInfo => "/group/get_group_members_info",
            Route::SetGroupMemberInfo => "/group/set_group_member_info",
            Route::GetJoinedGroupList => "/group/get_joined_group_list",
            Route::GetGroupMemberUserId => "/group/get_group_member_user_id",
            Route::GetFullGroupMemberUserIds => "/group/get_full_group_member_user_ids",
            Route::GetFullJoinGroupIds => "/group/get_full_join_group_ids",
            Route::GetGroupAbstractInfo => "/group/get_group_abstract_info",
            Route::GetGroups => "/group/get_groups",
            Route::MuteGroup => "/group/mute_group",
            Route::CancelMuteGroup => "/group/cancel_mute_group",
            Route::MuteGroupMember => "/group/mute_group_member",
            Route::CancelMuteGroupMember => "/group/cancel_mute_group_member",
            Route::GroupApplicationResponse => "/group/group_application_response",
            Route::GetRecvGroupApplicationList => "/group/get_recv_group_applicationList",
            Route::GetUserReqGroupApplicationList => "/group/get_user_req_group_applicationList",
            Route::GetGroupUsersReqApplicationList => "/group/get_group_users_req_application_list",
            Route::GetSpecifiedUserGroupRequestInfo => {
                "/group/get_specified_user_group_request_info"
            }
            Route::GetGroupApplicationUnhandledCount => {
                "/group/get_group_application_unhandled_count"
            }
            Route::GetIncrementalJoinGroups => "/group/get_incremental_join_groups",
            Route::GetIncrementalGroupMembers => "/group/get_incremental_group_members",
            Route::GetIncrementalGroupMembersBatch => "/group/get_incremental_group_members_batch",
            // open-im-server main (internal/api/router.go); not in 08aa307.
            Route::GetCommonGroupsWithFriend => "/group/get_common_groups_with_friend",
            Route::GetUserToken => "/auth/get_user_token",
            Route::ForceLogout => "/auth/force_logout",
        }
    }

    /// The route served at `path` (exact, case-sensitive as gin routes).
    pub fn from_path(path: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.path() == path)
    }

    /// Whether the route changes state (for duplicate protection): OpenIM's
    /// writes, the unsupported ones included.
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            Route::CreateGroup
                | Route::SetGroupInfo
                | Route::SetGroupInfoEx
                | Route::InviteUserToGroup
                | Route::JoinGroup
                | Route::KickGroup
                | Route::QuitGroup
                | Route::TransferGroup
                | Route::DismissGroup
                | Route::SetGroupMemberInfo
                | Route::MuteGroup
                | Route::CancelMuteGroup
                | Route::MuteGroupMember
                | Route::CancelMuteGroupMember
                | Route::GroupApplicationResponse
        )
    }

    /// Whether the route needs a `token` header (open-im-server
    /// `internal/api/router.go` Whitelist: `get_admin_token` and
    /// `parse_token`; `user_token` was whitelisted before v3.8.1).
    pub const fn needs_token(self) -> bool {
        !matches!(
            self,
            Route::GetAdminToken | Route::UserToken | Route::ParseToken
        )
    }

    /// For a route OpenIM registers and this face can't back: why (its
    /// errDlt, after "… is not supported: ").
    pub const fn unsupported(self) -> Option<&'static str> {
        match self {
            Route::GroupApplicationResponse
            | Route::GetRecvGroupApplicationList
            | Route::GetUserReqGroupApplicationList
            | Route::GetGroupUsersReqApplicationList
            | Route::GetSpecifiedUserGroupRequestInfo
            | Route::GetGroupApplicationUnhandledCount => Some(
                "the vendor's entrust groups have no group join applications, so entrust-gateway cannot serve it",
            ),
            Route::GetIncrementalJoinGroups
            | Route::GetIncrementalGroupMembers
            | Route::GetIncrementalGroupMembersBatch => Some(
                "the vendor keeps no version log of groups or members to sync from; read the whole list (get_joined_group_list, get_group_member_list) instead",
            ),
            Route::GetCommonGroupsWithFriend => Some(
                "the vendor has no friend relations; compare get_full_join_group_ids of both users instead",
            ),
            _ => None,
        }
    }
}

/// Whether `path` is an OpenIM write (duplicate protection's question).
pub fn is_write(path: &str) -> bool {
    Route::from_path(path).is_some_and(Route::is_write)
}

// The paths by name, for callers that match on them (tests).
pub const GET_ADMIN_TOKEN: &str = Route::GetAdminToken.path();
pub const CREATE_GROUP: &str = Route::CreateGroup.path();
pub const SET_GROUP_INFO: &str = Route::SetGroupInfo.path();
pub const SET_GROUP_INFO_EX: &str = Route::SetGroupInfoEx.path();
pub const GET_GROUPS_INFO: &str = Route::GetGroupsInfo.path();
pub const INVITE_USER_TO_GROUP: &str = Route::InviteUserToGroup.path();
pub const JOIN_GROUP: &str = Route::JoinGroup.path();
pub const KICK_GROUP: &str = Route::KickGroup.path();
pub const QUIT_GROUP: &str = Route::QuitGroup.path();
pub const TRANSFER_GROUP: &str = Route::TransferGroup.path();
pub const DISMISS_GROUP: &str = Route::DismissGroup.path();
pub const GET_GROUP_MEMBER_LIST: &str = Route::GetGroupMemberList.path();
pub const GET_GROUP_MEMBERS_INFO: &str = Route::GetGroupMembersInfo.path();
pub const SET_GROUP_MEMBER_INFO: &str = Route::SetGroupMemberInfo.path();
pub const GET_JOINED_GROUP_LIST: &str = Route::GetJoinedGroupList.path();

/// Routes served on this face (metric label values).
pub const ROUTES: &[&str] = &PATHS;

const PATHS: [&str; Route::ALL.len()] = {
    let mut out = [""; Route::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Route::ALL[i].path();
        i += 1;
    }
    out
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_round_trip() {
        for r in Route::ALL {
            assert_eq!(Route::from_path(r.path()), Some(r));
        }
        assert_eq!(ROUTES.len(), Route::ALL.len());
        assert!(is_write("/group/join_group"));
        assert!(!is_write("/group/get_groups"));
        assert!(!is_write("/auth/user_token"));
        assert!(!is_write("/group/nope"));
        // The enum agrees with the path rule: every route is a write but
        // the reads (`get_*`) and the token routes (`/auth/`).
        for r in Route::ALL {
            let p = r.path();
            let read = p.starts_with("/group/get_") || p.starts_with("/auth/");
            assert_eq!(r.is_write(), !read, "{p}");
        }
    }
}
