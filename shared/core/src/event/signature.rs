//! Webhook signatures: `Affnet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, the HMAC
//! keyed with the webhook secret over `<t>.<body>` (the timestamp, a dot, the raw body bytes).
//! A receiver recomputes it, compares in constant time and refuses a `t` too far from its
//! clock (a replayed delivery).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "affnet-signature";

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("the signature's time is {0} s away from now")]
    Expired(i64),
    #[error("the signature does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Checks `header` against `body`: the tag matches and `t` is within `tolerance_secs` of `now`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", tag)) => {
                tags.push(hex::decode(tag).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let skew = (now - timestamp).abs();
    if skew > tolerance_secs {
        return Err(SignatureError::Expired(skew));
    }
    let matches = tags
        .iter()
        .any(|tag| mac(secret, timestamp, body).verify_slice(tag).is_ok());
    matches.then_some(()).ok_or(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_is_refused() {
        let secret = b"whsec-0123456789abcdef";
        let body = br#"{"id":"01J","type":"conversion.recorded"}"#;
        let header = sign(secret, 1_764_601_200, body);
        assert!(header.starts_with("t=1764601200,v1="), "{header}");
        assert_eq!(header.len(), "t=1764601200,v1=".len() + 64);
        assert_eq!(verify(secret, &header, body, 1_764_601_260, 300), Ok(()));
        let tampered = br#"{"id":"01J","type":"conversion.recorded "}"#;
        assert_eq!(
            verify(secret, &header, tampered, 1_764_601_260, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another secret", &header, body, 1_764_601_260, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(secret, &header, body, 1_764_601_200 + 301, 300),
            Err(SignatureError::Expired(301))
        );
        let moved = header.replace("t=1764601200", "t=1764601201");
        assert_eq!(
            verify(secret, &moved, body, 1_764_601_260, 300),
            Err(SignatureError::Mismatch)
        );
        for bad in [
            "",
            "v1=00",
            "t=x,v1=00",
            "t=1764601200",
            "t=1764601200,v1=zz",
        ] {
            assert_eq!(
                verify(secret, bad, body, 1_764_601_200, 300),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    /// A fixed vector (computed with Python's `hmac`), for receivers in other languages.
    #[test]
    fn the_documented_example_signature() {
        assert_eq!(
            sign(b"test-webhook-secret", 1_764_601_200, b"{}"),
            "t=1764601200,v1=9bb48d4c00131772dbb748b910506456b4e57fd56a7021500ee45462b0b3cd5a"
        );
    }
}
