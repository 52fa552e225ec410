//! The one redaction of secrets from text that came from a network (TUNE, a CPA network, a
//! proxy in front of either): every such text passes through [`redact_all`] (or [`redact`],
//! [`redact_value`]) before it is stored or answered.
//!
//! A server or proxy may echo a key in many forms: as is, percent-encoded (either hex case, `+`
//! for a space), JSON-escaped (`\"`, `\/`, `\uXXXX`, surrogate pairs), HTML-escaped (`&quot;`,
//! `&#34;`, `&#x22;`...), or a mix of these, character by character. Each form is replaced by
//! [`MARKER`]. Secrets shorter than [`MIN_SECRET_LEN`] bytes are not searched for: that would
//! mangle ordinary words (a user id of two digits), and no real key is so short.

use serde_json::Value;

/// What replaces a secret, everywhere in the product.
pub const MARKER: &str = "***";

/// Shorter secrets (in bytes) are left alone.
pub const MIN_SECRET_LEN: usize = 4;

/// `text` with every form of `secret` replaced by [`MARKER`].
pub fn redact(text: &str, secret: &str) -> String {
    redact_all(text, [secret])
}

/// `text` with every form of each of `secrets` replaced by [`MARKER`], in one pass; where two
/// secrets match at the same place, the longer one wins.
pub fn redact_all<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let patterns = Patterns::new(secrets);
    patterns.apply(text)
}

/// Redacts `secret` from every string (and key) of a JSON document.
pub fn redact_value(value: &mut Value, secret: &str) {
    redact_value_all(value, [secret]);
}

/// Redacts each of `secrets` from every string (and key) of a JSON document.
pub fn redact_value_all<'a>(value: &mut Value, secrets: impl IntoIterator<Item = &'a str>) {
    let patterns = Patterns::new(secrets);
    if !patterns.0.is_empty() {
        patterns.apply_value(value);
    }
}

/// One form of one character: bytes to find, case-insensitively or not.
struct Form {
    bytes: Vec<u8>,
    ignore_case: bool,
}

impl Form {
    fn exact(bytes: impl Into<Vec<u8>>) -> Form {
        Form {
            bytes: bytes.into(),
            ignore_case: false,
        }
    }

    fn any_case(text: String) -> Form {
        Form {
            bytes: text.into_bytes(),
            ignore_case: true,
        }
    }

    /// Where this form ends if it starts at `at`. A form that starts with a backslash (a JSON
    /// escape) may start with several: the same escape inside a JSON string quoted again
    /// (`\/`, `\\"`, `\\u0022`).
    fn end_at(&self, text: &[u8], at: usize) -> Option<usize> {
        let mut at = at;
        if self.bytes.first() == Some(&b'\\') && text.get(at) == Some(&b'\\') {
            while text.get(at + 1) == Some(&b'\\') {
                at += 1;
            }
        }
        let end = at + self.bytes.len();
        let got = text.get(at..end)?;
        let same = if self.ignore_case {
            got.eq_ignore_ascii_case(&self.bytes)
        } else {
            got == self.bytes.as_slice()
        };
        same.then_some(end)
    }
}

/// Each secret as the forms of each of its characters, longest secret first.
struct Patterns(Vec<Vec<Vec<Form>>>);

impl Patterns {
    fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Patterns {
        let mut secrets: Vec<&str> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Patterns(
            secrets
                .into_iter()
                .map(|s| s.chars().map(forms_of).collect())
                .collect(),
        )
    }

    fn apply(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_string();
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let (mut i, mut copied) = (0, 0);
        while i < bytes.len() {
            let end = text
                .is_char_boundary(i)
                .then(|| self.0.iter().find_map(|p| matches_at(bytes, i, p)))
                .flatten();
            match end {
                Some(end) => {
                    out.push_str(&text[copied..i]);
                    out.push_str(MARKER);
                    i = end;
                    copied = end;
                }
                None => i += 1,
            }
        }
        out.push_str(&text[copied..]);
        out
    }

    fn apply_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                let clean = self.apply(s);
                if clean != *s {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply_value(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (k, mut v) in entries {
                    self.apply_value(&mut v);
                    map.insert(self.apply(&k), v);
                }
            }
            _ => {}
        }
    }
}

/// Where a match of the characters `secret` starting at `at` ends, trying every form of each.
/// Every form is ASCII or a whole UTF-8 character, so a match that starts on a character
/// boundary ends on one.
fn matches_at(text: &[u8], at: usize, secret: &[Vec<Form>]) -> Option<usize> {
    let Some((forms, rest)) = secret.split_first() else {
        return Some(at);
    };
    forms
        .iter()
        .filter_map(|f| f.end_at(text, at))
        .find_map(|end| matches_at(text, end, rest))
}

/// Every form a server, proxy or page may give `c`.
fn forms_of(c: char) -> Vec<Form> {
    let mut utf8 = [0u8; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    let mut forms = vec![Form::exact(raw)];
    // Percent-encoded, byte by byte (either hex case).
    forms.push(Form::any_case(
        raw.iter().map(|b| format!("%{b:02X}")).collect(),
    ));
    // ...and encoded again (a URL quoted in a URL's parameter).
    forms.push(Form::any_case(
        raw.iter().map(|b| format!("%25{b:02X}")).collect(),
    ));
    let literal: &[&str] = match c {
        ' ' => &["+"],
        '"' => &["\\\"", "&quot;"],
        '\\' => &["\\\\"],
        '/' => &["\\/"],
        '&' => &["&amp;"],
        '<' => &["&lt;"],
        '>' => &["&gt;"],
        '\'' => &["&apos;"],
        '\n' => &["\\n"],
        '\r' => &["\\r"],
        '\t' => &["\\t"],
        _ => &[],
    };
    forms.extend(literal.iter().map(|l| Form::exact(l.as_bytes())));
    // JSON `\uXXXX` (a surrogate pair beyond the BMP) and HTML numeric references, any case.
    let code = c as u32;
    let mut units = [0u16; 2];
    let json: String = c
        .encode_utf16(&mut units)
        .iter()
        .map(|u| format!("\\u{u:04x}"))
        .collect();
    forms.push(Form::any_case(json));
    forms.push(Form::any_case(format!("&#{code};")));
    forms.push(Form::any_case(format!("&#x{code:x};")));
    // HTML references escaped again (`&amp;quot;`: a page quoting a page).
    let twice: Vec<Form> = forms
        .iter()
        .filter(|f| f.bytes.first() == Some(&b'&'))
        .map(|f| Form {
            bytes: [b"&amp;".as_slice(), &f.bytes[1..]].concat(),
            ignore_case: f.ignore_case,
        })
        .collect();
    forms.extend(twice);
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s` percent-encoded except ASCII letters and digits, with upper- or lower-case hex.
    fn percent(s: &str, lower: bool) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => (b as char).to_string(),
                _ if lower => format!("%{b:02x}"),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// `application/x-www-form-urlencoded`: `+` for a space, upper-case hex otherwise.
    fn form_encoded(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b' ' => "+".to_string(),
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    /// Every character as `\uXXXX` (JSON), in the given hex case.
    fn json_unicode(s: &str, upper: bool) -> String {
        s.encode_utf16()
            .map(|u| match upper {
                true => format!("\\u{u:04X}"),
                false => format!("\\u{u:04x}"),
            })
            .collect()
    }

    /// Every character as an HTML numeric reference, decimal or hex.
    fn html_numeric(s: &str, hex: bool) -> String {
        s.chars()
            .map(|c| match hex {
                true => format!("&#x{:x};", c as u32),
                false => format!("&#{};", c as u32),
            })
            .collect()
    }

    /// The forms of `key` a server or proxy may echo.
    fn forms(key: &str) -> Vec<String> {
        let json = serde_json::to_string(key).unwrap();
        let json = json.trim_matches('"').to_string();
        vec![
            key.to_string(),
            form_encoded(key),
            percent(key, false),
            percent(key, true),
            // `%20` for a space, `/` left as is (encoded only where needed)
            percent(key, false).replace("%2F", "/"),
            // JSON-escaped: serde's own, with `\/`, and every character as `\uXXXX`
            json.clone(),
            json.replace('/', "\\/"),
            json_unicode(key, false),
            json_unicode(key, true),
            // HTML-escaped: named, decimal and hex references
            key.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;"),
            html_numeric(key, false),
            html_numeric(key, true),
        ]
    }

    /// Keys with `+`, a space, `/` and `"` (and one with non-ASCII) are caught in every form.
    #[test]
    fn redacts_every_encoding_of_the_key() {
        for key in [
            r#"NET+a b/c"d9"#,
            "plus+plus+key",
            "with space key",
            "slash/slash/key",
            r#"quote"quote"key"#,
            r#"ключ+/ "x"#,
        ] {
            for form in forms(key) {
                let text = format!("<p>echo: api_key={form}&Target=Offer</p>");
                let clean = redact(&text, key);
                assert_eq!(
                    clean, "<p>echo: api_key=***&Target=Offer</p>",
                    "{key:?} as {form:?}"
                );
            }
        }
    }

    /// The forms of the brief and of the old tune test, written out, mixed within one key.
    #[test]
    fn redacts_written_out_and_mixed_forms() {
        let key = r#"NET+a b/c"d9"#;
        for form in [
            "NET%2Ba%20b%2Fc%22d9",
            "NET%2ba%20b%2fc%22d9",
            "NET%2Ba+b%2Fc%22d9",
            "NET%2Ba%20b/c%22d9",
            r#"NET+a b\/c\"d9"#,
            r"NET\u002ba\u0020b\u002Fc\u0022d9",
            r"NET+a b\u002fc\u0022d9",
            "NET+a b/c&quot;d9",
            "NET+a b/c&#34;d9",
            "NET&#43;a&#32;b&#x2f;c&#34;d9",
            "NET&#X2B;a b/c&#x22;d9",
        ] {
            assert_eq!(redact(&format!("[{form}]"), key), "[***]", "{form}");
        }
        let key = r#"ключ+/ "x"#;
        for form in [
            "%D0%BA%D0%BB%D1%8E%D1%87%2B%2F%20%22x",
            "%d0%ba%d0%bb%d1%8e%d1%87+%2f+%22x",
            r#"ключ+\/ \"x"#,
            r"\u043a\u043b\u044e\u0447\u002b\u002f\u0020\u0022x",
            "&#1082;&#1083;&#1102;&#1095;+/ &quot;x",
            "&#x43a;л%D1%8E\\u0447&#43;\\/%20&#34;x",
        ] {
            assert_eq!(redact(&format!("[{form}]"), key), "[***]", "{form}");
        }
    }

    /// A JSON string quoted in JSON again, a URL in a URL's parameter, a page quoting a page.
    #[test]
    fn redacts_forms_escaped_twice() {
        let key = r#"NET+a b/c"d9"#;
        let inner = serde_json::json!({"api_key": key, "u": "NET+a b\\/c\\u0022d9"}).to_string();
        let outer = serde_json::json!({"request": inner}).to_string();
        assert!(outer.contains(r#"\\\"d9"#), "{outer}");
        assert_eq!(
            redact(&outer, key),
            r#"{"request":"{\"api_key\":\"***\",\"u\":\"***\"}"}"#
        );
        for form in [
            "NET%252Ba%2520b%252Fc%2522d9",
            "NET+a b/c&amp;quot;d9",
            "NET&amp;#43;a b/c&amp;#x22;d9",
        ] {
            assert_eq!(redact(&format!("[{form}]"), key), "[***]", "{form}");
        }
    }

    /// The old masks: what a plain `replace` and `form_urlencoded` missed is caught now.
    #[test]
    fn old_plain_replace_would_have_leaked() {
        let key = r#"s3cr3t/+k "q"#;
        let text = r#"{"error":"bad key s3cr3t\/+k \"q\"","url":"?k=s3cr3t%2f%2bk%20%22q"}"#;
        assert!(!text.contains(key));
        assert_eq!(
            redact(text, key),
            r#"{"error":"bad key ***\"","url":"?k=***"}"#
        );
    }

    #[test]
    fn several_secrets_short_ones_ignored_longest_first() {
        let text = "user 12 key NETabc123xyz and id abc1";
        assert_eq!(
            redact_all(text, ["12", "abc1", "NETabc123xyz"]),
            "user 12 key *** and id ***"
        );
        assert_eq!(redact("keep me", "k"), "keep me");
        assert_eq!(redact_all("nothing", []), "nothing");
        assert_eq!(
            redact("NetworkToken NETabc123 is not authenticated", "NETabc123"),
            "NetworkToken *** is not authenticated"
        );
    }

    #[test]
    fn text_stays_valid_utf8_around_multibyte_keys() {
        // A key that is a prefix of a longer character's bytes is not matched inside it.
        let text = "ключ ключи éé";
        assert_eq!(redact(text, "ключ"), "*** ***и éé");
        assert_eq!(redact("a\u{1F600}b", "\u{1F600}b\u{1F600}"), "a\u{1F600}b");
        assert_eq!(redact(r"x\ud83d\ude00yz!", "\u{1F600}yz!"), "x***");
    }

    #[test]
    fn json_documents_are_redacted_in_strings_and_keys() {
        let key = r#"NET+a b/c"d9"#;
        let mut doc = serde_json::json!({
            "a": [format!("x {key} y"), 1, null],
            key: {"url": "?NetworkToken=NET%2Ba+b%2Fc%22d9"},
        });
        redact_value(&mut doc, key);
        assert_eq!(
            doc,
            serde_json::json!({"a": ["x *** y", 1, null], "***": {"url": "?NetworkToken=***"}})
        );
        let text = doc.to_string();
        for form in forms(key) {
            assert!(!text.contains(&form), "{form} in {text}");
        }
    }
}
