//! The vendor API the face speaks: every vendor call the OpenIM routes make
//! goes through the operations here, so the routes hold OpenIM's rules once
//! and each dialect ([`entrust`], [`v4`]) is only how an operation becomes
//! a call and how its answer reads.
//!
//! Answers come back typed (the [`crate::entrust::profile`] types) and
//! errors as [`Error::Upstream`] with a code in the entrust vocabulary
//! ([`crate::entrust::code`]): the v4 adapter translates v4's codes into
//! it, so the routes' checks (25410 unknown group, 25417 owner, …) and
//! [`super::errcode::from_entrust`] serve both dialects.

pub mod entrust;
pub mod v4;

use bytes::Bytes;
use http::StatusCode;

use crate::entrust::profile::{JoinedGroup, Member, Page, Profile};
use crate::error::Error;
use crate::vendor::Reply;

use super::Ctx;

/// `[openim] vendor_api`: which of the vendor's APIs the face calls.
pub use crate::config::VendorApi as Dialect;

/// A group to create: the owner and at most
/// [`crate::entrust::limit::CREATE_USERS_MAX`] users join with it.
#[derive(Debug)]
pub struct NewGroup<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub owner: &'a str,
    pub users: &'a [String],
    /// groupProfile entries, sorted by key.
    pub profile: Vec<(&'static str, &'a str)>,
    pub need_verification: i64,
    /// groupExtProfile entries, sorted by key.
    pub ext: Vec<(&'static str, String)>,
}

/// A profile update: only what is present changes.
#[derive(Debug)]
pub struct ProfileChange<'a> {
    pub group_id: &'a str,
    /// groupProfile entries, sorted by key.
    pub profile: Vec<(&'static str, &'a str)>,
    pub need_verification: Option<i64>,
    /// groupExtProfile entries, sorted by key (an empty value removes the
    /// key).
    pub ext: Vec<(&'static str, &'a str)>,
}

/// The vendor's permissions for OpenIM's needVerification, as JSON text
/// (`json!({"joinPerm": join, "memInvitePerm": invite})` as it prints:
/// a unit test in `group` holds the two together).
pub fn permissions_json(need_verification: i64) -> &'static str {
    match need_verification {
        0 => r#"{"joinPerm":2,"memInvitePerm":2}"#,
        1 => r#"{"joinPerm":2,"memInvitePerm":1}"#,
        _ => r#"{"joinPerm":1,"memInvitePerm":2}"#,
    }
}

/// One operation per vendor call the face makes. Batching, ordering and
/// every OpenIM rule stay with the callers; each operation is one call.
impl Ctx<'_> {
    pub async fn create_group(&self, g: &NewGroup<'_>) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::create_group(self, g).await,
            Dialect::V4 => v4::create_group(self, g).await,
        }
    }

    pub async fn update_profile(&self, c: &ProfileChange<'_>) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::update_profile(self, c).await,
            Dialect::V4 => v4::update_profile(self, c).await,
        }
    }

    /// One batch (≤ [`crate::entrust::limit::PROFILE_QUERY_MAX`]) of profiles.
    pub async fn profile_batch(&self, ids: &[String]) -> Result<Vec<Profile>, Error> {
        match self.dialect {
            Dialect::Entrust => entrust::profile_batch(self, ids).await,
            Dialect::V4 => v4::profile_batch(self, ids).await,
        }
    }

    /// Adds ≤100 users directly.
    pub async fn join_users(&self, group: &str, users: &[String]) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::join_users(self, group, users).await,
            Dialect::V4 => v4::leave_or_join(self, v4::JOIN, group, users).await,
        }
    }

    /// Removes ≤100 members.
    pub async fn kick_users(&self, group: &str, users: &[String]) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::kick_users(self, group, users).await,
            Dialect::V4 => v4::leave_or_join(self, v4::LEAVE, group, users).await,
        }
    }

    /// `user` leaves.
    pub async fn quit_user(&self, group: &str, user: &str) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::quit_user(self, group, user).await,
            Dialect::V4 => v4::leave_or_join(self, v4::LEAVE, group, &[user.to_string()]).await,
        }
    }

    pub async fn transfer_owner(&self, group: &str, new_owner: &str) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::transfer_owner(self, group, new_owner).await,
            Dialect::V4 => v4::transfer_owner(self, group, new_owner).await,
        }
    }

    pub async fn dismiss_group(&self, group: &str) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::dismiss_group(self, group).await,
            Dialect::V4 => v4::dismiss_group(self, group).await,
        }
    }

    /// Makes ≤100 members admins (`add`) or plain members again.
    pub async fn set_admins(&self, group: &str, users: &[String], add: bool) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::set_admins(self, group, users, add).await,
            Dialect::V4 => v4::set_admins(self, group, users, add).await,
        }
    }

    /// Sets a member's nickname (always sent) and extra (when `Some`).
    pub async fn set_member(
        &self,
        group: &str,
        user: &str,
        nickname: &str,
        extra: Option<&str>,
    ) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::set_member(self, group, user, nickname, extra).await,
            Dialect::V4 => v4::set_member(self, group, user, nickname, extra).await,
        }
    }

    /// One page of a group's members of one role (`kind` 0 all, 1 members,
    /// 2 admins, 3 owner), oldest first.
    pub async fn member_page(
        &self,
        group: &str,
        kind: i64,
        token: Option<String>,
        size: usize,
    ) -> Result<Page<Member>, Error> {
        match self.dialect {
            Dialect::Entrust => entrust::member_page(self, group, kind, token, size).await,
            Dialect::V4 => v4::member_page(self, group, kind, token, size).await,
        }
    }

    /// Which of ≤100 `users` are members, with their records.
    pub async fn member_batch(&self, group: &str, users: &[String]) -> Result<Page<Member>, Error> {
        match self.dialect {
            Dialect::Entrust => entrust::member_batch(self, group, users).await,
            Dialect::V4 => v4::member_batch(self, group, users).await,
        }
    }

    /// One page of the groups `user` is in with `kind` role (0 all), oldest
    /// first.
    pub async fn joined_page(
        &self,
        user: &str,
        kind: i64,
        token: Option<String>,
        size: usize,
    ) -> Result<Page<JoinedGroup>, Error> {
        match self.dialect {
            Dialect::Entrust => entrust::joined_page(self, user, kind, token, size).await,
            Dialect::V4 => v4::joined_page(self, user, kind, token, size).await,
        }
    }

    /// One page of the app's groups, oldest first.
    pub async fn group_page(
        &self,
        token: Option<String>,
        size: usize,
    ) -> Result<Page<JoinedGroup>, Error> {
        match self.dialect {
            Dialect::Entrust => entrust::group_page(self, token, size).await,
            Dialect::V4 => v4::group_page(self, token, size).await,
        }
    }

    /// Mutes `user` in `group` for `minutes`.
    pub async fn mute_member(&self, group: &str, user: &str, minutes: i64) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::mute_member(self, group, user, minutes).await,
            Dialect::V4 => v4::mute_member(self, group, user, minutes).await,
        }
    }

    pub async fn unmute_member(&self, group: &str, user: &str) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::unmute_member(self, group, user).await,
            Dialect::V4 => v4::unmute_member(self, group, user).await,
        }
    }

    /// The muted members of `group` and when each mute ends (unix ms).
    pub async fn mute_list(&self, group: &str) -> Result<Vec<(String, i64)>, Error> {
        match self.dialect {
            Dialect::Entrust => entrust::mute_list(self, group).await,
            Dialect::V4 => v4::mute_list(self, group).await,
        }
    }

    /// Mutes (`on`) or unmutes every member of `group`.
    pub async fn ban_group(&self, group: &str, on: bool) -> Result<(), Error> {
        match self.dialect {
            Dialect::Entrust => entrust::ban_group(self, group, on).await,
            Dialect::V4 => v4::ban_group(self, group, on).await,
        }
    }

    /// Whether each of ≤ [`crate::entrust::limit::BAN_GROUPS_MAX`] groups
    /// has every member muted.
    pub async fn ban_query(&self, groups: &[String]) -> Result<Vec<(String, bool)>, Error> {
        match self.dialect {
            Dialect::Entrust => entrust::ban_query(self, groups).await,
            Dialect::V4 => v4::ban_query(self, groups).await,
        }
    }
}

/// A vendor answer's body when its code is `ok`. Any other code is
/// [`Error::Upstream`] with the code `translate`d into the entrust
/// vocabulary; an answer without a JSON code is [`Error::BadUpstream`],
/// except HTTP 401, which means the gateway's credentials are at fault. A
/// rate-limited path tells the caller when to come back.
pub(super) fn answer(
    api: &str,
    path: &str,
    reply: Reply,
    ok: i64,
    translate: fn(i64) -> i64,
) -> Result<Bytes, Error> {
    let status = crate::entrust::profile::status(&reply.body);
    if let Some(retry_after) = reply.retry_after {
        let (c, message) = status.unwrap_or((crate::entrust::code::RATE_LIMITED, String::new()));
        return Err(Error::RateLimited {
            retry_after,
            detail: format!("{api} {path} answered code {c}: {message}").into(),
        });
    }
    match status {
        Some((c, _)) if c == ok => Ok(reply.body),
        Some((c, message)) => Err(Error::Upstream {
            path: path.to_string(),
            code: translate(c),
            message,
        }),
        None if reply.status == StatusCode::UNAUTHORIZED => Err(Error::Upstream {
            path: path.to_string(),
            code: 401,
            message: "HTTP 401 without a JSON code".into(),
        }),
        None => Err(Error::BadUpstream(format!(
            "{api} {path} answered HTTP {} without a JSON code",
            reply.status.as_u16()
        ))),
    }
}

/// A vendor answer that does not read as documented.
pub(super) fn bad_answer(api: &str, path: &str, e: String) -> Error {
    Error::BadUpstream(format!("{api} {path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const UPSTREAM: &str = "[upstream]\nurls = [\"https://api.rong-api.com\"]\napp_key = \"key\"\napp_secret = \"s\"\n";

    fn api(openim: &str) -> Result<Dialect, String> {
        Config::parse(&format!("{UPSTREAM}{openim}"))
            .map(|c| c.openim.map(|o| o.vendor_api).unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn vendor_api_is_entrust_unless_asked() {
        let section = "[openim]\nsecret = \"x\"\nadmin_user_ids = [\"a\"]\n";
        assert_eq!(api(""), Ok(Dialect::Entrust));
        assert_eq!(api(section), Ok(Dialect::Entrust));
        assert_eq!(
            api(&format!("{section}vendor_api = \"v4\"\n")),
            Ok(Dialect::V4)
        );
        let e = api(&format!("{section}vendor_api = \"v5\"\n")).unwrap_err();
        assert!(e.contains("vendor_api") || e.contains("v5"), "{e}");
    }
}
