//! Signed click IDs: everything attribution needs, so that a postback is attributed without
//! reading the click back from storage.
//!
//! A click ID is base64url without padding (only `[A-Za-z0-9_-]`), 59 to 123 characters, of:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, [`VERSION`] |
//! | 16 | offer id: the offer's ULID as its 128-bit big-endian integer |
//! | 5 | click time, unix seconds, big-endian (good until the year 36812) |
//! | 8 | random bytes from the caller (two clicks in one second never collide) |
//! | 1 + n | message id: a header byte, then the string |
//! | 1 + n | creative id: the same |
//! | 12 | tag: HMAC-SHA256 over a domain label and every byte before the tag, truncated to 96 bits |
//!
//! The header byte of a string is `0x80 | len` when the string only uses the base64url alphabet
//! (it is then packed at 6 bits a character: 32 characters take 24 bytes) and `len` (raw UTF-8
//! bytes) otherwise. Each string is at most [`MAX_FIELD_LEN`] bytes. Two strings of 32 characters
//! from `[A-Za-z0-9_-]` always fit; raw strings fit as long as both together are at most 52 bytes
//! ([`MintError::TooLong`] otherwise), so the API should hold message and creative ids to
//! `[A-Za-z0-9_-]{0,32}`.
//!
//! Verification checks the version byte first (an unknown one is [`ClickIdError::UnknownVersion`]),
//! then the tag in constant time (hmac's `verify_truncated_left`), and only then reads the fields.
//! The encoding is canonical (base64 trailing bits must be zero), so changing any character of a
//! click ID makes it fail.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use ulid::Ulid;

/// The format version written as the first byte.
pub const VERSION: u8 = 1;
/// Longest click ID, in characters.
pub const MAX_LEN: usize = 128;
/// Longest message or creative id, in bytes.
pub const MAX_FIELD_LEN: usize = 32;
/// Random bytes in every click ID.
pub const RANDOM_LEN: usize = 8;
/// Bytes of the HMAC-SHA256 tag kept (96 bits).
pub const TAG_LEN: usize = 12;
/// Shortest server secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// Largest click time (unix seconds) the 5 time bytes hold.
pub const MAX_TIME: u64 = (1 << 40) - 1;

/// Bytes before the two strings: version, offer, time, random.
const FIXED_LEN: usize = 1 + 16 + 5 + RANDOM_LEN;
const MIN_BYTES: usize = FIXED_LEN + 2 + TAG_LEN;
const MAX_BYTES: usize = MAX_LEN / 4 * 3;
/// Shortest click ID, in characters.
pub const MIN_LEN: usize = (MIN_BYTES * 4).div_ceil(3);
const PACKED: u8 = 0x80;
const LEN_MASK: u8 = 0x3f;
/// Keeps these tags apart from anything else the same secret may ever sign.
const DOMAIN: &[u8] = b"affnet/click-id\0";

/// The server secret, keyed once (HMAC's inner and outer pads are computed here, not per click),
/// with the secrets it replaced: click IDs are minted with the current one only, and verified
/// with the current one, then each previous one (rotation without breaking older click IDs).
#[derive(Clone)]
pub struct ClickKey {
    mac: Hmac<Sha256>,
    previous: Vec<Hmac<Sha256>>,
}

fn keyed(secret: &[u8]) -> Result<Hmac<Sha256>, MintError> {
    if secret.len() < MIN_SECRET_LEN {
        return Err(MintError::WeakSecret);
    }
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| MintError::WeakSecret)?;
    mac.update(DOMAIN);
    Ok(mac)
}

impl std::fmt::Debug for ClickKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClickKey(..)")
    }
}

impl ClickKey {
    /// Keys HMAC-SHA256 with `secret` (at least [`MIN_SECRET_LEN`] bytes: the deployment makes
    /// a random 64-character one).
    pub fn new(secret: &[u8]) -> Result<ClickKey, MintError> {
        Ok(ClickKey {
            mac: keyed(secret)?,
            previous: Vec::new(),
        })
    }

    /// The key of `current`, which also verifies click IDs minted with any of `previous`
    /// (newest first; each at least [`MIN_SECRET_LEN`] bytes too).
    pub fn with_previous<'a>(
        current: &[u8],
        previous: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<ClickKey, MintError> {
        Ok(ClickKey {
            mac: keyed(current)?,
            previous: previous.into_iter().map(keyed).collect::<Result<_, _>>()?,
        })
    }

    /// How many previous secrets this key still verifies.
    pub fn previous_count(&self) -> usize {
        self.previous.len()
    }

    fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let full = self.mac.clone().chain_update(data).finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }
}

/// What a verified click ID says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickClaims {
    /// The offer's id; `offer_id.to_string()` is its 26-character form.
    pub offer_id: Ulid,
    /// May be empty.
    pub message_id: String,
    /// May be empty.
    pub creative_id: String,
    /// Click time, unix seconds.
    pub time: u64,
    pub random: [u8; RANDOM_LEN],
}

/// Why a string is not one of our click IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClickIdError {
    /// Not base64url without padding, or too short or too long to be a click ID.
    #[error("not a click ID: bad encoding or length")]
    Encoding,
    /// A version byte this build does not know.
    #[error("unknown click ID version {0}")]
    UnknownVersion(u8),
    /// The tag does not match: forged, altered, or signed with another secret.
    #[error("click ID signature does not match")]
    Signature,
}

impl ClickIdError {
    pub fn code(self) -> &'static str {
        match self {
            ClickIdError::Encoding => "click_id_encoding",
            ClickIdError::UnknownVersion(_) => "click_id_version",
            ClickIdError::Signature => "click_id_signature",
        }
    }
}

/// Why a click ID cannot be minted from these inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("the click secret must have at least {MIN_SECRET_LEN} bytes")]
    WeakSecret,
    #[error("the offer id is not a ULID")]
    OfferId,
    #[error("`{0}` is longer than {MAX_FIELD_LEN} bytes")]
    FieldTooLong(&'static str),
    #[error("click time is beyond the format's range")]
    Time,
    #[error(
        "message and creative ids do not fit in {MAX_LEN} characters; ids of [A-Za-z0-9_-] always fit"
    )]
    TooLong,
}

/// Namespace for minting and verifying click IDs.
pub struct ClickId;

impl ClickId {
    /// A new click ID for a click on `offer_id` (a ULID, any case) from message `message_id` and
    /// creative `creative_id` (each at most [`MAX_FIELD_LEN`] bytes, may be empty) at `time`
    /// (unix seconds), with `random` from the OS.
    pub fn mint(
        key: &ClickKey,
        offer_id: &str,
        message_id: &str,
        creative_id: &str,
        time: u64,
        random: [u8; RANDOM_LEN],
    ) -> Result<String, MintError> {
        let offer = Ulid::from_string(offer_id).map_err(|_| MintError::OfferId)?;
        if time > MAX_TIME {
            return Err(MintError::Time);
        }
        for (field, value) in [("message_id", message_id), ("creative_id", creative_id)] {
            if value.len() > MAX_FIELD_LEN {
                return Err(MintError::FieldTooLong(field));
            }
        }
        let total = FIXED_LEN + encoded_len(message_id) + encoded_len(creative_id) + TAG_LEN;
        if total > MAX_BYTES {
            return Err(MintError::TooLong);
        }
        let mut buf = Buf::default();
        buf.push(VERSION);
        buf.extend(&offer.0.to_be_bytes());
        buf.extend(&time.to_be_bytes()[3..]);
        buf.extend(&random);
        write_field(&mut buf, message_id);
        write_field(&mut buf, creative_id);
        let tag = key.tag(buf.as_slice());
        buf.extend(&tag);
        debug_assert_eq!(buf.len, total);
        Ok(URL_SAFE_NO_PAD.encode(buf.as_slice()))
    }

    /// Checks `text` and returns what it says. Distinct errors for a string that is not a click
    /// ID at all, an unknown version and a bad signature.
    pub fn verify(key: &ClickKey, text: &str) -> Result<ClickClaims, ClickIdError> {
        if !(MIN_LEN..=MAX_LEN).contains(&text.len()) {
            return Err(ClickIdError::Encoding);
        }
        let mut bytes = [0u8; MAX_BYTES];
        let len = URL_SAFE_NO_PAD
            .decode_slice(text, &mut bytes)
            .map_err(|_| ClickIdError::Encoding)?;
        if len < MIN_BYTES {
            return Err(ClickIdError::Encoding);
        }
        if bytes[0] != VERSION {
            return Err(ClickIdError::UnknownVersion(bytes[0]));
        }
        let (data, tag) = bytes[..len].split_at(len - TAG_LEN);
        let signed = std::iter::once(&key.mac).chain(&key.previous).any(|mac| {
            mac.clone()
                .chain_update(data)
                .verify_truncated_left(tag)
                .is_ok()
        });
        if !signed {
            return Err(ClickIdError::Signature);
        }
        parse(data).ok_or(ClickIdError::Encoding)
    }
}

/// Reads the fields of signed bytes (without the tag). `None` only for bytes we did not write.
fn parse(data: &[u8]) -> Option<ClickClaims> {
    let offer = u128::from_be_bytes(data.get(1..17)?.try_into().ok()?);
    let mut time = [0u8; 8];
    time[3..].copy_from_slice(data.get(17..22)?);
    let random: [u8; RANDOM_LEN] = data.get(22..FIXED_LEN)?.try_into().ok()?;
    let mut rest = &data[FIXED_LEN..];
    let message_id = read_field(&mut rest)?;
    let creative_id = read_field(&mut rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(ClickClaims {
        offer_id: Ulid(offer),
        message_id,
        creative_id,
        time: u64::from_be_bytes(time),
        random,
    })
}

/// A fixed buffer: a click ID never exceeds [`MAX_BYTES`].
struct Buf {
    bytes: [u8; MAX_BYTES],
    len: usize,
}

impl Default for Buf {
    fn default() -> Self {
        Buf {
            bytes: [0; MAX_BYTES],
            len: 0,
        }
    }
}

impl Buf {
    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }
    fn extend(&mut self, s: &[u8]) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

fn sextet(b: u8) -> Option<u8> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn packable(s: &str) -> bool {
    s.bytes().all(|b| sextet(b).is_some())
}

fn packed_len(chars: usize) -> usize {
    (chars * 6).div_ceil(8)
}

/// Header byte plus body.
fn encoded_len(s: &str) -> usize {
    1 + if packable(s) {
        packed_len(s.len())
    } else {
        s.len()
    }
}

fn write_field(buf: &mut Buf, s: &str) {
    if !packable(s) {
        buf.push(s.len() as u8);
        buf.extend(s.as_bytes());
        return;
    }
    buf.push(PACKED | s.len() as u8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes() {
        acc = (acc << 6) | u32::from(sextet(b).unwrap_or(0));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            buf.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits > 0 {
        buf.push((acc << (8 - bits)) as u8);
    }
}

fn read_field(rest: &mut &[u8]) -> Option<String> {
    let (&header, tail) = rest.split_first()?;
    if header & !(PACKED | LEN_MASK) != 0 {
        return None;
    }
    let len = usize::from(header & LEN_MASK);
    if len > MAX_FIELD_LEN {
        return None;
    }
    if header & PACKED == 0 {
        let body = tail.get(..len)?;
        *rest = &tail[len..];
        return std::str::from_utf8(body).ok().map(str::to_owned);
    }
    let body = tail.get(..packed_len(len))?;
    *rest = &tail[body.len()..];
    let mut out = String::with_capacity(len);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut bytes = body.iter();
    while out.len() < len {
        if bits < 6 {
            acc = (acc << 8) | u32::from(*bytes.next()?);
            bits += 8;
        }
        bits -= 6;
        out.push(char::from(ALPHABET[((acc >> bits) & 0x3f) as usize]));
        acc &= (1 << bits) - 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OFFER: &str = "01HZX3J4K5M6N7P8Q9R0S1T2V3";

    fn key() -> ClickKey {
        ClickKey::new(SECRET).unwrap()
    }

    /// xorshift64*: deterministic "random" inputs for the property loops.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes8(&mut self) -> [u8; 8] {
            self.next().to_le_bytes()
        }
        fn string(&mut self, max: usize) -> String {
            const CHARS: [&str; 12] = ["a", "Z", "0", "_", "-", ".", " ", "é", "ж", "%", "/", "9"];
            let packed_only = self.below(2) == 0;
            let mut s = String::new();
            let len = self.below(max as u64 + 1) as usize;
            loop {
                let c = if packed_only {
                    char::from(ALPHABET[self.below(64) as usize]).to_string()
                } else {
                    CHARS[self.below(CHARS.len() as u64) as usize].to_string()
                };
                if s.len() + c.len() > len {
                    return s;
                }
                s.push_str(&c);
            }
        }
    }

    #[test]
    fn round_trip() {
        let id = ClickId::mint(&key(), OFFER, "msg-42", "cr_7", 1_760_000_000, [7; 8]).unwrap();
        assert!(id.bytes().all(|b| sextet(b).is_some()), "{id}");
        let claims = ClickId::verify(&key(), &id).unwrap();
        assert_eq!(claims.offer_id.to_string(), OFFER);
        assert_eq!(claims.message_id, "msg-42");
        assert_eq!(claims.creative_id, "cr_7");
        assert_eq!(claims.time, 1_760_000_000);
        assert_eq!(claims.random, [7; 8]);
    }

    #[test]
    fn lower_case_offer_ids_are_the_same_offer() {
        let id = ClickId::mint(&key(), &OFFER.to_lowercase(), "", "", 1, [0; 8]).unwrap();
        assert_eq!(
            ClickId::verify(&key(), &id).unwrap().offer_id.to_string(),
            OFFER
        );
    }

    #[test]
    fn empty_and_raw_strings_round_trip() {
        for (msg, cr) in [
            ("", ""),
            ("кампания", ""),
            ("", "fb ad #3"),
            ("a.b.c", "x/y"),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef",
                "0123456789-_0123456789-_01234567",
            ),
        ] {
            let id = ClickId::mint(&key(), OFFER, msg, cr, 0, [1; 8]).unwrap();
            let claims = ClickId::verify(&key(), &id).unwrap();
            assert_eq!(
                (claims.message_id.as_str(), claims.creative_id.as_str()),
                (msg, cr)
            );
        }
    }

    #[test]
    fn length_bounds() {
        let shortest = ClickId::mint(&key(), OFFER, "", "", 0, [0; 8]).unwrap();
        assert_eq!(shortest.len(), MIN_LEN);
        let full = "A".repeat(MAX_FIELD_LEN);
        let longest = ClickId::mint(&key(), OFFER, &full, &full, MAX_TIME, [255; 8]).unwrap();
        assert!(longest.len() <= MAX_LEN, "{}", longest.len());
        assert_eq!(longest.len(), 123);
        let raw26 = "é".repeat(13);
        assert!(
            ClickId::mint(&key(), OFFER, &raw26, &raw26, 0, [0; 8])
                .unwrap()
                .len()
                <= MAX_LEN
        );
        let raw32 = ".".repeat(MAX_FIELD_LEN);
        assert_eq!(
            ClickId::mint(&key(), OFFER, &raw32, &raw32, 0, [0; 8]),
            Err(MintError::TooLong)
        );
        assert_eq!(
            ClickId::mint(&key(), OFFER, &"a".repeat(33), "", 0, [0; 8]),
            Err(MintError::FieldTooLong("message_id"))
        );
        assert_eq!(
            ClickId::mint(&key(), OFFER, "", &"a".repeat(33), 0, [0; 8]),
            Err(MintError::FieldTooLong("creative_id"))
        );
        assert_eq!(
            ClickId::mint(&key(), OFFER, "", "", MAX_TIME + 1, [0; 8]),
            Err(MintError::Time)
        );
        assert_eq!(
            ClickId::mint(&key(), "not-a-ulid", "", "", 0, [0; 8]),
            Err(MintError::OfferId)
        );
        assert_eq!(ClickKey::new(b"short").unwrap_err(), MintError::WeakSecret);
    }

    #[test]
    fn tampering_any_character_is_rejected() {
        let id = ClickId::mint(&key(), OFFER, "msg", "cr", 1_760_000_000, [9; 8]).unwrap();
        for i in 0..id.len() {
            for replacement in [b'A', b'z', b'0', b'_', b'-', b'Q'] {
                let mut bytes = id.clone().into_bytes();
                if bytes[i] == replacement {
                    continue;
                }
                bytes[i] = replacement;
                let tampered = String::from_utf8(bytes).unwrap();
                assert!(ClickId::verify(&key(), &tampered).is_err(), "position {i}");
            }
        }
        // Dropping or adding characters, or padding, is rejected too.
        assert!(ClickId::verify(&key(), &id[..id.len() - 1]).is_err());
        assert!(ClickId::verify(&key(), &format!("{id}A")).is_err());
        assert!(ClickId::verify(&key(), &format!("{id}=")).is_err());
    }

    #[test]
    fn tampered_signed_bytes_are_a_signature_error() {
        let id = ClickId::mint(&key(), OFFER, "msg", "cr", 1_760_000_000, [9; 8]).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&id).unwrap();
        for i in 1..bytes.len() {
            bytes[i] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(
                ClickId::verify(&key(), &tampered),
                Err(ClickIdError::Signature),
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
    }

    #[test]
    fn distinct_errors() {
        let id = ClickId::mint(&key(), OFFER, "m", "c", 5, [3; 8]).unwrap();
        let other = ClickKey::new(b"another secret of enough length").unwrap();
        assert_eq!(ClickId::verify(&other, &id), Err(ClickIdError::Signature));
        let mut bytes = URL_SAFE_NO_PAD.decode(&id).unwrap();
        bytes[0] = 2;
        assert_eq!(
            ClickId::verify(&key(), &URL_SAFE_NO_PAD.encode(&bytes)),
            Err(ClickIdError::UnknownVersion(2))
        );
        for bad in [
            "",
            "abc",
            "not a click id at all, it has spaces and is long enough to be one.....",
            &format!("{}+", &id[..id.len() - 1]),
            &"A".repeat(MAX_LEN + 1),
            "{sub1}",
        ] {
            assert_eq!(
                ClickId::verify(&key(), bad),
                Err(ClickIdError::Encoding),
                "{bad}"
            );
        }
    }

    #[test]
    fn random_inputs_round_trip_and_resist_bit_flips() {
        let key = key();
        let other = ClickKey::new(b"0123456789abcdef0123456789abcdeF").unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2_000 {
            let offer = Ulid(u128::from(rng.next()) << 64 | u128::from(rng.next()));
            let msg = rng.string(MAX_FIELD_LEN);
            let cr = rng.string(MAX_FIELD_LEN);
            let time = rng.below(MAX_TIME + 1);
            let random = rng.bytes8();
            let id = match ClickId::mint(&key, &offer.to_string(), &msg, &cr, time, random) {
                Ok(id) => id,
                Err(MintError::TooLong) => {
                    assert!(!packable(&msg) || !packable(&cr));
                    assert!(encoded_len(&msg) + encoded_len(&cr) > MAX_BYTES - FIXED_LEN - TAG_LEN);
                    continue;
                }
                Err(e) => panic!("{e}"),
            };
            assert!((MIN_LEN..=MAX_LEN).contains(&id.len()));
            assert!(id.bytes().all(|b| sextet(b).is_some()));
            let claims = ClickId::verify(&key, &id).unwrap();
            assert_eq!(
                claims,
                ClickClaims {
                    offer_id: offer,
                    message_id: msg,
                    creative_id: cr,
                    time,
                    random
                }
            );
            assert_eq!(ClickId::verify(&other, &id), Err(ClickIdError::Signature));
            let mut bytes = URL_SAFE_NO_PAD.decode(&id).unwrap();
            let at = rng.below(bytes.len() as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            assert!(ClickId::verify(&key, &URL_SAFE_NO_PAD.encode(&bytes)).is_err());
        }
    }

    #[test]
    fn packing_is_exact_for_every_length() {
        for len in 0..=MAX_FIELD_LEN {
            let s: String = (0..len)
                .map(|i| char::from(ALPHABET[(i * 7 + len) % 64]))
                .collect();
            let mut buf = Buf::default();
            write_field(&mut buf, &s);
            assert_eq!(buf.len, 1 + packed_len(len));
            let mut rest = buf.as_slice();
            assert_eq!(read_field(&mut rest).as_deref(), Some(s.as_str()));
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn rotation_mints_with_current_and_verifies_current_then_previous() {
        const OLD: &[u8] = b"the click secret of last year, 1";
        const OLDER: &[u8] = b"the click secret of two years ago";
        const NEW: &[u8] = b"the click secret of this year, 22";
        let old = ClickKey::new(OLD).unwrap();
        let older = ClickKey::new(OLDER).unwrap();
        let from_old = ClickId::mint(&old, OFFER, "m", "c", 5, [3; 8]).unwrap();
        let from_older = ClickId::mint(&older, OFFER, "m", "c", 6, [4; 8]).unwrap();

        let rotated = ClickKey::with_previous(NEW, [OLD, OLDER]).unwrap();
        assert_eq!(rotated.previous_count(), 2);
        assert_eq!(ClickId::verify(&rotated, &from_old).unwrap().time, 5);
        assert_eq!(ClickId::verify(&rotated, &from_older).unwrap().time, 6);
        // Minted with the current secret only: the old key alone no longer verifies it.
        let minted = ClickId::mint(&rotated, OFFER, "m", "c", 7, [5; 8]).unwrap();
        assert_eq!(
            minted,
            ClickId::mint(&ClickKey::new(NEW).unwrap(), OFFER, "m", "c", 7, [5; 8]).unwrap()
        );
        assert_eq!(ClickId::verify(&old, &minted), Err(ClickIdError::Signature));
        // A secret that was dropped from the list no longer verifies its click IDs.
        let dropped = ClickKey::with_previous(NEW, [OLD]).unwrap();
        assert_eq!(
            ClickId::verify(&dropped, &from_older),
            Err(ClickIdError::Signature)
        );
        // Tampering is caught whatever the number of keys.
        let mut tampered = from_old.clone().into_bytes();
        tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(ClickId::verify(&rotated, &tampered).is_err());
        // Every previous secret must be as strong as the current one.
        assert_eq!(
            ClickKey::with_previous(NEW, [b"short".as_slice()]).unwrap_err(),
            MintError::WeakSecret
        );
    }

    #[test]
    fn key_debug_hides_the_secret() {
        assert_eq!(format!("{:?}", key()), "ClickKey(..)");
    }
}
