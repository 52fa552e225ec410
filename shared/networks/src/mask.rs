//! Secrets out of every text we keep or show: a network may echo the key it was sent, in any
//! form. The redaction is the product's one ([`affnet_netguard::redact`]).

pub use affnet_netguard::redact::redact_all as redact;

/// Longest reply kept on an attempt, in bytes.
pub const MAX_REPLY: usize = 2_048;

/// `text` with every form of every secret (raw, percent-, JSON- or HTML-escaped) replaced by
/// `***`, cut to [`MAX_REPLY`] bytes. Values shorter than four bytes (a user id of 2 digits) are
/// left alone: they would mask unrelated text, and they are not secrets anyway.
pub fn mask<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    cut(redact(text, secrets), MAX_REPLY)
}

/// `text` cut to at most `max` bytes (on a character boundary), `…` marking the cut.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the old mask (raw and `form_urlencoded` only) let through: JSON-escaped, `%20`,
    /// lower-case hex, HTML.
    #[test]
    fn every_form_of_every_secret_is_masked() {
        let key = r#"k+y /"s3"#;
        let reply = r#"{"echo":"k+y \/\"s3","u":"?key=k%2by%20%2f%22s3","h":"k+y /&quot;s3","j":"\u006b+y \u002f\u0022s3","id":"77"}"#;
        assert_eq!(
            mask(reply, [key, "77"]),
            r#"{"echo":"***","u":"?key=***","h":"***","j":"***","id":"77"}"#
        );
    }

    #[test]
    fn secrets_are_masked_plain_and_encoded() {
        let masked = mask(
            r#"{"error":"bad key s3cr3t/+k","url":"?k=s3cr3t%2F%2Bk"}"#,
            ["s3cr3t/+k", "12"],
        );
        assert_eq!(masked, r#"{"error":"bad key ***","url":"?k=***"}"#);
        let long = mask(&"é".repeat(2_000), []);
        assert!(long.len() <= MAX_REPLY + '…'.len_utf8());
    }
}
