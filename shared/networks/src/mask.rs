//! Secrets out of every text we keep or show: a network may echo the key it was sent.

/// Longest reply kept on an attempt, in bytes.
pub const MAX_REPLY: usize = 2_048;

/// `text` with every secret replaced by `***`, cut to [`MAX_REPLY`] bytes.
pub fn mask<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        // Very short values (a user id of 2 digits) would mask unrelated text; they are not
        // secrets anyway.
        if secret.len() >= 4 {
            out = out.replace(secret, "***");
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if encoded != secret {
                out = out.replace(&encoded, "***");
            }
        }
    }
    cut(out, MAX_REPLY)
}

fn cut(mut text: String, max: usize) -> String {
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
