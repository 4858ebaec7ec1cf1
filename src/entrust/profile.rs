//! The vendor's answers as the gateway reads them, parsed tolerantly.
//!
//! The docs and the official SDKs disagree on shapes (see
//! `shared/reference/entrust-api.md`): the JSON-valued fields of a profile
//! come as JSON text or as objects, some stand at the profile's top level
//! instead of inside `groupProfile`, the name may be `name` instead of
//! `groupName`, numbers may come as strings, and any field may be missing.
//! Every parser here takes any input and never panics: what it can't
//! understand it leaves out, and only an answer without the list it is
//! about at all is an error.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// One group's profile from `group/profile/query.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub group_id: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub introduction: Option<String>,
    pub announcement: Option<String>,
    pub portrait_url: Option<String>,
    /// Permission keys as given (unset ones are the vendor's default, 0).
    pub permissions: BTreeMap<String, i64>,
    /// `groupExtProfile`: `ext_` keys and their values.
    pub ext: BTreeMap<String, String>,
    /// Milliseconds since the epoch.
    pub create_time: Option<i64>,
    pub member_count: Option<i64>,
}

impl Profile {
    /// A permission's effective value (unset ones are 0, the vendor's default).
    pub fn permission(&self, key: &str) -> i64 {
        self.permissions.get(key).copied().unwrap_or(0)
    }
}

/// One member from `group/member/query.json` or
/// `group/member/specific/query.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub nickname: String,
    /// [`crate::entrust::role`] values; 0 when missing or not understood.
    pub role: i64,
    /// Join time, milliseconds since the epoch.
    pub time: i64,
    pub extra: String,
}

/// A page of a paged query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page<T> {
    pub total: Option<i64>,
    /// The token for the next page; `None` (or empty) on the last page.
    pub page_token: Option<String>,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    /// Whether another page follows.
    pub fn has_more(&self) -> bool {
        self.page_token.as_deref().is_some_and(|t| !t.is_empty())
    }
}

/// One group from `joined/group/query.json` (its shape is not documented:
/// `groups: [{groupId, groupName, role, time}]` is assumed, and a plain list
/// of ids, or `groupIds`, is understood too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinedGroup {
    pub group_id: String,
    pub name: Option<String>,
    pub role: i64,
    pub time: i64,
}

/// The permission keys.
pub const PERMISSION_KEYS: [&str; 6] = [
    "joinPerm",
    "removePerm",
    "memInvitePerm",
    "invitePerm",
    "profilePerm",
    "memProfilePerm",
];

/// A JSON-valued field: an object, or JSON text holding one. Anything else
/// (null, "", not JSON, another type) is empty.
fn json_field(v: Option<&Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(m)) => m.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// A string value: strings as they are, numbers and booleans as text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integer value: integers, whole floats, and numeric strings.
fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// The parsed body, when it is a JSON object.
fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// The first of `keys` the object has (not null).
fn first<'a>(m: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().filter_map(|k| m.get(*k)).find(|v| !v.is_null())
}

/// One profile object; `None` when it has no usable group id.
pub fn parse_profile(v: &Value) -> Option<Profile> {
    let m = v.as_object()?;
    let group_id = text(first(m, &["groupId", "groupID", "group_id"]))?;
    if group_id.is_empty() {
        return None;
    }
    let inner = json_field(m.get("groupProfile"));
    // Inside groupProfile first, then at the top level.
    let profile_text = |key: &str| text(inner.get(key)).or_else(|| text(m.get(key)));
    let name = text(first(m, &["groupName", "name"])).or_else(|| text(inner.get("name")));
    let mut permissions = BTreeMap::new();
    let perms = json_field(m.get("permissions"));
    for key in PERMISSION_KEYS {
        if let Some(n) = int(perms.get(key)).or_else(|| int(m.get(key))) {
            permissions.insert(key.to_string(), n);
        }
    }
    let mut ext = BTreeMap::new();
    let ext_json = json_field(m.get("groupExtProfile"));
    // ext_ keys at the top level too, for profiles flattened all the way.
    for (k, v) in m.iter().chain(ext_json.iter()) {
        if k.starts_with(super::limit::EXT_KEY_PREFIX)
            && let Some(s) = text(Some(v))
        {
            ext.insert(k.clone(), s);
        }
    }
    Some(Profile {
        group_id,
        name,
        owner: text(first(m, &["owner", "ownerId", "ownerUserId"])),
        introduction: profile_text("introduction"),
        announcement: profile_text("announcement"),
        portrait_url: profile_text("portraitUrl"),
        permissions,
        ext,
        create_time: int(m.get("createTime")),
        member_count: int(m.get("memberCount")),
    })
}

/// The `profiles` of a `group/profile/query.json` answer (the list may also
/// come as JSON text). An answer without a `profiles` list is an error,
/// except an empty or missing list when nothing was found.
pub fn parse_profiles(body: &[u8]) -> Result<Vec<Profile>, String> {
    let m = object(body).ok_or("the answer is not a JSON object")?;
    let list = match m.get("profiles") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => return Err("profiles is neither a list nor JSON text holding one".into()),
        },
        Some(_) => return Err("profiles is not a list".into()),
    };
    Ok(list.iter().filter_map(parse_profile).collect())
}

/// A role: a number, a numeric string, or the role's name.
fn role(v: Option<&Value>) -> i64 {
    if let Some(n) = int(v) {
        return n;
    }
    match v
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("OWNER") => super::role::OWNER,
        Some("MANAGER") | Some("ADMIN") => super::role::MANAGER,
        Some("MEMBER") => super::role::MEMBER,
        _ => 0,
    }
}

fn parse_member(v: &Value) -> Option<Member> {
    let m = v.as_object()?;
    let user_id = text(first(m, &["userId", "userID", "user_id"]))?;
    if user_id.is_empty() {
        return None;
    }
    Some(Member {
        user_id,
        nickname: text(m.get("nickname")).unwrap_or_default(),
        role: role(m.get("role")),
        time: int(first(m, &["time", "joinTime"])).unwrap_or(0),
        extra: text(m.get("extra")).unwrap_or_default(),
    })
}

/// A list field that may come as a list or as JSON text holding one.
fn list(v: Option<&Value>) -> Option<Vec<Value>> {
    match v? {
        Value::Array(a) => Some(a.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => Some(a),
            _ => None,
        },
        _ => None,
    }
}

fn page_of<T>(
    body: &[u8],
    keys: &[&str],
    item: impl Fn(&Value) -> Option<T>,
) -> Result<Page<T>, String> {
    let m = object(body).ok_or("the answer is not a JSON object")?;
    let present = first(&m, keys);
    let items = match present {
        None => Vec::new(),
        Some(v) => list(Some(v))
            .ok_or_else(|| format!("{} is not a list", keys.first().copied().unwrap_or("list")))?
            .iter()
            .filter_map(item)
            .collect(),
    };
    Ok(Page {
        total: int(first(&m, &["totalCount", "total"])),
        page_token: text(m.get("pageToken")).filter(|t| !t.is_empty()),
        items,
    })
}

/// A `group/member/query.json` or `group/member/specific/query.json` answer.
pub fn parse_members(body: &[u8]) -> Result<Page<Member>, String> {
    page_of(body, &["members"], parse_member)
}

fn parse_joined(v: &Value) -> Option<JoinedGroup> {
    if let Some(id) = v.as_str() {
        return (!id.is_empty()).then(|| JoinedGroup {
            group_id: id.to_string(),
            ..JoinedGroup::default()
        });
    }
    let m = v.as_object()?;
    let group_id = text(first(m, &["groupId", "groupID", "group_id"]))?;
    if group_id.is_empty() {
        return None;
    }
    Some(JoinedGroup {
        group_id,
        name: text(first(m, &["groupName", "name"])),
        role: role(m.get("role")),
        time: int(first(m, &["time", "joinTime"])).unwrap_or(0),
    })
}

/// A `joined/group/query.json` answer.
pub fn parse_joined_groups(body: &[u8]) -> Result<Page<JoinedGroup>, String> {
    page_of(body, &["groups", "groupIds", "list"], parse_joined)
}

/// A `YYYY-MM-DD HH:MM:SS` time (UTC, as the legacy API gives it for the
/// global data centers) or a number of ms: unix ms.
fn datetime_ms(v: Option<&Value>) -> Option<i64> {
    if let Some(n) = v.and_then(Value::as_i64) {
        return Some(n);
    }
    let s = v?.as_str()?.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time
        .trim_end_matches('Z')
        .split(':')
        .map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000)
}

/// A `/group/user/gag/list.json` answer: each muted user and when the
/// mute ends (unix ms; Go SDK `sdk/group.go` GroupUser `{userId, time}`).
pub fn parse_gag_list(body: &[u8]) -> Result<Vec<(String, i64)>, String> {
    let page = page_of(body, &["users", "members"], |v| {
        let m = v.as_object()?;
        let user = text(first(m, &["userId", "id"]))?;
        let until = datetime_ms(first(m, &["time", "endTime", "muteExpiresAt"]))?;
        (!user.is_empty()).then_some((user, until))
    })?;
    Ok(page.items)
}

/// A `/group/ban/query.json` answer: each group and whether every member
/// is muted (Go SDK `sdk/group.go` GroupInfo `{groupinfo:[{groupId, stat}]}`).
pub fn parse_ban_query(body: &[u8]) -> Result<Vec<(String, bool)>, String> {
    let page = page_of(body, &["groupinfo", "groupInfo", "groups"], |v| {
        let m = v.as_object()?;
        let id = text(first(m, &["groupId", "id"]))?;
        (!id.is_empty()).then(|| (id, int(m.get("stat")) == Some(1)))
    })?;
    Ok(page.items)
}

/// `code` and `errorMessage` of any answer, when the body is a JSON object
/// with an integer `code`.
pub fn status(body: &[u8]) -> Option<(i64, String)> {
    let m = object(body)?;
    let code = int(m.get("code"))?;
    let message = text(first(&m, &["errorMessage", "msg", "message"])).unwrap_or_default();
    Some((code, message))
}

#[cfg(test)]
mod tests {

    #[test]
    fn gag_lists_and_ban_queries_as_the_go_sdk_reads_them() {
        let body = br#"{"code":200,"users":[{"userId":"a","time":"2015-09-25 16:12:38"},{"userId":"b","time":1000},{"userId":"","time":"x"}]}"#;
        let got = parse_gag_list(body).unwrap();
        assert_eq!(
            got,
            [
                ("a".to_string(), 1_443_197_558_000),
                ("b".to_string(), 1000)
            ]
        );
        assert_eq!(
            datetime_ms(Some(&Value::from("1970-01-01 00:00:00"))),
            Some(0)
        );
        assert_eq!(
            datetime_ms(Some(&Value::from("2000-02-29 23:59:59"))),
            Some(951_868_799_000)
        );
        assert_eq!(datetime_ms(Some(&Value::from("2000-13-01 00:00:00"))), None);
        let body =
            br#"{"code":200,"groupinfo":[{"groupId":"g1","stat":1},{"groupId":"g2","stat":0}]}"#;
        assert_eq!(
            parse_ban_query(body).unwrap(),
            [("g1".to_string(), true), ("g2".to_string(), false)]
        );
    }
    use super::*;
    use serde_json::json;

    fn one(v: Value) -> Profile {
        let body = json!({"code": 200, "profiles": [v]}).to_string();
        let mut p = parse_profiles(body.as_bytes()).unwrap();
        assert_eq!(p.len(), 1);
        p.remove(0)
    }

    #[test]
    fn seed_examples() {
        let body = br#"{"code":200,"profiles":[{"groupId":"gorupId1","createTime":1717717737377,"owner":"userId1","groupName":"gName1","groupProfile":"{\"introduction\":\"introductionTest\",\"portraitUrl\":\"XXXX\"}","memberCount":10},{"groupId":"gorupId2","createTime":1717717737376,"owner":"userId2","groupName":"gName2","announcement":"announcement","introduction":"introduction","groupExtProfile":"{\"ext_key1\":\"value1\",\"ext_key2\":\"value2\"}","memberCount":9}]}"#;
        let p = parse_profiles(body).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].introduction.as_deref(), Some("introductionTest"));
        assert_eq!(p[0].portrait_url.as_deref(), Some("XXXX"));
        assert_eq!(p[0].member_count, Some(10));
        assert_eq!(p[1].announcement.as_deref(), Some("announcement"));
        assert_eq!(p[1].introduction.as_deref(), Some("introduction"));
        assert_eq!(p[1].ext.get("ext_key2").map(String::as_str), Some("value2"));
        assert_eq!(p[1].create_time, Some(1717717737376));
    }

    #[test]
    fn variants() {
        let o = one(
            json!({"groupId":"g","name":"N","groupProfile":{"announcement":"a"},
            "permissions":{"joinPerm":"1","memInvitePerm":2.0},"groupExtProfile":{"ext_x":"1"},
            "memberCount":"3"}),
        );
        assert_eq!(o.name.as_deref(), Some("N"));
        assert_eq!(o.announcement.as_deref(), Some("a"));
        assert_eq!(o.permission("joinPerm"), 1);
        assert_eq!(o.permission("memInvitePerm"), 2);
        assert_eq!(o.permission("removePerm"), 0);
        assert_eq!(o.ext.get("ext_x").map(String::as_str), Some("1"));
        assert_eq!(o.member_count, Some(3));
        let sparse = one(json!({"groupId":"g"}));
        assert_eq!(sparse.name, None);
        assert_eq!(sparse.owner, None);
        let inner_name = one(json!({"groupId":"g","groupProfile":"{\"name\":\"in\"}"}));
        assert_eq!(inner_name.name.as_deref(), Some("in"));
        let junk = one(
            json!({"groupId":"g","groupProfile":"{not json","permissions":7,
            "groupExtProfile":[1],"createTime":"x","owner":{}}),
        );
        assert_eq!(junk.create_time, None);
        assert_eq!(junk.owner, None);
    }

    #[test]
    fn bad_answers() {
        assert!(parse_profiles(b"nope").is_err());
        assert!(parse_profiles(br#"{"profiles":3}"#).is_err());
        assert_eq!(parse_profiles(br#"{"code":200}"#).unwrap(), vec![]);
        let p = parse_profiles(br#"{"profiles":[1,null,{"groupId":""},{"groupId":5}]}"#).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].group_id, "5");
        assert_eq!(
            status(br#"{"code":"25410","errorMessage":"no"}"#),
            Some((25410, "no".into()))
        );
        assert_eq!(status(b"[]"), None);
    }

    #[test]
    fn members_and_joined() {
        let m = parse_members(
            br#"{"code":200,"totalCount":2,"pageToken":"t","members":[{"userId":"a","role":3,"time":5,"extra":"e"},{"userId":"b","role":"MANAGER"}]}"#,
        )
        .unwrap();
        assert_eq!(m.total, Some(2));
        assert!(m.has_more());
        assert_eq!(m.items[0].role, 3);
        assert_eq!(m.items[1].role, 2);
        let j =
            parse_joined_groups(br#"{"groups":[{"groupId":"g1","role":1},"g2"],"pageToken":""}"#)
                .unwrap();
        assert_eq!(j.items.len(), 2);
        assert!(!j.has_more());
        assert!(parse_members(br#"{"members":{}}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_profiles(s.as_bytes());
            let _ = parse_members(s.as_bytes());
            let _ = parse_joined_groups(s.as_bytes());
            let _ = status(s.as_bytes());
        }

        #[test]
        fn never_panics_on_json_shapes(
            fields in proptest::collection::vec((
                proptest::sample::select(vec!["groupId", "groupName", "name", "groupProfile",
                    "permissions", "groupExtProfile", "owner", "createTime", "memberCount",
                    "introduction", "ext_a", "joinPerm"]),
                proptest::sample::select(vec!["null", "1", "-1", "1.5", "1e300", "\"x\"",
                    "\"{}\"", r#""{\"joinPerm\":1}""#, "[]", "{}", "true",
                    r#"{"joinPerm":"9","ext_b":[]}"#]),
            ), 0..8),
        ) {
            let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let body = format!("{{\"code\":200,\"profiles\":[{{{}}}]}}", fields.join(","));
            proptest::prop_assert!(parse_profiles(body.as_bytes()).is_ok());
        }
    }
}
