use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OFFER: &str = "01HZX3J4K5M6N7P8Q9R0S1T2V3";
/// Format-1 click IDs as the code before format 2 minted them (same secret, offer, time 1.76e9,
/// random `[7; 8]`): ("msg-42", "cr_7") packed, ("кампания", "fb ad #3") raw.
const ISSUED_V1: [(&str, &str, &str); 2] = [
    (
        "AQGP-jkSZaGqeyLpwDIdC2MAaOd4AAcHBwcHBwcHhprIPuNghHK_-2ujjpHmnsvBxQKbOw",
        "msg-42",
        "cr_7",
    ),
    (
        "AQGP-jkSZaGqeyLpwDIdC2MAaOd4AAcHBwcHBwcHENC60LDQvNC_0LDQvdC40Y8IZmIgYWQgIzPKYmLnnLKnst6lD2k",
        "кампания",
        "fb ad #3",
    ),
];

fn key() -> ClickKey {
    ClickKey::new(SECRET).unwrap()
}

fn handle(message: &str, creative: &str) -> LabelHandle {
    LabelHandle::candidates(&Labels::new(message, creative))
        .next()
        .unwrap()
}

fn is_base64url(id: &str) -> bool {
    id.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
    /// Up to `max` bytes: only the base64url alphabet half the time, else mixed with spaces,
    /// punctuation and multi-byte characters.
    fn string(&mut self, max: usize) -> String {
        const CHARS: [&str; 12] = ["a", "Z", "0", "_", "-", ".", " ", "é", "ж", "%", "/", "9"];
        let packed_only = self.below(2) == 0;
        let mut s = String::new();
        let len = self.below(max as u64 + 1) as usize;
        loop {
            let c = if packed_only {
                char::from(v1::ALPHABET[self.below(64) as usize]).to_string()
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
    let h = handle("msg-42", "cr_7");
    let id = ClickId::mint(&key(), OFFER, h, 1_760_000_000, [7; 8]).unwrap();
    assert_eq!(id.len(), LEN);
    assert!(is_base64url(&id), "{id}");
    let claims = ClickId::verify(&key(), &id).unwrap();
    assert_eq!(claims.version, VERSION);
    assert_eq!(claims.offer_id.to_string(), OFFER);
    assert_eq!(claims.labels, ClaimedLabels::Handle(h));
    assert_eq!(claims.unresolved(), Some(h));
    assert_eq!(claims.labels(), None);
    assert_eq!(claims.time, 1_760_000_000);
    assert_eq!(claims.random, [7; 8]);
    let mut resolved = claims.clone();
    resolved.resolve(Labels::new("msg-42", "cr_7"));
    assert_eq!(resolved.labels(), Some(&Labels::new("msg-42", "cr_7")));
    assert_eq!(resolved.unresolved(), None);
}

#[test]
fn no_labels_need_no_lookup() {
    let id = ClickId::mint(&key(), OFFER, LabelHandle::NONE, 1, [0; 8]).unwrap();
    let claims = ClickId::verify(&key(), &id).unwrap();
    assert_eq!(claims.labels(), Some(&Labels::default()));
    assert_eq!(claims.unresolved(), None);
}

#[test]
fn lower_case_offer_ids_are_the_same_offer() {
    let id = ClickId::mint(&key(), &OFFER.to_lowercase(), LabelHandle::NONE, 1, [0; 8]).unwrap();
    assert_eq!(
        ClickId::verify(&key(), &id).unwrap().offer_id.to_string(),
        OFFER
    );
}

/// The edge cases by name: every click ID is 64 characters of `[A-Za-z0-9_-]`.
#[test]
fn every_click_id_is_64_characters_of_the_url_alphabet() {
    let full = "A".repeat(MAX_FIELD_LEN);
    let dots = ".".repeat(MAX_FIELD_LEN);
    let cyrillic = "ж".repeat(MAX_FIELD_LEN / 2);
    for (message, creative) in [
        ("", ""),
        ("m", ""),
        ("", "c"),
        (full.as_str(), full.as_str()),
        (dots.as_str(), dots.as_str()),
        (cyrillic.as_str(), "fb ad #3 / 50% off"),
        ("{sub1}", "&oid="),
    ] {
        for h in LabelHandle::candidates(&Labels::new(message, creative)) {
            for (time, random) in [(0, [0; 8]), (MAX_TIME, [255; 8])] {
                let id = ClickId::mint(&key(), OFFER, h, time, random).unwrap();
                assert_eq!(id.len(), LEN, "{message:?} {creative:?}");
                assert!(is_base64url(&id), "{id}");
            }
        }
    }
    assert_eq!(
        ClickId::mint(&key(), OFFER, LabelHandle::NONE, MAX_TIME + 1, [0; 8]),
        Err(MintError::Time)
    );
    assert_eq!(
        ClickId::mint(&key(), "not-a-ulid", LabelHandle::NONE, 0, [0; 8]),
        Err(MintError::OfferId)
    );
    assert_eq!(ClickKey::new(b"short").unwrap_err(), MintError::WeakSecret);
}

#[test]
fn tampering_any_character_is_rejected() {
    let id = ClickId::mint(&key(), OFFER, handle("msg", "cr"), 1_760_000_000, [9; 8]).unwrap();
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
    assert!(ClickId::verify(&key(), &format!("{id}AAAA")).is_err());
    assert!(ClickId::verify(&key(), &format!("{id}=")).is_err());
}

#[test]
fn tampered_signed_bytes_are_a_signature_error() {
    let id = ClickId::mint(&key(), OFFER, handle("msg", "cr"), 1_760_000_000, [9; 8]).unwrap();
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
    let id = ClickId::mint(&key(), OFFER, handle("m", "c"), 5, [3; 8]).unwrap();
    let other = ClickKey::new(b"another secret of enough length").unwrap();
    assert_eq!(ClickId::verify(&other, &id), Err(ClickIdError::Signature));
    let mut bytes = URL_SAFE_NO_PAD.decode(&id).unwrap();
    bytes[0] = 3;
    assert_eq!(
        ClickId::verify(&key(), &URL_SAFE_NO_PAD.encode(&bytes)),
        Err(ClickIdError::UnknownVersion(3))
    );
    // A format-2 version byte on another length is not a click ID.
    let mut long = URL_SAFE_NO_PAD.decode(ISSUED_V1[0].0).unwrap();
    long[0] = VERSION;
    assert_eq!(
        ClickId::verify(&key(), &URL_SAFE_NO_PAD.encode(&long)),
        Err(ClickIdError::Encoding)
    );
    for bad in [
        "",
        "abc",
        "not a click id at all, it has spaces and is long enough to be one.....",
        &format!("{}+", &id[..id.len() - 1]),
        &"A".repeat(v1::MAX_LEN + 1),
        "{sub1}",
    ] {
        assert_eq!(
            ClickId::verify(&key(), bad),
            Err(ClickIdError::Encoding),
            "{bad}"
        );
    }
}

/// Random message and creative strings (empty, up to 32 bytes, in or out of the base64url
/// alphabet), offers, times and randoms: the ID is always 64 characters, verifies to the same
/// claims, fails under another key and after any bit flip.
#[test]
fn random_inputs_fit_round_trip_and_resist_bit_flips() {
    let key = key();
    let other = ClickKey::new(b"0123456789abcdef0123456789abcdeF").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2_000 {
        let offer = Ulid(u128::from(rng.next()) << 64 | u128::from(rng.next()));
        let labels = Labels::new(rng.string(MAX_FIELD_LEN), rng.string(MAX_FIELD_LEN));
        let h = LabelHandle::candidates(&labels).next().unwrap();
        let time = rng.below(MAX_TIME + 1);
        let random = rng.bytes8();
        let id = ClickId::mint(&key, &offer.to_string(), h, time, random).unwrap();
        assert_eq!(id.len(), LEN);
        assert!(is_base64url(&id));
        let claims = ClickId::verify(&key, &id).unwrap();
        let expected = match labels.is_empty() {
            true => ClaimedLabels::Known(Labels::default()),
            false => ClaimedLabels::Handle(h),
        };
        assert_eq!(
            claims,
            ClickClaims {
                version: VERSION,
                offer_id: offer,
                time,
                random,
                labels: expected,
            }
        );
        assert_eq!(ClickId::verify(&other, &id), Err(ClickIdError::Signature));
        let mut bytes = URL_SAFE_NO_PAD.decode(&id).unwrap();
        let at = rng.below(bytes.len() as u64) as usize;
        bytes[at] ^= 1 << rng.below(8);
        assert!(ClickId::verify(&key, &URL_SAFE_NO_PAD.encode(&bytes)).is_err());
    }
}

/// Click IDs issued before format 2 still verify, with their message and creative.
#[test]
fn issued_format_1_click_ids_still_verify() {
    for (id, message, creative) in ISSUED_V1 {
        let claims = ClickId::verify(&key(), id).unwrap();
        assert_eq!(claims.version, 1);
        assert_eq!(claims.offer_id.to_string(), OFFER);
        assert_eq!(claims.time, 1_760_000_000);
        assert_eq!(claims.random, [7; 8]);
        assert_eq!(claims.labels(), Some(&Labels::new(message, creative)));
        let labels = Labels::new(message, creative);
        assert_eq!(
            v1::mint(&key(), OFFER, &labels, 1_760_000_000, [7; 8]).as_deref(),
            Ok(id)
        );
        let mut tampered = id.to_string().into_bytes();
        tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
        assert!(ClickId::verify(&key(), &String::from_utf8(tampered).unwrap()).is_err());
    }
}

/// Format 1's own bounds, as before: strings of the alphabet always fit, raw ones up to 52 bytes.
#[test]
fn format_1_bounds_and_random_round_trips() {
    let full = Labels::new("A".repeat(MAX_FIELD_LEN), "A".repeat(MAX_FIELD_LEN));
    let longest = v1::mint(&key(), OFFER, &full, MAX_TIME, [255; 8]).unwrap();
    assert_eq!(longest.len(), 123);
    let shortest = v1::mint(&key(), OFFER, &Labels::default(), 0, [0; 8]).unwrap();
    assert_eq!(shortest.len(), v1::MIN_LEN);
    let raw32 = ".".repeat(MAX_FIELD_LEN);
    let too_long = Labels::new(raw32.clone(), raw32);
    assert_eq!(
        v1::mint(&key(), OFFER, &too_long, 0, [0; 8]),
        Err(MintError::TooLong)
    );
    assert_eq!(
        v1::mint(&key(), OFFER, &Labels::new("a".repeat(33), ""), 0, [0; 8]),
        Err(MintError::FieldTooLong("message_id"))
    );
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    for _ in 0..500 {
        let labels = Labels::new(rng.string(MAX_FIELD_LEN), rng.string(MAX_FIELD_LEN));
        let id = match v1::mint(&key(), OFFER, &labels, 5, rng.bytes8()) {
            Ok(id) => id,
            Err(MintError::TooLong) => {
                let room = v1::MAX_BYTES - FIXED_LEN - TAG_LEN;
                let need =
                    v1::encoded_len(&labels.message_id) + v1::encoded_len(&labels.creative_id);
                assert!(need > room);
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(
            ClickId::verify(&key(), &id).unwrap().labels(),
            Some(&labels)
        );
    }
}

#[test]
fn rotation_mints_with_current_and_verifies_current_then_previous() {
    const OLD: &[u8] = b"the click secret of last year, 1";
    const OLDER: &[u8] = b"the click secret of two years ago";
    const NEW: &[u8] = b"the click secret of this year, 22";
    let old = ClickKey::new(OLD).unwrap();
    let older = ClickKey::new(OLDER).unwrap();
    let h = handle("m", "c");
    let from_old = ClickId::mint(&old, OFFER, h, 5, [3; 8]).unwrap();
    let from_older = ClickId::mint(&older, OFFER, h, 6, [4; 8]).unwrap();
    let v1_from_older = v1::mint(&older, OFFER, &Labels::new("m", "c"), 8, [6; 8]).unwrap();

    let rotated = ClickKey::with_previous(NEW, [OLD, OLDER]).unwrap();
    assert_eq!(rotated.previous_count(), 2);
    assert_eq!(ClickId::verify(&rotated, &from_old).unwrap().time, 5);
    assert_eq!(ClickId::verify(&rotated, &from_older).unwrap().time, 6);
    assert_eq!(ClickId::verify(&rotated, &v1_from_older).unwrap().time, 8);
    // Minted with the current secret only: the old key alone no longer verifies it.
    let minted = ClickId::mint(&rotated, OFFER, h, 7, [5; 8]).unwrap();
    assert_eq!(
        minted,
        ClickId::mint(&ClickKey::new(NEW).unwrap(), OFFER, h, 7, [5; 8]).unwrap()
    );
    assert_eq!(ClickId::verify(&old, &minted), Err(ClickIdError::Signature));
    // A secret that was dropped from the list no longer verifies its click IDs.
    let dropped = ClickKey::with_previous(NEW, [OLD]).unwrap();
    for id in [&from_older, &v1_from_older] {
        assert_eq!(ClickId::verify(&dropped, id), Err(ClickIdError::Signature));
    }
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
