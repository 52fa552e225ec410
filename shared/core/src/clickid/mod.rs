//! Signed click IDs: everything attribution needs, so that a postback is attributed without
//! reading the click back from storage.
//!
//! A click ID is exactly [`LEN`] (64) characters of base64url without padding (only
//! `[A-Za-z0-9_-]`), whatever the message and creative: it has to come back whole from a
//! network's sub-ID field, and those are often capped (Traffic Light's `sub1`: 100 characters)
//! or limited to that alphabet. Its 48 bytes are:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, [`VERSION`] (2) |
//! | 16 | offer id: the offer's ULID as its 128-bit big-endian integer |
//! | 5 | click time, unix seconds, big-endian (good until the year 36812) |
//! | 8 | random bytes from the caller (two clicks in one second never collide) |
//! | 6 | [`LabelHandle`] of the (message, creative) pair; 0 for neither |
//! | 12 | tag: HMAC-SHA256 over a domain label and every byte before the tag, truncated to 96 bits |
//!
//! The handle is resolved to the message and creative through a write-once table (see
//! [`labels`]); offer and time need nothing but the ID. Format 1 ([`v1`]), which carried the
//! strings themselves (59 to 123 characters), is no longer minted and still verifies.
//!
//! Verification checks the version byte first (an unknown one is [`ClickIdError::UnknownVersion`]),
//! then the tag in constant time (hmac's `verify_truncated_left`) with the current secret, then
//! each previous one, and only then reads the fields. The encoding is canonical (base64 trailing
//! bits must be zero, and a format has one length), so changing any character makes it fail.

pub mod labels;
#[cfg(test)]
mod tests;
pub mod v1;

pub use labels::{HANDLE_LEN, LabelHandle, Labels, MAX_PROBES};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use ulid::Ulid;

/// The format version minted now.
pub const VERSION: u8 = 2;
/// Length of every click ID minted now, in characters.
pub const LEN: usize = 64;
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

/// Bytes before the message and creative: version, offer, time, random.
const FIXED_LEN: usize = 1 + 16 + 5 + RANDOM_LEN;
const BYTES: usize = FIXED_LEN + HANDLE_LEN + TAG_LEN;
const _: () = assert!(
    BYTES * 4 == LEN * 3,
    "whole base64 quanta: no trailing bits"
);
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

    /// Whether `tag` signs `data` under the current secret or a previous one (constant time).
    fn signs(&self, data: &[u8], tag: &[u8]) -> bool {
        std::iter::once(&self.mac).chain(&self.previous).any(|mac| {
            mac.clone()
                .chain_update(data)
                .verify_truncated_left(tag)
                .is_ok()
        })
    }
}

/// What a verified click ID says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickClaims {
    /// The format: [`VERSION`], or 1 for a click ID issued before it.
    pub version: u8,
    /// The offer's id; `offer_id.to_string()` is its 26-character form.
    pub offer_id: Ulid,
    /// Click time, unix seconds.
    pub time: u64,
    pub random: [u8; RANDOM_LEN],
    pub labels: ClaimedLabels,
}

/// Message and creative of a verified click ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimedLabels {
    /// Known: carried by the ID (format 1), none (handle 0), or resolved from the handle.
    Known(Labels),
    /// A handle still to resolve through the labels table ([`ClickClaims::resolve`]). Attribution
    /// without it counts for the offer and the click only.
    Handle(LabelHandle),
}

impl ClickClaims {
    /// Message and creative, when known.
    pub fn labels(&self) -> Option<&Labels> {
        match &self.labels {
            ClaimedLabels::Known(labels) => Some(labels),
            ClaimedLabels::Handle(_) => None,
        }
    }

    /// The handle still to resolve, if any.
    pub fn unresolved(&self) -> Option<LabelHandle> {
        match self.labels {
            ClaimedLabels::Handle(handle) => Some(handle),
            ClaimedLabels::Known(_) => None,
        }
    }

    /// Records what the handle stands for (as read from the labels table).
    pub fn resolve(&mut self, labels: Labels) {
        self.labels = ClaimedLabels::Known(labels);
    }
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
    /// Format 1 only: the strings did not fit.
    #[error("message and creative ids do not fit in a format-1 click ID")]
    TooLong,
}

/// Namespace for minting and verifying click IDs.
pub struct ClickId;

impl ClickId {
    /// A new click ID ([`LEN`] characters) for a click on `offer_id` (a ULID, any case) whose
    /// message and creative have `labels` (see [`LabelHandle::candidates`]) at `time` (unix
    /// seconds), with `random` from the OS.
    pub fn mint(
        key: &ClickKey,
        offer_id: &str,
        labels: LabelHandle,
        time: u64,
        random: [u8; RANDOM_LEN],
    ) -> Result<String, MintError> {
        let mut buf = Buf::default();
        header_fields(&mut buf, VERSION, offer_id, time, random)?;
        buf.extend(&labels.to_bytes());
        let tag = key.tag(buf.as_slice());
        buf.extend(&tag);
        debug_assert_eq!(buf.len, BYTES);
        Ok(encode(buf.as_slice()))
    }

    /// Checks `text` and returns what it says. Distinct errors for a string that is not a click
    /// ID at all, an unknown version and a bad signature.
    pub fn verify(key: &ClickKey, text: &str) -> Result<ClickClaims, ClickIdError> {
        if !(LEN.min(v1::MIN_LEN)..=v1::MAX_LEN).contains(&text.len()) {
            return Err(ClickIdError::Encoding);
        }
        let mut bytes = [0u8; v1::MAX_BYTES];
        let len = URL_SAFE_NO_PAD
            .decode_slice(text, &mut bytes)
            .map_err(|_| ClickIdError::Encoding)?;
        let fits = match bytes[0] {
            VERSION => len == BYTES,
            v1::VERSION => len >= v1::MIN_BYTES,
            other if len > 0 => return Err(ClickIdError::UnknownVersion(other)),
            _ => false,
        };
        if !fits {
            return Err(ClickIdError::Encoding);
        }
        let (data, tag) = bytes[..len].split_at(len - TAG_LEN);
        if !key.signs(data, tag) {
            return Err(ClickIdError::Signature);
        }
        match data[0] {
            VERSION => parse(data),
            _ => v1::parse(data),
        }
        .ok_or(ClickIdError::Encoding)
    }
}

/// Version, offer, time and random: the start of every format.
fn header_fields(
    buf: &mut Buf,
    version: u8,
    offer_id: &str,
    time: u64,
    random: [u8; RANDOM_LEN],
) -> Result<(), MintError> {
    let offer = Ulid::from_string(offer_id).map_err(|_| MintError::OfferId)?;
    if time > MAX_TIME {
        return Err(MintError::Time);
    }
    buf.push(version);
    buf.extend(&offer.0.to_be_bytes());
    buf.extend(&time.to_be_bytes()[3..]);
    buf.extend(&random);
    Ok(())
}

fn read_header(data: &[u8]) -> Option<(Ulid, u64, [u8; RANDOM_LEN])> {
    let offer = u128::from_be_bytes(data.get(1..17)?.try_into().ok()?);
    let mut time = [0u8; 8];
    time[3..].copy_from_slice(data.get(17..22)?);
    let random: [u8; RANDOM_LEN] = data.get(22..FIXED_LEN)?.try_into().ok()?;
    Some((Ulid(offer), u64::from_be_bytes(time), random))
}

/// Reads signed format-2 bytes (without the tag).
fn parse(data: &[u8]) -> Option<ClickClaims> {
    let (offer_id, time, random) = read_header(data)?;
    let handle = LabelHandle::from_bytes(data.get(FIXED_LEN..)?.try_into().ok()?);
    Some(ClickClaims {
        version: VERSION,
        offer_id,
        time,
        random,
        labels: match handle.is_none() {
            true => ClaimedLabels::Known(Labels::default()),
            false => ClaimedLabels::Handle(handle),
        },
    })
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fixed buffer: a click ID never exceeds format 1's longest.
struct Buf {
    bytes: [u8; v1::MAX_BYTES],
    len: usize,
}

impl Default for Buf {
    fn default() -> Self {
        Buf {
            bytes: [0; v1::MAX_BYTES],
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
