//! Form bodies for the vendor's entrust calls, written in one buffer.

/// A form to send: (key, value) pairs.
pub type Form = Vec<(&'static str, String)>;

/// Each byte as a form writes it, and (last) how many bytes that is:
/// ASCII alphanumerics and `*-._` as they are, space as `+`, the rest `%XX`.
const ENCODED: [[u8; 4]; 256] = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut table = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            [b, 0, 0, 1]
        } else if b == b' ' {
            [b'+', 0, 0, 1]
        } else {
            [b'%', HEX[i >> 4], HEX[i & 15], 3]
        };
        i += 1;
    }
    table
};

/// An `application/x-www-form-urlencoded` body written in one buffer, byte
/// for byte as `serde_urlencoded` (the WHATWG serializer) writes it: `*-._`
/// and ASCII alphanumerics as they are, space as `+`, the rest `%XX`.
#[derive(Debug, Default)]
pub struct FormBody(Vec<u8>);

impl FormBody {
    pub fn with_capacity(n: usize) -> FormBody {
        FormBody(Vec::with_capacity(n))
    }

    /// Starts the field `key` (its value follows, encoded).
    fn key(&mut self, key: &str) {
        if !self.0.is_empty() {
            self.0.push(b'&');
        }
        self.push_encoded(key.as_bytes());
        self.0.push(b'=');
    }

    /// Appends `key=value`.
    pub fn field(&mut self, key: &str, value: &str) {
        self.key(key);
        self.push_encoded(value.as_bytes());
    }

    /// Appends `key=` and a JSON object of string values, `pairs` in the
    /// order given, with no intermediate string.
    pub fn json_field(&mut self, key: &str, pairs: &[(&str, &str)]) {
        self.key(key);
        // The JSON text first, then encoded in one pass (not a push per
        // piece a serializer writes).
        let mut json = String::with_capacity(
            2 + pairs
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>(),
        );
        json.push('{');
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            crate::text::json_str(&mut json, k);
            json.push(':');
            crate::text::json_str(&mut json, v);
        }
        json.push('}');
        self.push_encoded(json.as_bytes());
    }

    fn push_encoded(&mut self, bytes: &[u8]) {
        // Each byte's encoding is a table entry written whole (4 bytes, the
        // last its length) at the end, which then moves by that length: no
        // capacity check and no branch on the byte's kind (JSON values need
        // an escape every few bytes, so runs to copy at once are short).
        let start = self.0.len();
        self.0.resize(start + bytes.len() * 3 + 1, 0);
        // A slice of its own: the loop keeps its bounds in registers.
        let out = &mut self.0[start..];
        let mut end = 0;
        for &b in bytes {
            let e = ENCODED[usize::from(b)];
            out[end..end + 4].copy_from_slice(&e);
            end += usize::from(e[3]);
        }
        self.0.truncate(start + end);
    }

    pub fn into_string(self) -> String {
        // Only ASCII is ever pushed.
        String::from_utf8(self.0).unwrap_or_default()
    }
}

impl From<&Form> for FormBody {
    fn from(form: &Form) -> FormBody {
        let n = form
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
        let mut body = FormBody::with_capacity(n + n / 2);
        for (k, v) in form {
            body.field(k, v);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_encodes_as_serde_urlencoded() {
        let value: String = (0u8..=127).map(char::from).chain("中 é".chars()).collect();
        let form: Form = vec![("a b", value.clone()), ("k", "v".into())];
        assert_eq!(
            FormBody::from(&form).into_string(),
            serde_urlencoded::to_string(&form).unwrap()
        );
        let mut body = FormBody::default();
        body.json_field("j", &[("x", "1\"\n中"), ("y", "")]);
        let want = serde_json::json!({"x": "1\"\n中", "y": ""}).to_string();
        assert_eq!(
            body.into_string(),
            serde_urlencoded::to_string([("j", want)]).unwrap()
        );
    }
}
