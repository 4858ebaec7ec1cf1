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

/// The `[openim]` section the tests use.
pub fn section(expire_seconds: u64) -> String {
    format!(
        "[openim]\nsecret = \"{SECRET}\"\nadmin_user_ids = [\"{ADMIN}\", \"imAdmin2\"]\ntoken_expire_seconds = {expire_seconds}\n"
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

    /// The recorded requests to one path.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.env
            .sim
            .requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

/// A recorded form body as a map (the last value wins).
pub fn form(r: &Recorded) -> HashMap<String, String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&r.body)
        .unwrap_or_default()
        .into_iter()
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
