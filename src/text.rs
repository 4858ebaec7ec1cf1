//! Numbers and JSON strings written straight into a buffer, without
//! `fmt` or a serializer: the per-request log line and the gateway's own
//! error bodies are made on every request, refusals included.

/// Printable ASCII but `"` and `\\`: written as it is, quoted, by both
/// `Debug` and JSON.
fn plain(s: &str) -> bool {
    // A fold, not `all`: without the early exit the loop vectorizes, and
    // the strings checked (log fields, error details) are nearly always plain.
    s.bytes().fold(true, |ok, b| {
        ok & (b' '..=b'~').contains(&b) & (b != b'"') & (b != b'\\')
    })
}

/// Every byte is printable ASCII (space to `~`), or also a tab with `tab`.
pub fn visible(bytes: &[u8], tab: bool) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        ok & ((b' '..=b'~').contains(&b) | (tab & (b == b'\t')))
    })
}

/// `s` as a JSON string, as `serde_json` prints it.
pub fn json_str(out: &mut String, s: &str) {
    quoted(out, s, |out, s| {
        out.push_str(&serde_json::to_string(s).unwrap_or_default())
    });
}

/// `"s"` when it needs no escape, else as `escaped` writes it.
pub fn quoted(out: &mut String, s: &str, escaped: impl FnOnce(&mut String, &str)) {
    if plain(s) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        escaped(out, s);
    }
}

/// `n` in decimal.
pub fn push_u64(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: the check cannot fail; one copy, not a push per char.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// `n` in decimal, as `serde_json` prints an `i64`.
pub fn push_i64(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_serde_json_prints_them() {
        for v in [
            "plain",
            "a\"b",
            "a\\b",
            "tab\t",
            "é",
            "\u{1b}[2J",
            "\u{7f}",
            "",
        ] {
            let mut s = String::new();
            json_str(&mut s, v);
            assert_eq!(s, serde_json::to_string(v).unwrap());
        }
        for (s, tab, ok) in [
            ("GET /a?b=1 ~", false, true),
            ("a\tb", true, true),
            ("a\tb", false, false),
            ("\u{7f}", true, false),
            ("é", true, false),
            ("\n", true, false),
        ] {
            assert_eq!(visible(s.as_bytes(), tab), ok, "{s:?}");
        }
        for n in [0, 7, -1, 1008, i64::MIN, i64::MAX] {
            let mut s = String::new();
            push_i64(&mut s, n);
            assert_eq!(s, serde_json::to_string(&n).unwrap());
        }
    }
}
