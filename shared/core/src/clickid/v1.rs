//! Format 1, issued until click IDs had to fit a sub-ID field: the message and creative strings
//! travel inside the ID, so it is 59 to 123 characters. No longer minted by the click route, but
//! still verified: networks echo click IDs back for days (and in status APIs for months).
//!
//! | bytes | field |
//! |---|---|
//! | 1 | version, 1 |
//! | 16 | offer id (ULID, big-endian) |
//! | 5 | click time, unix seconds, big-endian |
//! | 8 | random |
//! | 1 + n | message id: a header byte, then the string |
//! | 1 + n | creative id: the same |
//! | 12 | tag (see the module above) |
//!
//! A string's header byte is `0x80 | len` when it only uses the base64url alphabet (packed at 6
//! bits a character) and `len` (raw UTF-8 bytes) otherwise; each is at most [`MAX_FIELD_LEN`]
//! bytes.

use super::{
    Buf, ClaimedLabels, ClickClaims, ClickKey, FIXED_LEN, Labels, MAX_FIELD_LEN, MintError,
    RANDOM_LEN, TAG_LEN, header_fields,
};

pub(super) const VERSION: u8 = 1;
/// Longest format-1 click ID, in characters.
pub const MAX_LEN: usize = 128;
pub(super) const MIN_BYTES: usize = FIXED_LEN + 2 + TAG_LEN;
pub(super) const MAX_BYTES: usize = MAX_LEN / 4 * 3;
/// Shortest format-1 click ID, in characters.
pub const MIN_LEN: usize = (MIN_BYTES * 4).div_ceil(3);
const PACKED: u8 = 0x80;
const LEN_MASK: u8 = 0x3f;

/// A format-1 click ID. Only tests and tools make them now: they are what networks still hold.
pub fn mint(
    key: &ClickKey,
    offer_id: &str,
    labels: &Labels,
    time: u64,
    random: [u8; RANDOM_LEN],
) -> Result<String, MintError> {
    for (field, value) in [
        ("message_id", &labels.message_id),
        ("creative_id", &labels.creative_id),
    ] {
        if value.len() > MAX_FIELD_LEN {
            return Err(MintError::FieldTooLong(field));
        }
    }
    let total =
        FIXED_LEN + encoded_len(&labels.message_id) + encoded_len(&labels.creative_id) + TAG_LEN;
    if total > MAX_BYTES {
        return Err(MintError::TooLong);
    }
    let mut buf = Buf::default();
    header_fields(&mut buf, VERSION, offer_id, time, random)?;
    write_field(&mut buf, &labels.message_id);
    write_field(&mut buf, &labels.creative_id);
    let tag = key.tag(buf.as_slice());
    buf.extend(&tag);
    debug_assert_eq!(buf.len, total);
    Ok(super::encode(buf.as_slice()))
}

/// The claims of signed format-1 bytes (without the tag); `None` for bytes we never wrote.
pub(super) fn parse(data: &[u8]) -> Option<ClickClaims> {
    let (offer_id, time, random) = super::read_header(data)?;
    let mut rest = &data[FIXED_LEN..];
    let message_id = read_field(&mut rest)?;
    let creative_id = read_field(&mut rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(ClickClaims {
        version: VERSION,
        offer_id,
        time,
        random,
        labels: ClaimedLabels::Known(Labels {
            message_id,
            creative_id,
        }),
    })
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

pub(super) const ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub(super) fn packable(s: &str) -> bool {
    s.bytes().all(|b| sextet(b).is_some())
}

fn packed_len(chars: usize) -> usize {
    (chars * 6).div_ceil(8)
}

/// Header byte plus body.
pub(super) fn encoded_len(s: &str) -> usize {
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
}
