//! Helpers for the OpenIM face's tests: a gateway with `[openim]` in front of
//! the simulator, an admin token, and JSON calls with OpenIM's headers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use entrust_gateway::sim::{Recorded, SimConfig};
use serde_json::{Value, json};

use super::{Answer, Env, post_openim, send};
pub use super::{each, text};

pub const SECRET: &str = "openIM123-test";
pub const ADMIN: &str = "imAdmin";

/// A fresh operationID for every call, as OpenIM's SDK sends one (a trace
/// id only: duplicate protection is keyed by `Idempotency-Key`, never by
/// operationID, so reusing one would change nothing: `idempotency`).
pub fn operation_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("op-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

tokio::task_local! {
    /// The vendor API (`[openim] vendor_api`) the gateways a test starts
    /// call: set for each run of a test by [`both_apis`].
    pub static VENDOR_API: &'static str;
}

/// This test run's `[openim] vendor_api` ("entrust" outside [`both_apis`]).
pub fn vendor_api() -> &'static str {
    VENDOR_API.try_with(|a| *a).unwrap_or("entrust")
}

/// Whether this run's gateway calls the v4 API.
pub fn on_v4() -> bool {
    vendor_api() == "v4"
}

/// A test run twice, once per `[openim] vendor_api` (a module named after
/// the test with an `entrust` and a `v4` test in it): the OpenIM face must
/// answer the same on both.
macro_rules! both_apis {
    ($(#[$attr:meta])* async fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run() $body

            $(#[$attr])*
            async fn entrust() {
                $crate::common::openim::VENDOR_API.scope("entrust", run()).await
            }

            $(#[$attr])*
            async fn v4() {
                $crate::common::openim::VENDOR_API.scope("v4", run()).await
            }
        }
    };
}
pub(crate) use both_apis;

/// The `[openim]` section the tests use (with this run's `vendor_api`).
pub fn section(expire_seconds: u64) -> String {
    format!(
        "[openim]\nsecret = \"{SECRET}\"\nadmin_user_ids = [\"{ADMIN}\", \"imAdmin2\"]\ntoken_expire_seconds = {expire_seconds}\nvendor_api = \"{}\"\n",
        vendor_api()
    )
}

/// The right secret and an admin user: get_admin_token's body that gets a
/// token.
pub fn admin_login() -> Value {
    json!({"secret": SECRET, "userID": ADMIN})
}

/// A gateway (with or without `[openim]`) in front of a fresh simulator.
pub struct Im {
    pub env: Env,
    pub token: Option<String>,
}

impl Im {
    /// With `[openim]`, holding an admin token.
    pub async fn start() -> Im {
        Im::start_with_extra("").await
    }

    /// The same, with more config sections.
    pub async fn start_with_extra(extra: &str) -> Im {
        let env = Env::start_with("", &format!("{}\n{extra}", section(3600))).await;
        Im::admin_on(env).await
    }

    /// With `[openim]` and `extra`, in front of a simulator configured by
    /// `edit`, holding an admin token.
    pub async fn start_with_sim(edit: impl FnOnce(&mut SimConfig), extra: &str) -> Im {
        let env = Env::start_with_sim(edit, &format!("{}\n{extra}", section(3600))).await;
        Im::admin_on(env).await
    }

    async fn admin_on(env: Env) -> Im {
        let mut im = Im { env, token: None };
        let a = im.post("/auth/get_admin_token", admin_login()).await;
        assert_eq!(a["errCode"], 0, "{a}");
        im.token = a["data"]["token"].as_str().map(str::to_string);
        assert!(im.token.is_some());
        im.env.sim.clear_requests();
        im
    }

    /// Without `[openim]`: no token needed.
    pub async fn start_open() -> Im {
        Im {
            env: Env::start().await,
            token: None,
        }
    }

    /// POSTs `body` with an operationID and the token; asserts HTTP 200 and
    /// returns the envelope.
    pub async fn post(&self, route: &str, body: Value) -> Value {
        let a = self.answer(route, &body).await;
        assert_eq!(a.status, 200, "{route}: {}", a.text());
        a.json()
    }

    /// POSTs `body` with `token` instead of the admin's; asserts HTTP 200
    /// and returns the envelope.
    pub async fn post_as(&self, token: &str, route: &str, body: Value) -> Value {
        let a = post_openim(&self.env.url(route), &operation_id(), Some(token), &body).await;
        assert_eq!(a.status, 200, "{route}: {}", a.text());
        a.json()
    }

    /// A user token for `user` on `platform` (get_user_token with the
    /// admin token).
    pub async fn user_token(&self, user: &str, platform: i64) -> String {
        let d = self
            .ok(
                "/auth/get_user_token",
                json!({"userID": user, "platformID": platform}),
            )
            .await;
        d["token"].as_str().expect("a token").to_string()
    }

    pub async fn answer(&self, route: &str, body: &Value) -> Answer {
        post_openim(
            &self.env.url(route),
            &operation_id(),
            self.token.as_deref(),
            body,
        )
        .await
    }

    /// POSTs a raw body with the given headers.
    pub async fn raw(&self, route: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        send(
            http::Method::POST,
            &self.env.url(route),
            headers,
            body.to_string(),
        )
        .await
    }

    /// POSTs and asserts errCode 0; returns `data` (null when absent).
    pub async fn ok(&self, route: &str, body: Value) -> Value {
        let v = self.post(route, body).await;
        assert_eq!(v["errCode"], 0, "{route}: {v}");
        assert_eq!(v["errMsg"], "", "{v}");
        assert_eq!(v["errDlt"], "", "{v}");
        v.get("data").cloned().unwrap_or(Value::Null)
    }

    /// Creates a group with `members` and returns its GroupInfo.
    pub async fn create(&self, id: &str, owner: &str, members: &[&str]) -> Value {
        let d = self
            .ok(
                "/group/create_group",
                json!({"ownerUserID": owner, "memberUserIDs": members,
                       "groupInfo": {"groupID": id, "groupName": format!("name {id}"), "groupType": 2}}),
            )
            .await;
        d["groupInfo"].clone()
    }

    /// Page `page` of `show` of a group's members: get_group_member_list's
    /// `data`.
    pub async fn member_page(&self, group: &str, page: i64, show: i64) -> Value {
        let pagination = json!({"pageNumber": page, "showNumber": show});
        let body = json!({"groupID": group, "pagination": pagination});
        self.ok("/group/get_group_member_list", body).await
    }

    /// Page `page` of `show` of a user's groups: get_joined_group_list's
    /// `data`.
    pub async fn joined_page(&self, user: &str, page: i64, show: i64) -> Value {
        let pagination = json!({"pageNumber": page, "showNumber": show});
        let body = json!({"fromUserID": user, "pagination": pagination});
        self.ok("/group/get_joined_group_list", body).await
    }

    /// One group's GroupInfo via get_groups_info (null when not found).
    pub async fn info(&self, id: &str) -> Value {
        let d = self
            .ok("/group/get_groups_info", json!({"groupIDs": [id]}))
            .await;
        d["groupInfos"]
            .as_array()
            .and_then(|a| a.first())
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// The upstream paths the simulator saw, in order.
    pub fn paths(&self) -> Vec<String> {
        self.env
            .sim
            .requests()
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    /// The recorded requests to one entrust path, or on v4 to the v4 path
    /// that stands for it ([`dialect_path`]).
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        let path = dialect_path(path);
        self.env
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

/// The v4 path standing for an entrust path on this run's vendor API
/// (`nexconn-v4-group-api.md` §7 "↔" and §7.M): the path itself on entrust.
pub fn dialect_path(entrust: &str) -> String {
    use entrust_gateway::entrust::path as e;
    use entrust_gateway::v4::path as v;
    if !on_v4() {
        return entrust.to_string();
    }
    let pairs = [
        (e::GROUP_CREATE, v::CREATE),
        (e::PROFILE_UPDATE, v::PROFILE_UPDATE),
        (e::PROFILE_QUERY, v::PROFILE_LIST),
        (e::TRANSFER_OWNER, v::TRANSFER_OWNER),
        (e::GROUP_QUIT, v::LEAVE),
        (e::MEMBER_KICK, v::LEAVE),
        (e::GROUP_DISMISS, v::DISMISS),
        (e::GROUP_JOIN, v::JOIN),
        (e::MANAGER_ADD, v::ADMIN_ADD),
        (e::MANAGER_REMOVE, v::ADMIN_REMOVE),
        (e::MEMBER_QUERY, v::MEMBER_LIST),
        (e::MEMBER_SPECIFIC_QUERY, v::MEMBER_BATCH_GET),
        (e::MEMBER_SET, v::MEMBER_SET),
        (e::GROUP_QUERY, v::LIST),
        (e::JOINED_GROUP_QUERY, v::JOINED_LIST),
        (e::GAG_ADD, v::MUTE_LIST_ADD),
        (e::GAG_ROLLBACK, v::MUTE_LIST_REMOVE),
        (e::GAG_LIST, v::MUTE_LIST_GET),
        (e::BAN_ADD, v::FREEZE_LIST_ADD),
        (e::BAN_ROLLBACK, v::FREEZE_LIST_REMOVE),
        (e::BAN_QUERY, v::FREEZE_LIST_GET),
    ];
    pairs
        .iter()
        .find(|(from, _)| *from == entrust)
        .map_or(entrust, |(_, to)| to)
        .to_string()
}

/// [`dialect_path`] of each.
pub fn dialect_paths(entrust: &[&str]) -> Vec<String> {
    entrust.iter().map(|p| dialect_path(p)).collect()
}

/// The code a vendor answer carries on success on this run's API (entrust
/// 200, v4 0: `nexconn-v4-group-api.md` §3).
pub fn vendor_ok() -> i64 {
    if on_v4() { 0 } else { 200 }
}

/// A recorded body as a map of legacy form fields (the last value wins): a
/// form as it is; a v4 JSON body with its keys renamed back (§8 of
/// `nexconn-v4-group-api.md`), lists joined with ',' and objects as JSON
/// text, as the entrust form carries them.
pub fn form(r: &Recorded) -> HashMap<String, String> {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&r.body) else {
        return serde_urlencoded::from_bytes::<Vec<(String, String)>>(&r.body)
            .unwrap_or_default()
            .into_iter()
            .collect();
    };
    let legacy = |k: &str| -> String {
        let to = match k {
            "channelId" => "groupId",
            "channelIds" => "groupIds",
            "memberRole" => "type",
            "pageSize" => "size",
            "durationMinutes" => "minute",
            "userIds"
                if m.get(k)
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.len() == 1)
                    && r.path.contains("mute-list") =>
            {
                "userId"
            }
            _ => k,
        };
        to.to_string()
    };
    m.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            (legacy(k), v)
        })
        .collect()
}

/// `(errCode, errDlt)` of an envelope.
pub fn err(v: &Value) -> (i64, String) {
    (
        v["errCode"].as_i64().unwrap_or(-1),
        v["errDlt"].as_str().unwrap_or("").to_string(),
    )
}

/// (userID, roleLevel) of a member list, in order.
pub fn roles(members: &Value) -> Vec<(String, i64)> {
    each(members, |m| {
        (text(m, "userID"), m["roleLevel"].as_i64().unwrap())
    })
}

/// Owned (userID, roleLevel) pairs, to compare with [`roles`].
pub fn pairs(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(u, r)| (u.to_string(), *r)).collect()
}
