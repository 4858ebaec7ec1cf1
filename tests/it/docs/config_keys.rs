//! The config schema against the files that describe it: `gateway.toml`
//! lists every key, `docs/configuration.md` documents every key with its
//! default and range, and no doc names a key that does not exist. The key
//! set is read from the schema's own `Deserialize` impls and the defaults
//! from `Config::default()`, so a new key fails here until it is written
//! down.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use entrust_gateway::config::{Config, OpenImConfig, RedisConfig, TlsConfig};
use serde::de::value::{Error as DeError, StrDeserializer};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::read;

/// Every key the schema accepts, dotted (`server.listen`); a map's entries
/// are `*` (`rate_limit.paths.*.per_second`). Sections and maps are listed
/// too (`server`, `rate_limit.paths`): see [`leaves`].
pub fn schema_keys() -> BTreeSet<String> {
    let found = RefCell::new(BTreeSet::new());
    let _: Config = serde::Deserialize::deserialize(Offer {
        at: String::new(),
        found: &found,
    })
    .expect("the schema can be walked");
    found.into_inner()
}

/// The keys that hold values, not tables.
pub fn leaves(keys: &BTreeSet<String>) -> BTreeSet<String> {
    keys.iter()
        .filter(|k| !keys.iter().any(|o| o.starts_with(&format!("{k}."))))
        .cloned()
        .collect()
}

/// A deserializer that offers every field a struct asks for, with a value
/// of the type asked, and writes down each field's dotted name.
struct Offer<'a> {
    at: String,
    found: &'a RefCell<BTreeSet<String>>,
}

impl<'a> Offer<'a> {
    fn below(&self, key: &str) -> Offer<'a> {
        let at = if self.at.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.at)
        };
        self.found.borrow_mut().insert(at.clone());
        Offer {
            at,
            found: self.found,
        }
    }
}

/// Any string a string-typed key accepts: an address parses from it.
const A_STRING: &str = "127.0.0.1:1";

impl<'de> de::Deserializer<'de> for Offer<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        // An untagged enum (a secret reference) asks for any type: a plain
        // string is one of its forms.
        v.visit_str(A_STRING)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_bool(true)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u32(1)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u64(1)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i64(1)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_str(A_STRING)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_str(A_STRING)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        // One element, at the sequence's own key: an array of tables'
        // (`[[apps]]`) fields are its keys.
        v.visit_seq(One(Some(self)))
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        // One entry, named `*`: its value's keys are the map's.
        v.visit_map(Fields {
            names: ["*"].iter(),
            parent: self,
            next: None,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_map(Fields {
            names: fields.iter(),
            parent: self,
            next: None,
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let first: StrDeserializer<DeError> = variants[0].into_deserializer();
        v.visit_enum(first)
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit
        unit_struct tuple tuple_struct identifier ignored_any
    }
}

/// A sequence of one element, offered at the sequence's key.
struct One<'a>(Option<Offer<'a>>);

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = DeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        match self.0.take() {
            Some(offer) => seed.deserialize(offer).map(Some),
            None => Ok(None),
        }
    }
}

/// A struct's fields (or a map's one entry), each offered in turn.
struct Fields<'a> {
    names: std::slice::Iter<'static, &'static str>,
    parent: Offer<'a>,
    next: Option<&'static str>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(&name) = self.names.next() else {
            return Ok(None);
        };
        self.next = Some(name);
        let key: StrDeserializer<DeError> = name.into_deserializer();
        seed.deserialize(key).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let name = self.next.take().expect("a key before its value");
        seed.deserialize(self.parent.below(name))
    }
}

/// Every key's default, as TOML values: `Config::default()` with the
/// optional sections present at their own defaults. Keys without a default
/// (unset options, and the secrets, which never serialise) are absent.
pub fn defaults() -> BTreeMap<String, toml::Value> {
    let mut config = Config {
        openim: Some(OpenImConfig::default()),
        redis: Some(RedisConfig::default()),
        ..Config::default()
    };
    config.server.tls = Some(TlsConfig::default());
    let text = toml::to_string(&config).expect("the config serialises");
    let table: toml::Table = toml::from_str(&text).expect("and parses back");
    let mut out = BTreeMap::new();
    flatten("", &toml::Value::Table(table), &mut out);
    out
}

fn flatten(at: &str, v: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            out.insert(at.to_string(), v.clone());
        }
    }
}

/// A dotted key as the docs write it, map entries normalised to `*`:
/// `rate_limit.paths."/entrust/group/query.json".per_second` and
/// `rate_limit.paths."<path>".per_second` are `rate_limit.paths.*.per_second`.
pub fn normalise(key: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    for c in key.chars() {
        match c {
            '"' if !quoted => {
                quoted = true;
                out.push('*');
            }
            '"' => quoted = false,
            _ if quoted => {}
            c => out.push(c),
        }
    }
    out
}

/// One key line of a TOML file, live or commented out.
#[derive(Debug)]
struct KeyLine {
    key: String,
    live: bool,
    /// `key = value` as written, trailing comment included.
    text: String,
    /// The comment lines right above it.
    comment: String,
    line: usize,
}

/// The keys a TOML file lists, commented out or not: `# name = value` and
/// `# [section]` count as much as live ones. A live key after a
/// commented-out section header would be read by TOML as in the section
/// above it: that layout is refused, since a reader would take it for the
/// commented section's.
fn listed_keys(name: &str, text: &str) -> Vec<KeyLine> {
    let mut out = Vec::new();
    let (mut live_section, mut any_section) = (String::new(), String::new());
    let mut comment = String::new();
    for (i, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        let (live, body) = match trimmed.strip_prefix('#') {
            Some(rest) => (false, rest.trim()),
            None => (true, trimmed),
        };
        if body.starts_with('[') {
            let header = body
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            any_section = normalise(header);
            if live {
                live_section = any_section.clone();
            }
            comment.clear();
            continue;
        }
        let Some((key, _)) = body.split_once('=') else {
            if live {
                comment.clear();
            } else {
                comment.push_str(body);
                comment.push('\n');
            }
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            // Prose with an equals sign in it.
            comment.push_str(body);
            comment.push('\n');
            continue;
        }
        if live {
            assert_eq!(
                live_section,
                any_section,
                "{name}:{}: `{key}` is live but follows a commented-out [{any_section}]: \
                 TOML reads it as in [{live_section}]; move the commented section below it",
                i + 1
            );
        }
        let section = if live { &live_section } else { &any_section };
        out.push(KeyLine {
            key: format!("{section}.{key}"),
            live,
            text: body.to_string(),
            comment: std::mem::take(&mut comment),
            line: i + 1,
        });
    }
    out
}

/// `gateway.toml` lists every key of the schema, live or commented out,
/// and no key the schema lacks (a live one would fail to parse; a
/// commented-out one would mislead whoever uncomments it).
#[test]
fn gateway_toml_lists_every_config_key() {
    let text = read("gateway.toml");
    let schema = leaves(&schema_keys());
    let listed: BTreeSet<String> = listed_keys("gateway.toml", &text)
        .into_iter()
        .map(|k| k.key)
        .collect();
    let missing: Vec<_> = schema.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "keys of the config schema missing from gateway.toml (add them, commented out if optional): {missing:?}"
    );
    let unknown: Vec<_> = listed.difference(&schema).collect();
    assert!(
        unknown.is_empty(),
        "gateway.toml names keys the schema lacks: {unknown:?}"
    );
    Config::parse(&text).expect("gateway.toml parses and validates");
}

/// `gateway.toml`'s header says its values are the defaults unless marked
/// "example": each live key that has a default holds it, or its comment
/// (above or trailing) says "example".
#[test]
fn gateway_toml_values_are_the_defaults_or_marked_examples() {
    let text = read("gateway.toml");
    let defaults = defaults();
    for k in listed_keys("gateway.toml", &text) {
        if !k.live {
            continue;
        }
        let Some(default) = defaults.get(&k.key) else {
            continue;
        };
        let table: toml::Table =
            toml::from_str(&k.text).unwrap_or_else(|e| panic!("gateway.toml:{}: {e}", k.line));
        let value = table.values().next().expect("one key");
        assert!(
            value == default || k.comment.contains("example") || k.text.contains("example"),
            "gateway.toml:{}: {} = {value} is not the default ({default}) and not marked \"example\"",
            k.line,
            k.key
        );
    }
}

/// The keys every doc names exist: a `` `server.listen` ``-like name whose
/// section is the config's must be a key (or section) of the schema.
#[test]
fn every_config_key_a_doc_names_exists() {
    let schema = schema_keys();
    let sections: BTreeSet<&str> = schema
        .iter()
        .filter(|k| !k.contains('.'))
        .map(String::as_str)
        .collect();
    for (page, text) in super::pages() {
        for token in super::code_spans(&text) {
            let Some((section, rest)) = token.split_once('.') else {
                continue;
            };
            if !sections.contains(section)
                || !rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '"')
            {
                continue;
            }
            // `upstream.urls[0]`, `server.auth_tokens_*`, a value after `=`.
            let key = token
                .split(['[', ' ', '=', '`', ':'])
                .next()
                .unwrap_or_default();
            let key = normalise(key);
            let ok = match key.strip_suffix('*') {
                Some(prefix) => schema.iter().any(|k| k.starts_with(prefix)),
                None => schema.contains(&key),
            };
            assert!(ok, "{page} names `{token}`, which is no config key");
        }
    }
}

/// One row of the configuration reference's key table.
#[derive(Debug)]
struct Row {
    default: String,
    range: String,
}

/// The key table of `docs/configuration.md`: `| key | default | range | meaning |`.
fn reference_rows(text: &str) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        if cells.len() < 4 {
            continue;
        }
        let first = cells[0].trim();
        let Some(key) = first.strip_prefix('`').and_then(|k| k.strip_suffix('`')) else {
            continue;
        };
        let row = Row {
            default: cells[1].trim().to_string(),
            range: cells[2].trim().to_string(),
        };
        assert!(
            rows.insert(normalise(key), row).is_none(),
            "docs/configuration.md: `{key}` has two rows"
        );
    }
    rows
}

/// A default as the reference writes it: strings bare in backticks.
fn shown(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("`{s}`"),
        toml::Value::Array(a) if a.is_empty() => "`[]`".to_string(),
        v => v.to_string(),
    }
}

/// `docs/configuration.md` has a row for every key, with the key's default
/// (`unset` when it has none; `required` for the two keys that must be
/// set), and nothing else.
#[test]
fn the_configuration_reference_has_every_key_and_its_default() {
    let rows = reference_rows(&read("docs/configuration.md"));
    let schema = leaves(&schema_keys());
    let documented: BTreeSet<String> = rows.keys().cloned().collect();
    let missing: Vec<_> = schema.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md's table: {missing:?}"
    );
    let unknown: Vec<_> = documented.difference(&schema).collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents keys the schema lacks: {unknown:?}"
    );
    let defaults = defaults();
    // `[[apps]]` and `[[callers]]` entries have no default in
    // `Config::default()` (it has none of them): their defaults and
    // required keys are the validation's (tests/it/apps.rs, config tests).
    let in_arrays = |k: &str| k.starts_with("apps.") || k.starts_with("callers.");
    for (key, row) in rows.iter().filter(|(k, _)| !in_arrays(k)) {
        match (defaults.get(key), row.default.as_str()) {
            (Some(v), "required") => assert!(
                v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty()),
                "docs/configuration.md: `{key}` is marked required but has a default ({v})"
            ),
            (Some(v), cell) => assert_eq!(
                cell,
                shown(v),
                "docs/configuration.md: the default of `{key}`"
            ),
            (None, cell) => assert_eq!(
                cell, "unset",
                "docs/configuration.md: `{key}` has no default"
            ),
        }
    }
}

/// A config with every section present, valid as it is; `key = value`
/// goes into the key's section.
fn with_key(key: &str, value: u64) -> String {
    let (section, name) = key.rsplit_once('.').expect("a dotted key");
    let section = section.replace('*', "\"/entrust/group/create.json\"");
    let mut text = String::from(
        "[server]\n[upstream]\nurls = [\"http://127.0.0.1:1\"]\napp_key = \"k\"\napp_secret = \"s\"\n\
         [rate_limit]\n[rate_limit.paths.\"/entrust/group/create.json\"]\n\
         [openim]\nsecret = \"s\"\nadmin_user_ids = [\"a\"]\n\
         [redis]\nurl = \"redis://127.0.0.1:1\"\n[admin]\n[dedup]\n[log]\n\
         [server.tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n",
    );
    let header = format!("[{section}]\n");
    let at = text.find(&header).expect("a section of the base config") + header.len();
    text.insert_str(at, &format!("{name} = {value}\n"));
    text
}

/// Every range in the reference (`min..=max`) is the code's: one past
/// either end is refused with a message naming the key (and, from the
/// range check, the same range).
#[test]
fn the_configuration_reference_ranges_are_the_codes() {
    let rows = reference_rows(&read("docs/configuration.md"));
    let mut checked = 0;
    // The arrays of tables' ranges are checked by tests/it/apps.rs.
    let in_arrays = |k: &str| k.starts_with("apps.") || k.starts_with("callers.");
    for (key, row) in rows.iter().filter(|(k, _)| !in_arrays(k)) {
        let range = row.range.trim_matches('`');
        let Some((min, max)) = range.split_once("..=") else {
            continue;
        };
        let (min, max): (u64, u64) = (
            min.replace('_', "").parse().expect("a number"),
            max.replace('_', "").parse().expect("a number"),
        );
        let mut outside = vec![max + 1];
        if min > 0 {
            outside.push(min - 1);
        }
        for v in outside {
            let e = Config::parse(&with_key(key, v))
                .expect_err(&format!("{key} = {v} is outside the documented {range}"))
                .to_string();
            let shown_key = key.replace('*', "\"/entrust/group/create.json\"");
            assert!(
                e.starts_with(&format!("{shown_key}: ")),
                "{key} = {v}: {e:?} should name the key"
            );
            if e.contains("out of range") {
                assert!(e.contains(&format!("({min}..={max})")), "{key}: {e:?}");
            }
        }
        Config::parse(&with_key(key, min.max(1).min(max)))
            .unwrap_or_else(|e| panic!("{key} = {}: {e}", min.max(1).min(max)));
        checked += 1;
    }
    assert!(
        checked >= 20,
        "only {checked} ranges found in the reference"
    );
}
