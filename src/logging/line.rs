//! One request line, formatted once into a reused buffer in the same text
//! or JSON layout `tracing` printed it: through `tracing` the line cost a
//! span per request and an event formatted field by field, about a fifth
//! of a proxied request's instructions.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::Level;

use super::request::TARGET;
use crate::text::{json_str, push_u64, quoted};

/// One line's fields: the request span's, then the event's.
pub(super) struct Line<'a> {
    pub(super) request_id: &'a str,
    pub(super) face: &'a str,
    pub(super) route: &'a str,
    /// The app and the caller (names from the config, or `-`).
    pub(super) app: Option<&'a str>,
    pub(super) caller: Option<&'a str>,
    pub(super) upstream_path: Option<&'a str>,
    pub(super) data_center: Option<&'a str>,
    pub(super) client_subject: Option<&'a str>,
    pub(super) level: Level,
    pub(super) status: u16,
    pub(super) latency_ms: f64,
    /// The refusal's message and error.
    pub(super) refused: Option<(&'static str, &'a str)>,
}

impl Line<'_> {
    /// As `tracing_subscriber`'s full text format printed it, with the
    /// fields as [`crate::logs`] writes them (`Debug`, which escapes
    /// control characters; the route, a bounded label, and the error, by
    /// `Display` with control characters escaped).
    pub(super) fn text(&self, out: &mut String, now: SystemTime) {
        timestamp(out, now);
        out.push_str(if self.level == Level::INFO {
            "  INFO request{request_id="
        } else {
            " DEBUG request{request_id="
        });
        debug_str(out, self.request_id);
        out.push_str(" face=");
        debug_str(out, self.face);
        out.push_str(" route=");
        push_escaped(out, self.route);
        if let Some(a) = self.app {
            out.push_str(" app=");
            debug_str(out, a);
        }
        if let Some(c) = self.caller {
            out.push_str(" caller=");
            debug_str(out, c);
        }
        if let Some(p) = self.upstream_path {
            out.push_str(" upstream_path=");
            debug_str(out, p);
        }
        if let Some(d) = self.data_center {
            out.push_str(" data_center=");
            debug_str(out, d);
        }
        if let Some(c) = self.client_subject {
            out.push_str(" client_subject=");
            debug_str(out, c);
        }
        out.push_str("}: ");
        out.push_str(TARGET);
        out.push_str(": ");
        out.push_str(self.refused.map_or("done", |(m, _)| m));
        out.push_str(" status=");
        push_u64(out, u64::from(self.status));
        out.push_str(" latency_ms=");
        push_ms(out, self.latency_ms);
        if let Some((_, error)) = self.refused {
            out.push_str(" error=");
            push_escaped(out, error);
        }
        out.push('\n');
    }

    /// As [`crate::logs`]' flat JSON lines: one object, keys sorted (as a
    /// `serde_json` map prints them).
    pub(super) fn json(&self, out: &mut String, now: SystemTime) {
        out.push('{');
        if let Some(a) = self.app {
            out.push_str("\"app\":");
            json_str(out, a);
            out.push(',');
        }
        if let Some(c) = self.caller {
            out.push_str("\"caller\":");
            json_str(out, c);
            out.push(',');
        }
        if let Some(c) = self.client_subject {
            out.push_str("\"client_subject\":");
            json_str(out, c);
            out.push(',');
        }
        if let Some(d) = self.data_center {
            out.push_str("\"data_center\":");
            json_str(out, d);
            out.push(',');
        }
        if let Some((_, error)) = self.refused {
            out.push_str("\"error\":");
            json_str(out, error);
            out.push(',');
        }
        out.push_str("\"face\":");
        json_str(out, self.face);
        out.push_str(",\"latency_ms\":");
        push_ms(out, self.latency_ms);
        out.push_str(if self.level == Level::INFO {
            ",\"level\":\"INFO\",\"message\":"
        } else {
            ",\"level\":\"DEBUG\",\"message\":"
        });
        json_str(out, self.refused.map_or("done", |(m, _)| m));
        out.push_str(",\"request_id\":");
        json_str(out, self.request_id);
        out.push_str(",\"route\":");
        json_str(out, self.route);
        out.push_str(",\"status\":");
        push_u64(out, u64::from(self.status));
        out.push_str(",\"target\":\"");
        out.push_str(TARGET);
        out.push_str("\",\"timestamp\":\"");
        timestamp(out, now);
        out.push('"');
        if let Some(p) = self.upstream_path {
            out.push_str(",\"upstream_path\":");
            json_str(out, p);
        }
        out.push_str("}\n");
    }
}

/// `s` as `{:?}` prints it.
fn debug_str(out: &mut String, s: &str) {
    quoted(out, s, |out, s| {
        let _ = write!(out, "{s:?}");
    });
}

/// Milliseconds with at most three decimals (whole microseconds) as both
/// `{:?}` and `serde_json` print such an `f64`: `0.062`, `1.5`, `2.0`.
fn push_ms(out: &mut String, ms: f64) {
    let us = (ms * 1000.0).round();
    if !(0.0..1e15).contains(&us) {
        let _ = write!(out, "{ms:?}");
        return;
    }
    let us = us as u64;
    push_u64(out, us / 1000);
    out.push('.');
    let frac = us % 1000;
    if frac == 0 {
        out.push('0');
        return;
    }
    let digits = [frac / 100, frac / 10 % 10, frac % 10];
    let n = if digits[2] != 0 {
        3
    } else if digits[1] != 0 {
        2
    } else {
        1
    };
    out.extend(digits[..n].iter().map(|&d| (b'0' + d as u8) as char));
}

pub(super) fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` with control characters written as Rust escapes (a route is a
/// bounded label, but it is printed as it is).
fn push_escaped(out: &mut String, s: &str) {
    if crate::text::visible(s.as_bytes(), false) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

/// RFC 3339 in UTC with microseconds, as `tracing_subscriber`'s
/// `SystemTime` writes it: `2026-11-29T11:05:26.123456Z`. The date and time
/// to the second are made once a second per thread.
pub(super) fn timestamp(out: &mut String, now: SystemTime) {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    SECOND.with(|cell| {
        let Ok(mut cached) = cell.try_borrow_mut() else {
            return;
        };
        if cached.0 != secs {
            let (y, m, day) = civil_from_days((secs / 86_400) as i64);
            let rem = secs % 86_400;
            cached.1.clear();
            let _ = write!(
                cached.1,
                "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
                rem / 3600,
                rem / 60 % 60,
                rem % 60
            );
            cached.0 = secs;
        }
        out.push_str(&cached.1);
    });
    out.push('.');
    let us = d.subsec_micros();
    let mut div = 100_000;
    while div > 0 {
        out.push((b'0' + (us / div % 10) as u8) as char);
        div /= 10;
    }
    out.push('Z');
}

/// Days since 1970-01-01 as (year, month, day): Howard Hinnant's
/// `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn line() -> Line<'static> {
        Line {
            request_id: "r1",
            face: "entrust",
            route: "/entrust/group/create.json",
            app: None,
            caller: None,
            upstream_path: Some("/entrust/group/create.json"),
            data_center: Some("http://127.0.0.1:1"),
            client_subject: None,
            level: Level::INFO,
            status: 200,
            latency_ms: 0.062,
            refused: None,
        }
    }

    /// The line names the request's app and caller when it has them, in
    /// the text's span fields and among the JSON's sorted keys.
    #[test]
    fn the_line_names_the_app_and_the_caller() {
        let mut l = line();
        l.app = Some("chat");
        l.caller = Some("billing");
        let mut text = String::new();
        l.text(&mut text, UNIX_EPOCH);
        assert!(
            text.contains(
                r#"route=/entrust/group/create.json app="chat" caller="billing" upstream_path="#
            ),
            "{text}"
        );
        let mut json = String::new();
        l.json(&mut json, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (v["app"].as_str(), v["caller"].as_str()),
            (Some("chat"), Some("billing"))
        );
        assert!(
            json.starts_with(r#"{"app":"chat","caller":"billing","data_center""#),
            "{json}"
        );
    }

    #[test]
    fn timestamps_as_tracing_subscriber_writes_them() {
        let mut s = String::new();
        let t = UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        timestamp(&mut s, t);
        // date -u -d @1795000000
        assert_eq!(s, "2026-11-18T11:06:40.123456Z");
        s.clear();
        timestamp(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(s, "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn numbers_and_strings_as_debug_and_serde_json_print_them() {
        for us in [0u64, 1, 10, 60, 62, 100, 999, 1000, 1500, 123_456_789] {
            let ms = us as f64 / 1000.0;
            let mut s = String::new();
            push_ms(&mut s, ms);
            assert_eq!(s, format!("{ms:?}"), "{us}");
            assert_eq!(s, serde_json::Value::from(ms).to_string(), "{us}");
        }
        for v in ["plain", "a\"b", "a\\b", "tab\t", "é", "\u{1b}[2J", ""] {
            let mut s = String::new();
            debug_str(&mut s, v);
            assert_eq!(s, format!("{v:?}"));
            s.clear();
            json_str(&mut s, v);
            assert_eq!(s, serde_json::to_string(v).unwrap());
        }
    }

    #[test]
    fn text_line_as_the_span_and_event_printed_it() {
        let mut s = String::new();
        line().text(&mut s, UNIX_EPOCH);
        assert_eq!(
            s,
            "1970-01-01T00:00:00.000000Z  INFO request{request_id=\"r1\" face=\"entrust\" route=/entrust/group/create.json upstream_path=\"/entrust/group/create.json\" data_center=\"http://127.0.0.1:1\"}: entrust_gateway::server: done status=200 latency_ms=0.062\n"
        );
        // A mutual-TLS caller's subject, last in the span's fields as it
        // is declared last.
        let mut l = line();
        l.client_subject = Some("CN=billing");
        s.clear();
        l.text(&mut s, UNIX_EPOCH);
        assert!(
            s.contains(" data_center=\"http://127.0.0.1:1\" client_subject=\"CN=billing\"}: "),
            "{s}"
        );
    }

    #[test]
    fn json_line_is_flat_with_sorted_keys() {
        let mut s = String::new();
        let mut l = line();
        l.request_id = "a\"\n";
        l.latency_ms = 1.0;
        l.client_subject = Some("CN=billing,O=Sue\\, Grabbit");
        l.json(&mut s, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["request_id"], "a\"\n");
        assert_eq!(v["status"], 200);
        assert!(v["latency_ms"].is_f64());
        assert_eq!(v["message"], "done");
        assert_eq!(v["upstream_path"], "/entrust/group/create.json");
        assert_eq!(v["client_subject"], "CN=billing,O=Sue\\, Grabbit");
        // Byte for byte what serializing the map would give.
        assert_eq!(s.trim_end(), serde_json::to_string(&v).unwrap());
        let e = crate::error::Error::Args("bad\n\u{1b}x".into()).to_string();
        l.refused = Some(("request refused", &e));
        l.status = 400;
        s.clear();
        l.json(&mut s, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["message"], "request refused");
        assert_eq!(v["error"], e);
        assert_eq!(v["status"], 400);
        assert_eq!(s.trim_end(), serde_json::to_string(&v).unwrap());
        s.clear();
        l.text(&mut s, UNIX_EPOCH);
        // The refusal's line: status and latency, then the error's Display,
        // control characters escaped.
        assert!(
            s.contains(": request refused status=400 latency_ms=1.0 error=args: bad"),
            "{s}"
        );
        assert!(s.ends_with("bad\\n\\u{1b}x\n"), "{s}");
    }
}
