//! How group/profile/query.json shapes one profile: the variants seen in the
//! vendor's docs and SDKs.

use serde_json::{Map, Value};

use super::store::Group;
use super::validate::PERMISSIONS;

/// The shape of each entry of `profiles` in group/profile/query.json.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProfileVariant {
    /// As the seed's first example: `groupProfile`, `permissions` and
    /// `groupExtProfile` are JSON *text* (strings). `groupProfile` and
    /// `groupExtProfile` are left out when empty; `permissions` is always
    /// there, with every key (unset ones at their default, 0).
    #[default]
    JsonText,
    /// The same fields as JSON objects.
    Objects,
    /// As the seed's second example: introduction/announcement/portraitUrl
    /// stand at the profile's top level and there is no `groupProfile`;
    /// `groupExtProfile` and `permissions` stay JSON text.
    TopLevel,
    /// Like `JsonText`, with `name` instead of `groupName`.
    NameField,
    /// Only `groupId` and `groupName`; every other field missing.
    Sparse,
}

fn text(m: &Map<String, Value>) -> Value {
    Value::from(serde_json::to_string(m).unwrap_or_default())
}

/// Every permission, unset ones at their default.
pub(crate) fn effective_permissions(g: &Group) -> Map<String, Value> {
    PERMISSIONS
        .iter()
        .map(|(k, _)| ((*k).to_owned(), Value::from(g.permission(k))))
        .collect()
}

/// `groupProfile`, `groupExtProfile` and `permissions` as JSON text, as the
/// join and joined-group answers carry them (Go `JoinGroupResult`,
/// `EntrustGroupDetailInfo`: all three are strings).
pub(crate) fn text_fields(g: &Group) -> [(&'static str, Value); 3] {
    [
        ("groupProfile", text(&g.profile)),
        ("groupExtProfile", text(&g.ext)),
        ("permissions", text(&effective_permissions(g))),
    ]
}

pub(crate) fn render(g: &Group, variant: ProfileVariant) -> Value {
    let mut p = Map::new();
    p.insert("groupId".into(), Value::from(g.id.as_str()));
    let name_key = match variant {
        ProfileVariant::NameField => "name",
        _ => "groupName",
    };
    p.insert(name_key.into(), Value::from(g.name.as_str()));
    if matches!(variant, ProfileVariant::Sparse) {
        return Value::Object(p);
    }
    p.insert("owner".into(), Value::from(g.owner.as_str()));
    p.insert("createTime".into(), Value::from(g.create_time));
    p.insert("memberCount".into(), Value::from(g.members.len()));

    let perms = effective_permissions(g);
    let as_object = matches!(variant, ProfileVariant::Objects);
    let shape = |m: &Map<String, Value>| {
        if as_object {
            Value::Object(m.clone())
        } else {
            text(m)
        }
    };
    match variant {
        ProfileVariant::TopLevel => {
            for (k, v) in &g.profile {
                p.insert(k.clone(), v.clone());
            }
        }
        _ if !g.profile.is_empty() => {
            p.insert("groupProfile".into(), shape(&g.profile));
        }
        _ => {}
    }
    p.insert("permissions".into(), shape(&perms));
    if !g.ext.is_empty() {
        p.insert("groupExtProfile".into(), shape(&g.ext));
    }
    Value::Object(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::store::Store;
    use crate::sim::validate::{ProfileParams, ext_profile, group_profile, permissions};
    use serde_json::json;

    fn group() -> Store {
        let mut s = Store::default();
        let p = ProfileParams {
            profile: group_profile(r#"{"introduction":"hi","portraitUrl":"p"}"#, false).unwrap(),
            permissions: permissions(r#"{"joinPerm":1}"#).unwrap(),
            ext: ext_profile(r#"{"ext_a":"1"}"#).unwrap(),
        };
        s.create("g", "G", "o", &["a".into()], p, 1717717737377)
            .unwrap();
        s
    }

    #[test]
    fn json_text() {
        let s = group();
        let v = render(s.get("g").unwrap(), ProfileVariant::JsonText);
        assert_eq!(v["groupName"], "G");
        assert_eq!(v["memberCount"], 2);
        let gp: Value = serde_json::from_str(v["groupProfile"].as_str().unwrap()).unwrap();
        assert_eq!(gp, json!({"introduction":"hi","portraitUrl":"p"}));
        let pm: Value = serde_json::from_str(v["permissions"].as_str().unwrap()).unwrap();
        assert_eq!(pm["joinPerm"], 1);
        assert_eq!(pm["removePerm"], 0);
    }

    #[test]
    fn other_shapes() {
        let s = group();
        let g = s.get("g").unwrap();
        let o = render(g, ProfileVariant::Objects);
        assert_eq!(o["groupProfile"]["introduction"], "hi");
        assert_eq!(o["groupExtProfile"]["ext_a"], "1");
        let t = render(g, ProfileVariant::TopLevel);
        assert_eq!(t["introduction"], "hi");
        assert!(t.get("groupProfile").is_none());
        let n = render(g, ProfileVariant::NameField);
        assert_eq!((n["name"].as_str(), n.get("groupName")), (Some("G"), None));
        let sp = render(g, ProfileVariant::Sparse);
        assert_eq!(sp, json!({"groupId":"g","groupName":"G"}));
    }
}
