//! Properties of the OpenIM face:
//!
//! 1. Whatever valid group info is written (create_group, set_group_info,
//!    set_group_info_ex), get_groups_info reads back what OpenIM's rules say
//!    it should, field for field, under every profile shape the vendor may
//!    answer with. Lengths are counted in characters, up to each limit.
//! 2. No input of any shape makes the face drop a connection or answer
//!    anything but OpenIM's envelope: arbitrary JSON values and bytes on
//!    every route.
//! 3. The vendor-answer parsers (`entrust::profile`) and the translators
//!    built on them never panic on any bytes or JSON, and what they produce
//!    keeps its invariants. (`src/entrust/profile.rs` already checks UTF-8
//!    strings and flat profile fields; here: raw bytes, nested JSON in every
//!    position, members and joined groups, and the translation to OpenIM.)
//!
//! One simulator and gateway per HTTP property, on a tokio runtime built
//! once, reused across its cases (each runs with `block_on`).

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common;
use crate::common::openim::{Im, operation_id};
use bytes::Bytes;
use entrust_gateway::entrust::profile::{self, Profile};
use entrust_gateway::openim::json::{Obj, parse};
use entrust_gateway::openim::{self, group, member};
use entrust_gateway::sim::ProfileVariant;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

/// A gateway with `[openim]` in front of its own simulator, on a runtime
/// that lives as long as the test binary.
struct Shared {
    rt: Runtime,
    im: Im,
    client: Client<HttpConnector, Full<Bytes>>,
}

fn start_shared() -> Shared {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let im = rt.block_on(Im::start());
    Shared {
        rt,
        im,
        client: common::client(),
    }
}

/// For the round-trip property.
fn round_trip_env() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(start_shared)
}

/// For an any-input property (its writes must not touch the round trip's
/// groups), with groups g1 and g2 to act on.
fn start_with_groups() -> Shared {
    let s = start_shared();
    s.rt.block_on(async {
        for id in ["g1", "g2"] {
            s.im.create(id, "owner1", &["u1", "u2"]).await;
        }
    });
    s
}

/// One gateway per any-input property, so that each can check that nothing
/// is left in flight after its case.
fn any_input_env() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(start_with_groups)
}

fn route_shaped_env() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(start_with_groups)
}

/// A status, and the body as JSON, or why there is none.
async fn post(s: &Shared, route: &str, body: Bytes) -> Result<(u16, Value), String> {
    let token = s.im.token.clone().unwrap_or_default();
    let req = Request::builder()
        .method(Method::POST)
        .uri(s.im.env.url(route))
        .header("content-type", "application/json")
        .header("operationID", operation_id())
        .header("token", token)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = s
        .client
        .request(req)
        .await
        .map_err(|e| format!("{route}: no answer (connection dropped?): {e:?}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{route}: body cut off: {e}"))?
        .to_bytes();
    let v = serde_json::from_slice(&body).map_err(|e| {
        format!(
            "{route}: HTTP {status}, not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body)
        )
    })?;
    Ok((status, v))
}

// ---------------------------------------------------------------------
// 1. Round trip.
// ---------------------------------------------------------------------

/// A field in a request: left out, `null`, or a value.
#[derive(Clone, Debug)]
enum Opt<T> {
    Absent,
    Null,
    Set(T),
}

impl<T: Clone + Into<Value>> Opt<T> {
    fn put(&self, m: &mut Map<String, Value>, key: &str) {
        match self {
            Opt::Absent => {}
            Opt::Null => {
                m.insert(key.into(), Value::Null);
            }
            Opt::Set(v) => {
                m.insert(key.into(), v.clone().into());
            }
        }
    }

    fn value(&self) -> Option<&T> {
        match self {
            Opt::Set(v) => Some(v),
            _ => None,
        }
    }
}

fn opt<T: Clone + std::fmt::Debug + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Opt<T>> {
    prop_oneof![
        1 => Just(Opt::Absent),
        1 => Just(Opt::Null),
        4 => s.prop_map(Opt::Set),
    ]
}

/// One character: mostly ASCII, some anything (non-ASCII, controls,
/// astral), some that need escaping in JSON or in a form.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => proptest::char::range(' ', '~'),
        3 => any::<char>(),
        2 => proptest::sample::select(vec![
            'é', '字', '😀', '\u{0}', '\n', '\t', '"', '\\', '%', '&', '=', '+', ',', ' ', '\u{feff}',
            '\u{202e}',
        ]),
    ]
}

/// A string of `min..=max` characters, often at the limit.
fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    let short = min..=max.min(min + 12);
    let long = max.saturating_sub(2).max(min)..=max;
    prop_oneof![
        3 => proptest::collection::vec(any_char(), short),
        1 => proptest::collection::vec(any_char(), long),
    ]
    .prop_map(|v| v.into_iter().collect())
}

/// The group-info fields a call may carry.
#[derive(Clone, Debug)]
struct Fields {
    name: Opt<String>,
    notification: Opt<String>,
    introduction: Opt<String>,
    face_url: Opt<String>,
    ex: Opt<String>,
    need_verification: Opt<i64>,
    look: Opt<i64>,
    apply: Opt<i64>,
}

impl Fields {
    fn put(&self, m: &mut Map<String, Value>) {
        self.name.put(m, "groupName");
        self.notification.put(m, "notification");
        self.introduction.put(m, "introduction");
        self.face_url.put(m, "faceURL");
        self.ex.put(m, "ex");
        self.need_verification.put(m, "needVerification");
        self.look.put(m, "lookMemberInfo");
        self.apply.put(m, "applyMemberFriend");
    }
}

/// `min_name`: 1 where an empty name is refused (create_group,
/// set_group_info_ex), 0 where it means "unchanged" (set_group_info).
fn fields(min_name: usize) -> impl Strategy<Value = Fields> {
    (
        opt(text(min_name, 64)),
        opt(text(0, 1024)),
        opt(text(0, 512)),
        opt(text(0, 128)),
        opt(text(0, 256)),
        opt(0..=2i64),
        opt(0..=1i64),
        opt(0..=1i64),
    )
        .prop_map(
            |(name, notification, introduction, face_url, ex, need_verification, look, apply)| {
                Fields {
                    name,
                    notification,
                    introduction,
                    face_url,
                    ex,
                    need_verification,
                    look,
                    apply,
                }
            },
        )
}

/// What a group's info must read back as.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    name: String,
    notification: String,
    introduction: String,
    face_url: String,
    ex: String,
    need_verification: i64,
    look: i64,
    apply: i64,
    /// A set call changed the notification: OpenIM records who and when
    /// (open-im-server internal/rpc/group/db_map.go ~line 33).
    notified: bool,
}

impl Model {
    /// create_group: absent or null is the zero value.
    fn created(f: &Fields) -> Model {
        let s = |o: &Opt<String>| o.value().cloned().unwrap_or_default();
        let n = |o: &Opt<i64>| o.value().copied().unwrap_or(0);
        Model {
            name: s(&f.name),
            notification: s(&f.notification),
            introduction: s(&f.introduction),
            face_url: s(&f.face_url),
            ex: s(&f.ex),
            need_verification: n(&f.need_verification),
            look: n(&f.look),
            apply: n(&f.apply),
            notified: false,
        }
    }

    /// A set call: absent or null leaves a field unchanged; with `plain`
    /// (set_group_info) the four plain strings change only when non-empty.
    fn apply(&mut self, f: &Fields, plain: bool) {
        // set_group_info_ex trims the notification (db_map.go ~line 73).
        if let Some(n) = f.notification.value().filter(|n| !plain || !n.is_empty()) {
            self.notified = true;
            self.notification = if plain {
                n.clone()
            } else {
                n.trim().to_string()
            };
        }
        for (o, v) in [
            (&f.name, &mut self.name),
            (&f.introduction, &mut self.introduction),
            (&f.face_url, &mut self.face_url),
        ] {
            if let Some(new) = o.value().filter(|s| !plain || !s.is_empty()) {
                v.clone_from(new);
            }
        }
        if let Some(ex) = f.ex.value() {
            self.ex.clone_from(ex);
        }
        for (o, v) in [
            (&f.need_verification, &mut self.need_verification),
            (&f.look, &mut self.look),
            (&f.apply, &mut self.apply),
        ] {
            if let Some(n) = o.value() {
                *v = *n;
            }
        }
    }

    /// Compares every field of a GroupInfo with the model.
    fn check(&self, info: &Value, id: &str, owner: &str, members: usize) -> Result<(), String> {
        let want = json!({
            "groupID": id,
            "groupName": self.name,
            "notification": self.notification,
            "introduction": self.introduction,
            "faceURL": self.face_url,
            "ownerUserID": owner,
            "memberCount": members,
            "ex": self.ex,
            "status": 0,
            "creatorUserID": "",
            "groupType": 2,
            "needVerification": self.need_verification,
            "lookMemberInfo": self.look,
            "applyMemberFriend": self.apply,
            "notificationUserID": if self.notified { openim_admin() } else { "" },
        });
        let Some(got) = info.as_object() else {
            return Err(format!("not an object: {info}"));
        };
        let mut wrong = Vec::new();
        for (k, w) in want.as_object().into_iter().flatten() {
            if got.get(k) != Some(w) {
                wrong.push(format!("{k}: got {:?}, want {w}", got.get(k)));
            }
        }
        let when = got.get("notificationUpdateTime").and_then(Value::as_i64);
        if (when > Some(0)) != self.notified || when.is_none() {
            wrong.push(format!("notificationUpdateTime: {when:?}"));
        }
        let create_time = got.get("createTime").and_then(Value::as_i64);
        if got.len() != want.as_object().map_or(0, Map::len) + 2 || create_time <= Some(0) {
            wrong.push(format!("fields: {:?}", got.keys().collect::<Vec<_>>()));
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("\n"))
        }
    }
}

#[derive(Clone, Debug)]
enum Update {
    /// `/group/set_group_info_ex`: flat.
    Ex(Fields),
    /// `/group/set_group_info`: inside groupInfoForSet.
    Old(Fields),
}

/// The token's user in these tests (common::openim::ADMIN).
fn openim_admin() -> &'static str {
    common::openim::ADMIN
}

fn update() -> impl Strategy<Value = Update> {
    prop_oneof![
        // A blank name is refused by set_group_info_ex (db_map.go ~line 64).
        fields(1)
            .prop_map(|mut f| {
                if f.name.value().is_some_and(|n| n.trim().is_empty()) {
                    f.name = Opt::Set("n".into());
                }
                f
            })
            .prop_map(Update::Ex),
        fields(0).prop_map(Update::Old)
    ]
}

fn variant() -> impl Strategy<Value = ProfileVariant> {
    proptest::sample::select(vec![
        ProfileVariant::JsonText,
        ProfileVariant::Objects,
        ProfileVariant::TopLevel,
        ProfileVariant::NameField,
    ])
}

/// create_group needs a name: never absent or null.
fn create_fields() -> impl Strategy<Value = Fields> {
    (fields(1), text(1, 64)).prop_map(|(mut f, name)| {
        if f.name.value().is_none() {
            f.name = Opt::Set(name);
        }
        f
    })
}

/// A fresh group id (the vendor takes letters and digits).
fn group_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "rt{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// errCode 0, or the whole envelope as the error.
fn expect_ok(route: &str, body: &Value, (status, v): (u16, Value)) -> Result<Value, TestCaseError> {
    if status != 200 || v["errCode"] != 0 {
        return Err(TestCaseError::fail(format!(
            "{route} {}: HTTP {status} {v}",
            truncate(&body.to_string())
        )));
    }
    Ok(v.get("data").cloned().unwrap_or(Value::Null))
}

fn truncate(s: &str) -> String {
    s.chars().take(400).collect()
}

/// get_groups_info for `id` must answer exactly `model`.
async fn read_back(
    s: &Shared,
    id: &str,
    model: &Model,
    owner: &str,
    count: usize,
    after: &str,
) -> Result<(), TestCaseError> {
    let body = json!({"groupIDs": [id]});
    let raw = post(s, openim::GET_GROUPS_INFO, body.to_string().into())
        .await
        .map_err(TestCaseError::fail)?;
    let data = expect_ok(openim::GET_GROUPS_INFO, &body, raw)?;
    model
        .check(&data["groupInfos"][0], id, owner, count)
        .map_err(|e| TestCaseError::fail(format!("read back after {after}:\n{e}")))
}

async fn round_trip(
    s: &Shared,
    create: Fields,
    members: Vec<String>,
    updates: Vec<Update>,
) -> Result<(), TestCaseError> {
    let id = group_id();
    let owner = "owner1";
    let mut info = Map::new();
    info.insert("groupID".into(), id.clone().into());
    info.insert("groupType".into(), 2.into());
    create.put(&mut info);
    let body = json!({"ownerUserID": owner, "memberUserIDs": members, "groupInfo": info});
    let raw = post(s, openim::CREATE_GROUP, body.to_string().into())
        .await
        .map_err(TestCaseError::fail)?;
    let created = expect_ok(openim::CREATE_GROUP, &body, raw)?;
    let mut model = Model::created(&create);
    let count = 1 + members.len();
    model
        .check(&created["groupInfo"], &id, owner, count)
        .map_err(|e| TestCaseError::fail(format!("create_group's answer:\n{e}")))?;
    read_back(s, &id, &model, owner, count, "create_group").await?;
    for (i, u) in updates.iter().enumerate() {
        let (route, body) = match u {
            Update::Ex(f) => {
                let mut m = Map::new();
                m.insert("groupID".into(), id.clone().into());
                f.put(&mut m);
                model.apply(f, false);
                (openim::SET_GROUP_INFO_EX, Value::Object(m))
            }
            Update::Old(f) => {
                let mut m = Map::new();
                m.insert("groupID".into(), id.clone().into());
                f.put(&mut m);
                model.apply(f, true);
                (openim::SET_GROUP_INFO, json!({"groupInfoForSet": m}))
            }
        };
        let raw = post(s, route, body.to_string().into())
            .await
            .map_err(TestCaseError::fail)?;
        expect_ok(route, &body, raw)?;
        read_back(
            s,
            &id,
            &model,
            owner,
            count,
            &format!("update {i} ({route})"),
        )
        .await?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn written_group_info_reads_back_as_openim_says(
        create in create_fields(),
        members in proptest::collection::btree_set("[a-z]{1,6}", 0..4),
        updates in proptest::collection::vec(update(), 0..4),
        variant in variant(),
    ) {
        let s = round_trip_env();
        s.im.env.sim.set_profile_variant(variant);
        let members: Vec<String> = members.into_iter().filter(|m| m != "owner1").collect();
        s.rt.block_on(round_trip(s, create, members, updates))?;
    }
}

// ---------------------------------------------------------------------
// 2. Any input, on every route.
// ---------------------------------------------------------------------

/// Field names the routes read, so that generated objects get past the
/// first checks often.
const KEYS: &[&str] = &[
    "groupID",
    "groupIDs",
    "groupName",
    "notification",
    "introduction",
    "faceURL",
    "ex",
    "needVerification",
    "lookMemberInfo",
    "applyMemberFriend",
    "groupInfoForSet",
    "groupInfo",
    "groupType",
    "ownerUserID",
    "memberUserIDs",
    "adminUserIDs",
    "invitedUserIDs",
    "kickedUserIDs",
    "userID",
    "userIDs",
    "oldOwnerUserID",
    "newOwnerUserID",
    "members",
    "roleLevel",
    "nickname",
    "pagination",
    "pageNumber",
    "showNumber",
    "fromUserID",
    "secret",
    "reason",
    "sendMessage",
    "deleteMember",
    "filter",
    "keyword",
    "reqMessage",
    "joinSource",
    "inviterUserID",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

/// Any JSON value, up to 6 levels deep; strings are often ids the routes
/// take (in this env's own simulator only), or JSON text.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..130).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        proptest::sample::select(vec!["g1", "u1", "u2", "owner1", "", "2", "a,b"])
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        text(60, 70).prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner.clone(), 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

/// A request body: mostly objects with the routes' keys, sometimes any
/// JSON, sometimes any bytes.
fn any_body() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        6 => proptest::collection::btree_map(key(), any_json(), 0..10)
            .prop_map(|m| Bytes::from(Value::Object(m.into_iter().collect()).to_string())),
        2 => any_json().prop_map(|v| Bytes::from(v.to_string())),
        1 => proptest::collection::vec(any::<u8>(), 0..256).prop_map(Bytes::from),
    ]
}

/// What a field holds when it is well typed.
#[derive(Clone, Copy, Debug)]
enum Kind {
    GroupId,
    User,
    Secret,
    Role,
    /// A string of up to this many characters (and one more, sometimes).
    Str(usize),
    /// An integer in this range (and one past each end, sometimes).
    Int(i64, i64),
    Bool,
    Users,
    GroupIds,
    Obj(Schema),
    Objs(Schema),
    /// Another schema's fields, in the same object.
    Fields(Schema),
}

type Schema = &'static [(&'static str, Kind)];

const SET_INFO: Schema = &[
    ("groupID", Kind::GroupId),
    ("groupName", Kind::Str(64)),
    ("notification", Kind::Str(1024)),
    ("introduction", Kind::Str(512)),
    ("faceURL", Kind::Str(128)),
    ("ex", Kind::Str(256)),
    ("needVerification", Kind::Int(0, 2)),
    ("lookMemberInfo", Kind::Int(0, 1)),
    ("applyMemberFriend", Kind::Int(0, 1)),
];
/// create_group's groupInfo: set_group_info_ex's fields and groupType.
const GROUP_INFO: Schema = &[("groupType", Kind::Int(2, 2)), ("", Kind::Fields(SET_INFO))];
const PAGINATION: Schema = &[
    ("pageNumber", Kind::Int(1, 3)),
    ("showNumber", Kind::Int(1, 4)),
];
const MEMBER: Schema = &[
    ("groupID", Kind::GroupId),
    ("userID", Kind::User),
    ("nickname", Kind::Str(64)),
    ("faceURL", Kind::Str(0)),
    ("roleLevel", Kind::Role),
    ("ex", Kind::Str(16)),
];

/// Each route's request fields.
fn schema(route: &str) -> Schema {
    match route {
        openim::GET_ADMIN_TOKEN => &[("secret", Kind::Secret), ("userID", Kind::User)],
        openim::CREATE_GROUP => &[
            ("ownerUserID", Kind::User),
            ("memberUserIDs", Kind::Users),
            ("adminUserIDs", Kind::Users),
            ("groupInfo", Kind::Obj(GROUP_INFO)),
            ("sendMessage", Kind::Bool),
        ],
        openim::SET_GROUP_INFO => &[("groupInfoForSet", Kind::Obj(SET_INFO))],
        openim::SET_GROUP_INFO_EX => SET_INFO,
        openim::GET_GROUPS_INFO => &[("groupIDs", Kind::GroupIds)],
        openim::INVITE_USER_TO_GROUP => &[
            ("groupID", Kind::GroupId),
            ("invitedUserIDs", Kind::Users),
            ("reason", Kind::Str(8)),
            ("sendMessage", Kind::Bool),
        ],
        openim::JOIN_GROUP => &[
            ("groupID", Kind::GroupId),
            ("userID", Kind::User),
            ("reqMessage", Kind::Str(8)),
            ("joinSource", Kind::Int(0, 4)),
            ("inviterUserID", Kind::User),
            ("ex", Kind::Str(8)),
        ],
        openim::KICK_GROUP => &[
            ("groupID", Kind::GroupId),
            ("kickedUserIDs", Kind::Users),
            ("reason", Kind::Str(8)),
            ("sendMessage", Kind::Bool),
        ],
        openim::QUIT_GROUP => &[("groupID", Kind::GroupId), ("userID", Kind::User)],
        openim::TRANSFER_GROUP => &[
            ("groupID", Kind::GroupId),
            ("oldOwnerUserID", Kind::User),
            ("newOwnerUserID", Kind::User),
        ],
        openim::DISMISS_GROUP => &[
            ("groupID", Kind::GroupId),
            ("deleteMember", Kind::Bool),
            ("sendMessage", Kind::Bool),
        ],
        openim::GET_GROUP_MEMBER_LIST => &[
            ("groupID", Kind::GroupId),
            ("pagination", Kind::Obj(PAGINATION)),
            ("filter", Kind::Int(0, 0)),
            ("keyword", Kind::Str(1)),
        ],
        openim::GET_GROUP_MEMBERS_INFO => &[("groupID", Kind::GroupId), ("userIDs", Kind::Users)],
        openim::SET_GROUP_MEMBER_INFO => &[("members", Kind::Objs(MEMBER))],
        openim::GET_JOINED_GROUP_LIST => &[
            ("fromUserID", Kind::User),
            ("pagination", Kind::Obj(PAGINATION)),
        ],
        _ => &[],
    }
}

/// A well-typed value of `kind` (mostly valid, sometimes just out of range).
fn valid(kind: Kind) -> BoxedStrategy<Value> {
    let pick = |v: Vec<&'static str>| proptest::sample::select(v).prop_map(Value::from).boxed();
    match kind {
        Kind::GroupId => pick(vec!["g1", "g1", "g2", "g2", "g3", "", "a,b", "g-4"]),
        Kind::User => pick(vec!["u1", "u2", "u3", "u4", "owner1", "imAdmin", ""]),
        Kind::Secret => pick(vec![common::openim::SECRET, "nope"]),
        Kind::Role => proptest::sample::select(vec![20, 60, 100, 0])
            .prop_map(Value::from)
            .boxed(),
        Kind::Str(max) => text(0, max + 1).prop_map(Value::from).boxed(),
        Kind::Int(lo, hi) => (lo - 1..=hi + 1).prop_map(Value::from).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::from).boxed(),
        Kind::Users => proptest::collection::vec(valid(Kind::User), 0..5)
            .prop_map(Value::Array)
            .boxed(),
        Kind::GroupIds => proptest::collection::vec(valid(Kind::GroupId), 0..5)
            .prop_map(Value::Array)
            .boxed(),
        Kind::Obj(schema) | Kind::Fields(schema) => object(schema),
        Kind::Objs(schema) => proptest::collection::vec(object(schema), 0..3)
            .prop_map(Value::Array)
            .boxed(),
    }
}

/// An object of `schema`'s fields: each mostly well typed, sometimes
/// absent, sometimes anything at all.
fn object(schema: Schema) -> BoxedStrategy<Value> {
    let fields: Vec<BoxedStrategy<Option<Value>>> = schema
        .iter()
        .map(|(_, kind)| match kind {
            // Each of its fields drawn as here.
            Kind::Fields(inner) => object(inner).prop_map(Some).boxed(),
            _ => prop_oneof![
                1 => Just(None),
                14 => valid(*kind).prop_map(Some),
                1 => any_json().prop_map(Some),
            ]
            .boxed(),
        })
        .collect();
    fields
        .prop_map(move |values| {
            let mut m = Map::new();
            for ((k, kind), v) in schema.iter().zip(values) {
                match (kind, v) {
                    (Kind::Fields(_), Some(Value::Object(fields))) => m.extend(fields),
                    (_, Some(v)) => {
                        m.insert((*k).to_string(), v);
                    }
                    (_, None) => {}
                }
            }
            Value::Object(m)
        })
        .boxed()
}

/// A route and a body shaped for it (mostly).
fn route_and_body() -> impl Strategy<Value = (&'static str, Bytes)> {
    proptest::sample::select(openim::ROUTES).prop_flat_map(|route| {
        let body = prop_oneof![
            8 => object(schema(route)).prop_map(|v| Bytes::from(v.to_string())),
            1 => any_body(),
        ];
        (Just(route), body)
    })
}

/// Posts `body` to each of `routes` and checks every answer is OpenIM's
/// envelope; then that the gateway is healthy with nothing in flight.
async fn any_input(s: &Shared, routes: &[&str], body: Bytes) -> Result<(), TestCaseError> {
    for route in routes {
        let (status, v) = post(s, route, body.clone())
            .await
            .map_err(TestCaseError::fail)?;
        let shown = || truncate(&String::from_utf8_lossy(&body));
        // 200 for everything handled; 429 only from the quota.
        prop_assert!(
            status == 200 || status == 429,
            "{} {}: HTTP {} {}",
            route,
            shown(),
            status,
            v
        );
        let code = v["errCode"].as_i64();
        prop_assert!(code.is_some(), "{} {}: no errCode: {}", route, shown(), v);
        prop_assert!(
            v["errMsg"].is_string() && v["errDlt"].is_string(),
            "{}: {}",
            route,
            v
        );
        // 500 is the gateway's own fault (or its credentials'): never the
        // caller's input.
        prop_assert_ne!(code, Some(500), "{} {}: {}", route, shown(), v);
        if code == Some(0) {
            prop_assert_eq!(&v["errMsg"], "");
        } else {
            prop_assert!(v["errMsg"].as_str().is_some_and(|m| !m.is_empty()), "{}", v);
            prop_assert!(v["errDlt"].as_str().is_some_and(|m| !m.is_empty()), "{}", v);
            prop_assert!(v.get("data").is_none(), "{}", v);
        }
    }
    // Still healthy, with nothing left in flight but the scrape itself.
    let health = common::send(Method::GET, &s.im.env.url("/healthz"), &[], "").await;
    prop_assert_eq!(health.status, 200);
    let metrics = common::metrics(&s.im.env.gw).await;
    let in_flight = common::sample(&metrics, common::IN_FLIGHT, &[]);
    prop_assert_eq!(in_flight, Some(1.0), "in flight");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_input_on_any_route_gets_an_envelope(body in any_body()) {
        let s = any_input_env();
        s.rt.block_on(any_input(s, openim::ROUTES, body))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn route_shaped_input_gets_an_envelope((route, body) in route_and_body()) {
        let s = route_shaped_env();
        s.rt.block_on(any_input(s, &[route], body))?;
    }
}

// ---------------------------------------------------------------------
// 3. The vendor-answer parsers and the translators on them.
// ---------------------------------------------------------------------

const PROFILE_KEYS: &[&str] = &[
    "groupId",
    "groupID",
    "group_id",
    "groupName",
    "name",
    "groupProfile",
    "permissions",
    "groupExtProfile",
    "owner",
    "ownerId",
    "createTime",
    "memberCount",
    "introduction",
    "announcement",
    "portraitUrl",
    "joinPerm",
    "memInvitePerm",
    "ext_openim_ex",
    "ext_openim_look",
    "ext_openim_apply",
    "ext_x",
];

const MEMBER_KEYS: &[&str] = &[
    "userId",
    "userID",
    "user_id",
    "nickname",
    "role",
    "time",
    "joinTime",
    "extra",
    "groupId",
    "groupName",
];

/// An object with `keys` (and others), any values, some as JSON text.
fn shaped(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let k = prop_oneof![
        5 => proptest::sample::select(keys).prop_map(str::to_string),
        1 => key(),
    ];
    proptest::collection::btree_map(k, any_json(), 0..12)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// A list, sometimes as JSON text, sometimes not a list at all.
fn listish(item: impl Strategy<Value = Value> + Clone + 'static) -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => proptest::collection::vec(item.clone(), 0..6).prop_map(Value::Array),
        1 => proptest::collection::vec(item, 0..6).prop_map(|v| Value::String(Value::Array(v).to_string())),
        1 => any_json(),
    ]
}

/// A vendor answer: any bytes, any JSON, or the shape of one of the answers
/// the gateway reads, with anything in it.
fn vendor_answer() -> impl Strategy<Value = Vec<u8>> {
    let answer = |list: &'static str, item: BoxedStrategy<Value>| {
        (any_json(), listish(item), any_json(), any_json()).prop_map(
            move |(code, l, total, token)| {
                json!({"code": code, list: l, "totalCount": total, "pageToken": token})
                    .to_string()
                    .into_bytes()
            },
        )
    };
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..512),
        1 => any_json().prop_map(|v| v.to_string().into_bytes()),
        3 => answer("profiles", shaped(PROFILE_KEYS).boxed()),
        2 => answer("members", shaped(MEMBER_KEYS).boxed()),
        2 => answer("groups", prop_oneof![shaped(MEMBER_KEYS), any_json()].boxed()),
        1 => answer("groupIds", any_json().boxed()),
    ]
}

fn check_group_info(p: &Profile) -> Result<(), TestCaseError> {
    let v = group::group_info(p);
    let m = v.as_object().expect("an object");
    prop_assert_eq!(m.len(), 17);
    prop_assert_eq!(&m["groupID"], &Value::from(p.group_id.as_str()));
    prop_assert!((0..=2).contains(&m["needVerification"].as_i64().unwrap_or(-1)));
    for k in ["lookMemberInfo", "applyMemberFriend"] {
        prop_assert!((0..=1).contains(&m[k].as_i64().unwrap_or(-1)), "{}", k);
    }
    prop_assert!(
        m["memberCount"]
            .as_u64()
            .is_some_and(|n| n <= u64::from(u32::MAX))
    );
    for k in [
        "groupName",
        "notification",
        "introduction",
        "faceURL",
        "ownerUserID",
        "ex",
    ] {
        prop_assert!(m[k].is_string(), "{}", k);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn vendor_answers_never_panic_the_parsers_or_translators(body in vendor_answer()) {
        if let Ok(list) = profile::parse_profiles(&body) {
            for p in &list {
                prop_assert!(!p.group_id.is_empty());
                check_group_info(p)?;
            }
        }
        if let Ok(page) = profile::parse_members(&body) {
            prop_assert!(page.page_token.as_deref() != Some(""));
            for m in &page.items {
                prop_assert!(!m.user_id.is_empty());
                let v = member::group_member("g", m);
                prop_assert_eq!(v.as_object().map(Map::len), Some(12));
                prop_assert!([100, 60, 20].contains(&v["roleLevel"].as_i64().unwrap_or(0)));
            }
        }
        if let Ok(page) = profile::parse_joined_groups(&body) {
            for g in &page.items {
                prop_assert!(!g.group_id.is_empty());
            }
        }
        if let Some((code, _)) = profile::status(&body) {
            // A code only from a JSON object holding one.
            let v: Value = serde_json::from_slice(&body).expect("status read JSON");
            prop_assert!(v.get("code").is_some(), "{}", code);
        }
    }

    /// Profiles with arbitrary fields translate to a GroupInfo with every
    /// field in range.
    #[test]
    fn any_profile_translates(
        group_id in ".{1,8}",
        strings in proptest::collection::vec(proptest::option::of(".{0,8}"), 5),
        permissions in proptest::collection::btree_map(
            proptest::sample::select(profile::PERMISSION_KEYS.to_vec()).prop_map(str::to_string),
            any::<i64>(),
            0..6,
        ),
        ext in proptest::collection::btree_map(
            proptest::sample::select(vec![group::EXT_EX, group::EXT_LOOK, group::EXT_APPLY, "ext_z"])
                .prop_map(str::to_string),
            prop_oneof![Just("1".to_string()), Just(" 1 ".to_string()), ".{0,4}"],
            0..4,
        ),
        create_time in proptest::option::of(any::<i64>()),
        member_count in proptest::option::of(any::<i64>()),
    ) {
        let p = Profile {
            group_id,
            name: strings[0].clone(),
            owner: strings[1].clone(),
            introduction: strings[2].clone(),
            announcement: strings[3].clone(),
            portrait_url: strings[4].clone(),
            permissions,
            ext,
            create_time,
            member_count,
        };
        check_group_info(&p)?;
    }

    /// The request readers: any JSON under any key, read as any type, gives
    /// a value or an ArgsError naming the field.
    #[test]
    fn request_fields_are_read_or_named(body in any_body()) {
        let Ok(req) = parse(&body) else {
            return Ok(());
        };
        let o = Obj::new(&req, "outer.");
        let mut keys: BTreeSet<String> = req.keys().cloned().collect();
        keys.insert("absent".into());
        for key in &keys {
            let name = format!("outer.{key}");
            let results = [
                o.opt_str(key).err(),
                o.required(key).err(),
                o.opt_int(key, 0, 2).err(),
                o.opt_int(key, i64::MIN, i64::MAX).err(),
                o.opt_bool(key).err(),
                o.strings(key).err(),
                o.opt_obj(key).err(),
                o.objects(key).err(),
            ];
            for e in results.into_iter().flatten() {
                match e {
                    entrust_gateway::error::Error::Args(d) => {
                        prop_assert!(d.contains(&name), "{} does not name {}", d, name);
                    }
                    other => prop_assert!(false, "not an ArgsError: {:?}", other),
                }
            }
        }
    }
}
