//! Log output: text for people, JSON lines with flat keys for log shippers.
//!
//! Text logs escape control characters in every field value and message, so
//! a caller-supplied string (a request id, an `operationID`, a path, an error
//! quoting either) can neither start a forged log line nor send terminal
//! escapes. JSON lines put the fields of the request span (`request_id`,
//! `face`, `route`, `upstream_path`, `data_center`) and the event's own
//! fields (`status`, `latency_ms`, ...) at the top level, as shippers expect,
//! instead of under `span` and `fields`.
//!
//! - [`request`]: the request being served (a task-local), its line, and
//!   the span for events logged while it is served.
//! - [`mod@line`]: the request line, formatted without `tracing`'s per-field
//!   machinery; also the escaping rule and the timestamp every line uses.
//! - [`sink`]: where every line goes: a buffer a thread writes to stderr.

pub mod line;
pub mod request;
pub mod sink;

use std::fmt::{self, Write as _};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{JsonFields, Writer, debug_fn};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use line::needs_escape;
pub use request::{
    Request, current, done, fix_levels, in_request, refused, scope, span, span_at, with,
};
pub use sink::{Format, flush, install, writer};

/// Installs the global subscriber. `RUST_LOG` wins over `level`; a `level`
/// that doesn't parse (config validation refuses those) falls back to `info`.
pub fn init(json: bool, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Every line goes through the sink, written by its own thread;
    // the request lines are formatted there too (not with colours).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    install(match (json, ansi) {
        (true, _) => Some(Format::Json),
        (false, false) => Some(Format::Text),
        (false, true) => None,
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer());
    if json {
        builder
            .with_ansi(false)
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .init();
    } else {
        builder
            .with_ansi(ansi)
            .fmt_fields(
                debug_fn(
                    |w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
                        let mut w = Escaping(w);
                        match field.name() {
                            "message" => write!(w, "{value:?}"),
                            name => write!(w, "{name}={value:?}"),
                        }
                    },
                )
                .delimited(" "),
            )
            .init();
    }
    fix_levels();
}

/// `s` with every control character (and the Unicode line and paragraph
/// separators) written as a Rust escape: `\n`, `\u{1b}`.
pub fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let _ = Escaping(&mut out).write_str(s);
    out
}

/// A writer that escapes control characters on their way through.
struct Escaping<'a, W: fmt::Write + ?Sized>(&'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(needs_escape) {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            write!(self.0, "{}", c.escape_default())?;
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

/// One JSON object per line: `timestamp`, `level`, `target`, the fields of
/// every span in scope (outermost first), then the event's own fields
/// (`message` included); a later key wins over an earlier one.
pub struct FlatJson;

impl<S, N> FormatEvent<S, N> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut obj = Map::new();
        let mut ts = String::with_capacity(27);
        line::timestamp(&mut ts, std::time::SystemTime::now());
        obj.insert("timestamp".into(), ts.into());
        obj.insert("level".into(), meta.level().as_str().into());
        obj.insert("target".into(), meta.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let ext = span.extensions();
                // The span's fields, as `JsonFields` recorded them: a JSON object.
                if let Some(fields) = ext.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(fields)
                {
                    obj.extend(m);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut obj));
        let line = serde_json::to_string(&obj).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sink::Captured;
    use std::sync::{Arc, Mutex};

    /// What one event inside a request span looks like as a JSON line.
    #[test]
    fn json_lines_are_flat() {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Captured(sink.clone()))
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                request_id = "r1",
                data_center = tracing::field::Empty
            );
            span.record("data_center", "https://a");
            span.in_scope(|| tracing::info!(status = 200u16, latency_ms = 1.5, "done"));
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let v: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["request_id"], "r1", "{v}");
        assert_eq!(v["data_center"], "https://a");
        assert_eq!(v["status"], 200);
        assert_eq!(v["latency_ms"], 1.5);
        assert_eq!(v["message"], "done");
        assert_eq!(v["level"], "INFO");
        assert!(v.get("span").is_none() && v.get("fields").is_none());
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_controls("a\nb\r\u{1b}[31mc\u{85}d\u{2028}é"),
            "a\\nb\\r\\u{1b}[31mc\\u{85}d\\u{2028}é"
        );
        assert_eq!(escape_controls("plain id-1"), "plain id-1");
    }
}
