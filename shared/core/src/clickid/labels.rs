//! Message and creative of a click, and the short handle a click ID carries for them.
//!
//! A handle names one (message, creative) pair in a write-once table (the store's `LABELS#`
//! items). It is derived from the pair, not allocated: the first 48 bits of SHA-256 over a domain
//! label, a probe number and the length-prefixed strings. Every process computes the same first
//! candidate for a pair, so a click whose pair is already stored finds it with one read by key
//! (and none once cached), without a counter or a reverse index. Two pairs meeting on one
//! candidate (about one chance in 2^48 per pair, or an attacker who spent ~2^48 hashes) only
//! move the later pair to its next probe: a stored handle never changes its pair.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Bytes of a handle in a click ID.
pub const HANDLE_LEN: usize = 6;
/// Candidates tried for one pair before giving up (see [`LabelHandle::candidates`]).
pub const MAX_PROBES: u8 = 4;
const DOMAIN: &[u8] = b"affnet/click-labels\0";

/// What a click says about where it came from; both may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Labels {
    pub message_id: String,
    pub creative_id: String,
}

impl Labels {
    pub fn new(message_id: impl Into<String>, creative_id: impl Into<String>) -> Labels {
        Labels {
            message_id: message_id.into(),
            creative_id: creative_id.into(),
        }
    }

    /// Neither a message nor a creative: the click ID carries [`LabelHandle::NONE`].
    pub fn is_empty(&self) -> bool {
        self.message_id.is_empty() && self.creative_id.is_empty()
    }
}

/// A 48-bit handle of a (message, creative) pair; [`LabelHandle::NONE`] (0) is the empty pair
/// and needs no table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelHandle(u64);

impl LabelHandle {
    pub const NONE: LabelHandle = LabelHandle(0);
    const MAX: u64 = (1 << (8 * HANDLE_LEN)) - 1;

    /// The handle of this number, if it fits in 48 bits.
    pub fn new(value: u64) -> Option<LabelHandle> {
        (value <= Self::MAX).then_some(LabelHandle(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    /// The handles `labels` may have, in the order to try them: [`LabelHandle::NONE`] alone for
    /// empty labels, else [`MAX_PROBES`] derived candidates (never `NONE`).
    pub fn candidates(labels: &Labels) -> impl Iterator<Item = LabelHandle> + '_ {
        let derived = (!labels.is_empty()).then(|| {
            (0..MAX_PROBES)
                .map(|probe| derive(labels, probe))
                .filter(|h| !h.is_none())
        });
        let none = labels.is_empty().then_some(LabelHandle::NONE);
        none.into_iter().chain(derived.into_iter().flatten())
    }

    pub(super) fn to_bytes(self) -> [u8; HANDLE_LEN] {
        let mut out = [0u8; HANDLE_LEN];
        out.copy_from_slice(&self.0.to_be_bytes()[8 - HANDLE_LEN..]);
        out
    }

    pub(super) fn from_bytes(bytes: &[u8; HANDLE_LEN]) -> LabelHandle {
        let mut wide = [0u8; 8];
        wide[8 - HANDLE_LEN..].copy_from_slice(bytes);
        LabelHandle(u64::from_be_bytes(wide))
    }
}

/// 12 lower-case hex digits: the store key's form.
impl std::fmt::Display for LabelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:012x}", self.0)
    }
}

fn derive(labels: &Labels, probe: u8) -> LabelHandle {
    let mut hash = Sha256::new();
    hash.update(DOMAIN);
    hash.update([probe]);
    for part in [&labels.message_id, &labels.creative_id] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; HANDLE_LEN];
    bytes.copy_from_slice(&digest[..HANDLE_LEN]);
    LabelHandle::from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_labels_have_only_the_none_handle() {
        let all: Vec<_> = LabelHandle::candidates(&Labels::default()).collect();
        assert_eq!(all, [LabelHandle::NONE]);
    }

    #[test]
    fn candidates_are_stable_distinct_and_never_none() {
        let labels = Labels::new("spring-sale", "banner_300x250");
        let a: Vec<_> = LabelHandle::candidates(&labels).collect();
        assert_eq!(a.len(), usize::from(MAX_PROBES));
        assert_eq!(a, LabelHandle::candidates(&labels).collect::<Vec<_>>());
        assert!(
            a.iter()
                .all(|h| !h.is_none() && h.get() <= LabelHandle::MAX)
        );
        let mut unique = a.clone();
        unique.dedup();
        assert_eq!(unique.len(), a.len());
        // Where one string ends and the other begins is part of the pair.
        let first = |m: &str, c: &str| LabelHandle::candidates(&Labels::new(m, c)).next();
        assert_ne!(first("ab", "c"), first("a", "bc"));
        assert_ne!(first("x", ""), first("", "x"));
    }

    #[test]
    fn handles_round_trip_through_bytes_and_hex() {
        let h = LabelHandle::new(0x0123_4567_89ab).unwrap();
        assert_eq!(LabelHandle::from_bytes(&h.to_bytes()), h);
        assert_eq!(h.to_string(), "0123456789ab");
        assert_eq!(LabelHandle::NONE.to_string(), "000000000000");
        assert!(LabelHandle::new(1 << 48).is_none());
        assert_eq!(
            LabelHandle::new(LabelHandle::MAX).unwrap().to_bytes(),
            [255; 6]
        );
    }
}
