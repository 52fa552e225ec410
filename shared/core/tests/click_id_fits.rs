//! Every click ID fits every sub-ID field whose limit the catalogue records, and the 64
//! characters of `[A-Za-z0-9_-]` that fields are commonly held to.

use affnet_core::Catalogue;
use affnet_core::clickid::{self, ClickId, ClickKey, LabelHandle, Labels, MAX_FIELD_LEN};

const OFFER: &str = "01HZX3J4K5M6N7P8Q9R0S1T2V3";

/// Click IDs for the longest and the oddest labels, at the edges of time and randomness.
fn worst_cases() -> Vec<String> {
    let key = ClickKey::new(b"a click secret for the limits test").unwrap();
    let long = "ж".repeat(MAX_FIELD_LEN / 2);
    let mut ids = Vec::new();
    for labels in [
        Labels::default(),
        Labels::new("A".repeat(MAX_FIELD_LEN), "z".repeat(MAX_FIELD_LEN)),
        Labels::new(long.as_str(), "fb ad #3 / 50%"),
    ] {
        for handle in LabelHandle::candidates(&labels) {
            for (time, random) in [(0, [0; 8]), (clickid::MAX_TIME, [255; 8])] {
                ids.push(ClickId::mint(&key, OFFER, handle, time, random).unwrap());
            }
        }
    }
    ids
}

#[test]
fn click_ids_fit_every_documented_sub_id_limit() {
    let catalogue = Catalogue::embedded();
    let limits: Vec<_> = catalogue
        .networks
        .iter()
        .flat_map(|n| n.sub_id_limits.iter().map(move |l| (n.slug.as_str(), l)))
        .collect();
    // The limits the networks document (cpa.tl: 100, TUNE: 500) stay recorded.
    for slug in ["cpatl", "tune"] {
        assert!(
            limits.iter().any(|(s, _)| *s == slug),
            "{slug} lost its limit"
        );
    }
    let ids = worst_cases();
    for (slug, limit) in limits {
        assert!(!limit.fields.is_empty() && limit.source.starts_with("https://"));
        for id in &ids {
            assert!(
                id.chars().count() <= limit.max_len,
                "{slug} {:?}: {} > {}",
                limit.fields,
                id.len(),
                limit.max_len
            );
        }
    }
}

#[test]
fn click_ids_are_at_most_64_characters_of_the_url_alphabet() {
    const _: () = assert!(clickid::LEN <= 64);
    for id in worst_cases() {
        assert_eq!(id.len(), clickid::LEN);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{id}"
        );
    }
}
