//! The endpoint table: one function per path, each turning a decoded form
//! into the answer's data fields (added to `{"code":200}`) or an error.

mod groups;
mod legacy;
mod members;
mod queries;
mod social;

use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value};

use super::form::Form;
use super::profile::ProfileVariant;
use super::reply::ApiError;
use super::store::Store;
pub(crate) use super::store::not_found;
use crate::entrust::path;

/// What an endpoint can see.
pub(crate) struct Ctx<'a> {
    pub store: &'a Mutex<Store>,
    pub variant: ProfileVariant,
    pub now_ms: i64,
}

impl Ctx<'_> {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) type Fields = Map<String, Value>;
pub(crate) type Handler = fn(&Ctx<'_>, &Form) -> Result<Fields, ApiError>;

/// The endpoint for `p`, if the simulator knows it.
pub(crate) fn route(p: &str) -> Option<Handler> {
    let h: Handler = match p {
        path::GROUP_CREATE => groups::create,
        path::GROUP_IMPORT => groups::import,
        path::PROFILE_UPDATE => groups::update,
        path::PROFILE_QUERY => groups::profile_query,
        path::GROUP_DISMISS => groups::dismiss,
        path::GROUP_QUERY => groups::group_query,
        path::GROUP_JOIN => members::join,
        path::GROUP_QUIT => members::quit,
        path::MEMBER_KICK => members::kick,
        path::MEMBER_KICK_ALL => members::kick_all,
        path::TRANSFER_OWNER => members::transfer,
        path::MANAGER_ADD => members::manager_add,
        path::MANAGER_REMOVE => members::manager_remove,
        path::MEMBER_SET => members::member_set,
        path::MEMBER_QUERY => queries::member_query,
        path::MEMBER_SPECIFIC_QUERY => queries::specific_query,
        path::JOINED_GROUP_QUERY => queries::joined_query,
        path::MEMBER_FOLLOW => social::follow,
        path::MEMBER_UNFOLLOW => social::unfollow,
        path::MEMBER_FOLLOWED_GET => social::followed,
        path::REMARK_NAME_SET => social::remark_set,
        path::REMARK_NAME_DELETE => social::remark_delete,
        path::REMARK_NAME_QUERY => social::remark_query,
        path::GAG_ADD => legacy::gag_add,
        path::GAG_ROLLBACK => legacy::gag_rollback,
        path::GAG_LIST => legacy::gag_list,
        path::BAN_ADD => legacy::ban_add,
        path::BAN_ROLLBACK => legacy::ban_rollback,
        path::BAN_QUERY => legacy::ban_query,
        _ => return None,
    };
    Some(h)
}

/// Whether the endpoint has no required parameter (an empty body is fine).
pub(crate) fn all_optional(p: &str) -> bool {
    p == path::GROUP_QUERY || p == path::BAN_QUERY
}

fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_path_is_served() {
        for p in path::DOCUMENTED {
            assert!(route(p).is_some(), "{p}");
        }
    }
}
