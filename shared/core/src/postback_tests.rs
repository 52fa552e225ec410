//! Postbacks as the seed's networks send them: each tail of
//! shared/core/tests/seeds/003_3607e5466890b13a.txt, with realistic values.

use super::*;
use crate::catalogue::Catalogue;
use crate::clickid::{LabelHandle, Labels, v1};

const SECRET: &[u8] = b"a test click secret of 64 characters, 0123456789abcdef0123456789";
const INTEGRATION: &str = "01J9ZQ4TB1N8V6Q0R3K2W5X7YA";
const TOKEN: &str = "3f9c2a7be41d08c65f1e9a2b7c4d3e8f0a1b2c3d";
const OFFER: &str = "01J9ZQ5ZK6F3H2M8N4P7R1S0TV";
const CLICK_TIME: u64 = 1_760_000_000;

fn key() -> ClickKey {
    ClickKey::new(SECRET).unwrap()
}

/// The handle of ("spring-sale", "banner_300x250"), which [`click`] carries.
fn handle() -> LabelHandle {
    LabelHandle::candidates(&Labels::new("spring-sale", "banner_300x250"))
        .next()
        .unwrap()
}

fn click() -> String {
    ClickId::mint(
        &key(),
        OFFER,
        handle(),
        CLICK_TIME,
        [1, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap()
}

fn network(slug: &str, kind: &str, status_map: &[(&str, &str)]) -> Network {
    let mut toml =
        format!("[[network]]\nslug = \"{slug}\"\nname = \"{slug}\"\nkind = \"{kind}\"\n");
    if !status_map.is_empty() {
        toml.push_str("[network.status_map]\n");
        for (word, stage) in status_map {
            toml.push_str(&format!("\"{word}\" = \"{stage}\"\n"));
        }
    }
    Catalogue::parse(&toml).unwrap().networks.remove(0)
}

fn cpa(status_map: &[(&str, &str)]) -> Network {
    network("cpa-test", "cpa", status_map)
}

fn tune() -> Network {
    network("tune", "tune", &[])
}

/// The query a network sends: our postback URL's (`id=INT-TOKEN&`, ending with `&` so tails with
/// or without a leading `&` both work) plus its tail, macros replaced by URL-encoded values.
fn request(tail: &str, values: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut query = format!("id={INTEGRATION}-{TOKEN}&{tail}");
    for (mac, value) in values {
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        query = query.replace(mac, &encoded);
    }
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn run(network: &Network, params: &[(String, String)]) -> Result<Decision, PostbackError> {
    interpret(network, INTEGRATION, params, &key())
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn status_of(network: &Network, tail: &str, values: &[(&str, &str)]) -> (Status, StatusSource) {
    let d = run(network, &request(tail, values)).unwrap();
    (d.status, d.status_source)
}

#[test]
fn field_table_matches_the_enum() {
    for (i, f) in ALL_FIELDS.iter().enumerate() {
        assert_eq!(*f as usize, i);
        let kind = if matches!(f, F::Oid | F::Eid | F::Pay | F::Cc | F::Comment | F::Reason) {
            NetworkKind::Cpa
        } else {
            NetworkKind::Tune
        };
        assert_eq!(F::of(kind, f.name()), Some(*f));
    }
}

#[test]
fn adbees_zcpa_numeric_statuses_with_sta_stc_stt() {
    let tail = "&oid=[sub_id1]&status=[status]&sta=11&stc=12&stt=13";
    let zcpa = cpa(&[
        ("10", "wait"),
        ("11", "approve"),
        ("12", "cancel"),
        ("13", "cancel"),
    ]);
    let c = click();
    let of = |s: &str| status_of(&zcpa, tail, &[("[sub_id1]", &c), ("[status]", s)]);
    assert_eq!(of("10"), (Status::Pending, StatusSource::NetworkMap));
    assert_eq!(of("11"), (Status::Approved, StatusSource::Override));
    assert_eq!(of("12"), (Status::Rejected, StatusSource::Override));
    // The tail says 13 is trash; it wins over the network's map.
    assert_eq!(of("13"), (Status::Trash, StatusSource::Override));
    // Without a map, 10 is nobody's word: a clear error echoing it.
    let bare = cpa(&[]);
    let err = run(
        &bare,
        &request(tail, &[("[sub_id1]", &c), ("[status]", "10")]),
    )
    .unwrap_err();
    assert_eq!(err, PostbackError::UnknownStatus { raw: "10".into() });
    assert!(err.to_string().contains("`10`"));
    assert_eq!(err.param(), Some("status"));
}

#[test]
fn cpa_house_fake_and_in_processing() {
    let tail = "&oid={sub_id_1}&status={status}&stt=fake&stw=in_processing";
    let net = cpa(&[]);
    let c = click();
    let of = |s: &str| status_of(&net, tail, &[("{sub_id_1}", &c), ("{status}", s)]);
    assert_eq!(of("fake"), (Status::Trash, StatusSource::Override));
    assert_eq!(
        of("in_processing"),
        (Status::Pending, StatusSource::Override)
    );
    assert_eq!(
        of("IN_PROCESSING"),
        (Status::Pending, StatusSource::Override)
    );
    assert_eq!(of("new"), (Status::Pending, StatusSource::Default));
    assert_eq!(of("accepted"), (Status::Approved, StatusSource::Default));
    let d = run(
        &net,
        &request(tail, &[("{sub_id_1}", &c), ("{status}", " Accepted ")]),
    )
    .unwrap();
    assert_eq!(d.raw_status, "Accepted");
}

#[test]
fn drcash_and_traffury_hold_means_wait() {
    let tail = "&oid={sub1}&status={status}&stw=hold";
    let c = click();
    // The override wins even over a map that says hold is hold.
    for net in [cpa(&[]), cpa(&[("hold", "hold")])] {
        let of = |s: &str| status_of(&net, tail, &[("{sub1}", &c), ("{status}", s)]);
        assert_eq!(of("hold"), (Status::Pending, StatusSource::Override));
        assert_eq!(of("approved"), (Status::Approved, StatusSource::Default));
        assert_eq!(of("rejected"), (Status::Rejected, StatusSource::Default));
        assert_eq!(of("trash"), (Status::Trash, StatusSource::Default));
    }
    // Without the tail's stw=hold, hold is AlterCPA's hold: approved, not yet paid. Not pending.
    let plain = request("&oid={sub1}&status=hold", &[("{sub1}", &c)]);
    assert_eq!(run(&cpa(&[]), &plain).unwrap().status, Status::Hold);

    let traffury = "&oid={lead.Sub1}&status={lead.Status}&stw=hold";
    let net = cpa(&[]);
    let of = |s: &str| {
        run(
            &net,
            &request(traffury, &[("{lead.Sub1}", &c), ("{lead.Status}", s)]),
        )
        .unwrap()
    };
    assert_eq!(of("Pending").status, Status::Pending);
    assert_eq!(of("Hold").status, Status::Pending);
    assert_eq!(of("Approved").status, Status::Approved);
    assert_eq!(of("Cancel").status, Status::Rejected);
    assert_eq!(of("Spam").status, Status::Trash);
    let dup = of("Duplicate");
    assert_eq!(
        (dup.status, dup.duplicate, dup.raw_status.as_str()),
        (Status::Trash, true, "Duplicate")
    );
}

#[test]
fn inb_processing_event() {
    let tail = "&oid={source_id}&status={event_name}&stw=Processing";
    let net = network("inb-failsafe", "cpa", &[]);
    let c = click();
    let of = |s: &str| status_of(&net, tail, &[("{source_id}", &c), ("{event_name}", s)]);
    assert_eq!(of("Processing"), (Status::Pending, StatusSource::Override));
    assert_eq!(of("processing"), (Status::Pending, StatusSource::Override));
    assert_eq!(of("Confirmed"), (Status::Approved, StatusSource::Default));
    assert_eq!(of("Cancelled"), (Status::Rejected, StatusSource::Default));
}

#[test]
fn ikon_literal_words_comment_and_duplicate_reason() {
    let net = network("ikon", "cpa", &[]);
    let c = click();
    let msg = "Клиент передумал & просит перезвонить";
    let cases = [
        (
            "&oid={aff_sub1}&status=approve&comment={message}",
            Status::Approved,
            false,
        ),
        (
            "&oid={aff_sub1}&status=trash&comment={message}",
            Status::Trash,
            false,
        ),
        (
            "&oid={aff_sub1}&status=cancel&comment={message}",
            Status::Rejected,
            false,
        ),
        (
            "&oid={aff_sub1}&status=cancel&reason=7&comment={message}",
            Status::Rejected,
            true,
        ),
    ];
    for (tail, status, duplicate) in cases {
        let d = run(
            &net,
            &request(tail, &[("{aff_sub1}", &c), ("{message}", msg)]),
        )
        .unwrap();
        assert_eq!(d.status, status, "{tail}");
        assert_eq!(d.duplicate, duplicate, "{tail}");
        assert_eq!(d.reason, duplicate.then_some(7));
        assert_eq!(d.comment.as_deref(), Some(msg));
        assert_eq!(d.click_id.as_deref(), Some(c.as_str()));
        let claims = d.claims().unwrap();
        assert_eq!(claims.offer_id.to_string(), OFFER);
        assert_eq!(claims.unresolved(), Some(handle()));
        assert_eq!(claims.time, CLICK_TIME);
        assert_eq!(d.identity, format!("{INTEGRATION}|c|{c}|"));
        assert_eq!(d.identity_source, IdentitySource::Click);
        assert_eq!(d.payout, None);
    }
    // reason 7 on an approval is kept but is no duplicate.
    let d = run(
        &net,
        &request("&oid={a}&status=approve&reason=7", &[("{a}", &c)]),
    )
    .unwrap();
    assert_eq!(
        (d.status, d.reason, d.duplicate),
        (Status::Approved, Some(7), false)
    );
    // Other reasons are kept as they are.
    let d = run(
        &net,
        &request("&oid={a}&status=cancel&reason=12", &[("{a}", &c)]),
    )
    .unwrap();
    assert_eq!((d.reason, d.duplicate), (Some(12), false));
}

#[test]
fn metacpa_pay_and_cc_without_leading_ampersand() {
    let net = network(
        "metacpa",
        "cpa",
        &[("0", "wait"), ("1", "approve"), ("3", "cancel")],
    );
    let c = click();
    let tail = "oid={sub1}&status=approve&pay={payout}&cc={currency}";
    let values = [
        ("{sub1}", c.as_str()),
        ("{payout}", "12.50"),
        ("{currency}", "rub"),
    ];
    let d = run(&net, &request(tail, &values)).unwrap();
    assert_eq!(d.status, Status::Approved);
    assert_eq!(d.payout, Some(dec("12.5")));
    assert_eq!(d.currency, Some("RUB"));
    assert!(d.claims().is_some());
    // The same with a leading `&` is the same decision.
    assert_eq!(
        run(&net, &request(&format!("&{tail}"), &values)).unwrap(),
        d
    );
    let d = run(&net, &request("oid={sub1}&status=cancel", &values)).unwrap();
    assert_eq!(
        (d.status, d.payout, d.currency),
        (Status::Rejected, None, None)
    );
    // Numeric statuses through the network's map.
    let d = run(
        &net,
        &request("oid={sub1}&status=1&pay=300&cc=RUB", &values),
    )
    .unwrap();
    assert_eq!(
        (d.status, d.status_source),
        (Status::Approved, StatusSource::NetworkMap)
    );
}

#[test]
fn glued_id_is_split_back() {
    let glued = format!("{INTEGRATION}-{TOKEN}oid=abc");
    assert_eq!(
        split_glued_id(&glued, TOKEN.len()),
        (
            format!("{INTEGRATION}-{TOKEN}").as_str(),
            Some(("oid", "abc"))
        )
    );
    let clean = format!("{INTEGRATION}-{TOKEN}");
    assert_eq!(split_glued_id(&clean, TOKEN.len()), (clean.as_str(), None));
    assert_eq!(split_glued_id("nodash", 40), ("nodash", None));
    assert_eq!(split_glued_id("a-short", 40), ("a-short", None));
}

#[test]
fn everad_and_rocketprofit_pay_cc() {
    let tail = "&oid={sid1}&status={status}&pay={payout}&cc={currency}";
    let net = network("everad", "cpa", &[]);
    let c = click();
    let d = run(
        &net,
        &request(
            tail,
            &[
                ("{sid1}", &c),
                ("{status}", "approved"),
                ("{payout}", "19.00"),
                ("{currency}", "EUR"),
            ],
        ),
    )
    .unwrap();
    assert_eq!(
        (d.status, d.payout, d.currency),
        (Status::Approved, Some(dec("19")), Some("EUR"))
    );
    let d = run(
        &net,
        &request(
            tail,
            &[
                ("{sid1}", &c),
                ("{status}", "pending"),
                ("{payout}", "0"),
                ("{currency}", "usd"),
            ],
        ),
    )
    .unwrap();
    assert_eq!(
        (d.status, d.payout, d.currency),
        (Status::Pending, Some(Decimal::ZERO), Some("USD"))
    );
}

#[test]
fn monadlead_eid_only() {
    let net = network("monadlead", "cpa", &[]);
    for (tail, status) in [
        ("&eid={click_id}&status=approve", Status::Approved),
        ("&eid={click_id}&status=cancel", Status::Rejected),
        ("&eid={click_id}&status=trash", Status::Trash),
    ] {
        let d = run(
            &net,
            &request(tail, &[("{click_id}", "ML-20250917-778812")]),
        )
        .unwrap();
        assert_eq!(d.status, status);
        assert_eq!(d.identity, format!("{INTEGRATION}|t|ML-20250917-778812|"));
        assert_eq!(d.identity_source, IdentitySource::Transaction);
        assert_eq!(d.transaction_id.as_deref(), Some("ML-20250917-778812"));
        assert_eq!((d.click_id, d.click), (None, ClickCheck::Absent));
    }
    // When MonadLead's {click_id} is the click ID we passed, the click is attributed.
    let c = click();
    let d = run(
        &net,
        &request("&eid={click_id}&status=approve", &[("{click_id}", &c)]),
    )
    .unwrap();
    assert_eq!(d.claims().unwrap().offer_id.to_string(), OFFER);
    assert_eq!(d.identity, format!("{INTEGRATION}|t|{c}|"));
}

#[test]
fn leadrock_affbay_limonad_literal_and_plain_tails() {
    let c = click();
    let leadrock = network("leadrock", "cpa", &[]);
    for (word, status) in [
        ("approve", Status::Approved),
        ("cancel", Status::Rejected),
        ("trash", Status::Trash),
    ] {
        let d = run(
            &leadrock,
            &request(&format!("&oid={{sub1}}&status={word}"), &[("{sub1}", &c)]),
        )
        .unwrap();
        assert_eq!(d.status, status);
    }
    // AffbayAsia builds the request from parts: id, oid (Click ID), status accept/cancel/trash, comment.
    let affbay = network("affbay", "cpa", &[]);
    let d = run(
        &affbay,
        &request(
            "oid={c}&status=accept&comment=Customer+confirmed",
            &[("{c}", &c)],
        ),
    )
    .unwrap();
    assert_eq!(
        (d.status, d.comment.as_deref()),
        (Status::Approved, Some("Customer confirmed"))
    );
    // LimonAD, Offerrum, LeadBit, Lagoon, TerexTrade: `&oid=..&status={status}`, own words via maps.
    let leadbit = network("leadbit", "cpa", &[("reject", "trash")]);
    let terra = network(
        "terraleads",
        "cpa",
        &[("accept", "wait"), ("reject", "cancel")],
    );
    let lagoon = network("lagoon", "cpa", &[("hold", "wait"), ("submit", "approve")]);
    let kma = network(
        "kma",
        "cpa",
        &[
            ("p", "wait"),
            ("a", "approve"),
            ("d", "cancel"),
            ("f", "trash"),
        ],
    );
    let tail = "&oid={sub1}&status={status}";
    let of = |n: &Network, s: &str| status_of(n, tail, &[("{sub1}", &c), ("{status}", s)]).0;
    assert_eq!(of(&leadbit, "reject"), Status::Trash);
    assert_eq!(of(&leadbit, "decline"), Status::Rejected);
    assert_eq!(of(&leadbit, "confirm"), Status::Approved);
    assert_eq!(of(&terra, "reject"), Status::Rejected);
    assert_eq!(of(&terra, "accept"), Status::Pending);
    assert_eq!(of(&lagoon, "hold"), Status::Pending);
    assert_eq!(of(&lagoon, "submit"), Status::Approved);
    assert_eq!(of(&lagoon, "double"), Status::Trash);
    assert_eq!(of(&kma, "A"), Status::Approved);
    assert_eq!(of(&kma, "F"), Status::Trash);
    assert_eq!(of(&kma, "P"), Status::Pending);
    // Shakes: the tail's stt=reject.
    let shakes = "&oid={sub1}&status={status}&stt=reject";
    assert_eq!(
        status_of(&cpa(&[]), shakes, &[("{sub1}", &c), ("{status}", "reject")]).0,
        Status::Trash
    );
}

#[test]
fn tune_macros() {
    let tail = "aff_click_id={aff_click_id}&transaction_id={transaction_id}&offer_id={offer_id}\
        &goal_id={goal_id}&payout={payout}&currency={currency}&sale_amount={sale_amount}\
        &aff_sub={aff_sub}&source={source}&ip={ip}";
    let c = click();
    let txn = "1027c887059b47bc69c699f45466b9";
    let values = |goal: &'static str| {
        [
            ("{aff_click_id}", c.clone()),
            ("{transaction_id}", txn.to_string()),
            ("{offer_id}", "26".to_string()),
            ("{goal_id}", goal.to_string()),
            ("{payout}", "15.00000".to_string()),
            ("{currency}", "USD".to_string()),
            ("{sale_amount}", "89.90".to_string()),
            ("{aff_sub}", "blackfriday".to_string()),
            ("{source}", "facebook".to_string()),
            ("{ip}", "203.0.113.7".to_string()),
        ]
    };
    let req = |goal: &'static str, extra: &str| {
        let v = values(goal);
        let refs: Vec<(&str, &str)> = v.iter().map(|(m, s)| (*m, s.as_str())).collect();
        request(&format!("{tail}{extra}"), &refs)
    };
    let d = run(&tune(), &req("0", "")).unwrap();
    assert_eq!(
        (d.status, d.status_source, d.raw_status.as_str()),
        (Status::Approved, StatusSource::Implied, "")
    );
    assert_eq!(d.payout, Some(dec("15")));
    assert_eq!(d.currency, Some("USD"));
    assert_eq!(d.sale_amount, Some(dec("89.9")));
    assert_eq!(d.transaction_id.as_deref(), Some(txn));
    assert_eq!(d.remote_offer_id.as_deref(), Some("26"));
    assert_eq!(d.goal_id, None, "goal 0 is the base conversion");
    assert_eq!(d.identity, format!("{INTEGRATION}|t|{txn}|"));
    assert_eq!(d.claims().unwrap().unresolved(), Some(handle()));
    assert!(!d.test);
    // No goal at all is the same conversion as goal 0; goal 5 is another.
    let no_goal = run(&tune(), &req("", "")).unwrap();
    assert_eq!(no_goal.identity, d.identity);
    let goal5 = run(&tune(), &req("5", "")).unwrap();
    assert_eq!(goal5.identity, format!("{INTEGRATION}|t|{txn}|5"));
    assert_eq!(goal5.goal_id.as_deref(), Some("5"));
    // Explicit statuses.
    for (word, status) in [
        ("pending", Status::Pending),
        ("rejected", Status::Rejected),
        ("approved", Status::Approved),
    ] {
        let d = run(&tune(), &req("0", &format!("&status={word}"))).unwrap();
        assert_eq!(
            (d.status, d.status_source, d.raw_status.as_str()),
            (status, StatusSource::Default, word)
        );
    }
    assert!(run(&tune(), &req("0", "&test=1")).unwrap().test);
}

#[test]
fn tune_click_aliases_and_identity_without_transaction() {
    let c = click();
    let d = run(&tune(), &request("aff_sub={s}&payout=2.5", &[("{s}", &c)])).unwrap();
    assert_eq!(d.click_id.as_deref(), Some(c.as_str()));
    assert_eq!(d.identity, format!("{INTEGRATION}|c|{c}|"));
    assert_eq!(d.identity_source, IdentitySource::Click);
    // aff_click_id wins over aff_sub; the tracker-style names work too.
    let d = run(
        &tune(),
        &request("aff_sub=blackfriday&aff_click_id={s}", &[("{s}", &c)]),
    )
    .unwrap();
    assert!(d.claims().is_some());
    let d = run(
        &tune(),
        &request(
            "click_id={s}&txn=10223b81fbcfd6f34f95f04acc4c1f&goal=3&sale=10",
            &[("{s}", &c)],
        ),
    )
    .unwrap();
    assert_eq!(
        d.identity,
        format!("{INTEGRATION}|t|10223b81fbcfd6f34f95f04acc4c1f|3")
    );
    assert_eq!(d.sale_amount, Some(dec("10")));
    // TUNE's own click macro left unsubstituted, our id in click_id: fine, and noted.
    let d = run(
        &tune(),
        &request("aff_click_id={aff_click_id}&click_id={s}", &[("{s}", &c)]),
    )
    .unwrap();
    assert!(d.claims().is_some());
    assert_eq!(d.unsubstituted, ["aff_click_id"]);
    // Neither click nor transaction.
    assert_eq!(
        run(&tune(), &request("payout=1", &[])).unwrap_err(),
        PostbackError::Missing {
            param: "aff_click_id"
        }
    );
}

#[test]
fn unverified_click_ids_are_recorded_and_flagged() {
    let net = cpa(&[]);
    let c = click();
    let other = ClickKey::new(b"the previous click secret, rotated").unwrap();
    let foreign = ClickId::mint(&other, OFFER, LabelHandle::NONE, CLICK_TIME, [0; 8]).unwrap();
    let d = run(
        &net,
        &request("&oid={o}&status=approve", &[("{o}", &foreign)]),
    )
    .unwrap();
    assert_eq!(d.click, ClickCheck::Invalid(ClickIdError::Signature));
    assert_eq!(d.click_id.as_deref(), Some(foreign.as_str()));
    assert_eq!(d.status, Status::Approved);
    let d = run(&net, &request("&oid=12345&status=approve", &[])).unwrap();
    assert_eq!(d.click, ClickCheck::Invalid(ClickIdError::Encoding));
    assert_eq!(d.identity, format!("{INTEGRATION}|c|12345|"));
    let mut tampered = c.clone().into_bytes();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let d = run(
        &net,
        &request("&oid={o}&status=approve", &[("{o}", &tampered)]),
    )
    .unwrap();
    assert!(matches!(d.click, ClickCheck::Invalid(_)));
    assert!(d.claims().is_none());
}

#[test]
fn eid_wins_for_identity_over_oid() {
    let c = click();
    let d = run(
        &cpa(&[]),
        &request("&oid={o}&eid=L-1&status=approve", &[("{o}", &c)]),
    )
    .unwrap();
    assert_eq!(d.identity, format!("{INTEGRATION}|t|L-1|"));
    assert!(d.claims().is_some(), "the click still attributes");
}

#[test]
fn errors_name_the_parameter() {
    let net = cpa(&[]);
    let c = click();
    let ok = |extra: &str| request(&format!("&oid={{o}}&status=approve{extra}"), &[("{o}", &c)]);
    let err = |extra: &str| run(&net, &ok(extra)).unwrap_err();

    for bad in ["12,50", "1e3", "abc", "1.2.3", "$5"] {
        assert!(
            matches!(
                err(&format!("&pay={}", bad.replace('$', "%24"))),
                PostbackError::Amount {
                    param: "pay",
                    error: AmountError::NotDecimal(_)
                }
            ),
            "{bad}"
        );
    }
    assert_eq!(
        err("&pay=-1"),
        PostbackError::Amount {
            param: "pay",
            error: AmountError::Negative
        }
    );
    assert_eq!(
        err("&pay=1000000.01"),
        PostbackError::Amount {
            param: "pay",
            error: AmountError::TooLarge
        }
    );
    assert_eq!(
        err("&pay=0.000001"),
        PostbackError::Amount {
            param: "pay",
            error: AmountError::TooPrecise
        }
    );
    assert_eq!(
        run(&net, &ok("&pay=1000000")).unwrap().payout,
        Some(dec("1000000"))
    );
    assert_eq!(
        run(&net, &ok("&pay=0.12345")).unwrap().payout,
        Some(dec("0.12345"))
    );
    for bad in ["XXX", "usdt", "US", "руб"] {
        let e = err(&format!("&cc={bad}"));
        assert_eq!(e.code(), "unknown_currency", "{bad}");
        assert_eq!(e.param(), Some("cc"));
    }
    assert_eq!(
        err("&reason=dup"),
        PostbackError::Reason {
            value: "dup".into()
        }
    );

    let long = "x".repeat(MAX_VALUE_LEN + 1);
    let e = err(&format!("&comment={long}"));
    assert_eq!((e.code(), e.param()), ("value_too_long", Some("comment")));
    // Unknown parameters are bounded too.
    let e = err(&format!("&aff_sub9={long}"));
    assert_eq!(e.param(), Some("aff_sub9"));
    assert!(
        run(
            &net,
            &ok(&format!("&comment={}", "x".repeat(MAX_VALUE_LEN)))
        )
        .is_ok()
    );

    let many: String = (0..MAX_PARAMS).map(|i| format!("&p{i}=1")).collect();
    assert_eq!(err(&many).code(), "too_many_parameters");

    assert_eq!(
        run(&net, &request("&oid={o}", &[("{o}", &c)])).unwrap_err(),
        PostbackError::Missing { param: "status" }
    );
    assert_eq!(
        run(&net, &request("&status=approve", &[])).unwrap_err(),
        PostbackError::Missing { param: "oid" }
    );
    assert_eq!(
        run(&net, &request("&oid={sub1}&status=approve", &[])).unwrap_err(),
        PostbackError::Unsubstituted {
            param: "oid",
            value: "{sub1}".into()
        }
    );
    assert_eq!(
        run(
            &net,
            &request("&oid={o}&status={event_name}", &[("{o}", &c)])
        )
        .unwrap_err(),
        PostbackError::Unsubstituted {
            param: "status",
            value: "{event_name}".into()
        }
    );
    assert_eq!(
        err("&oid=other"),
        PostbackError::Conflicting { param: "oid" }
    );
    assert!(
        run(&net, &ok(&format!("&oid={c}"))).is_ok(),
        "the same value twice is fine"
    );
    let e = run(
        &net,
        &request("&oid={o}&status=done&sta=done&stc=done", &[("{o}", &c)]),
    )
    .unwrap_err();
    assert_eq!(
        e,
        PostbackError::AmbiguousStatus {
            raw: "done".into(),
            first: "sta",
            second: "stc"
        }
    );
    let e = run(&net, &request("&oid={o}&status=Ждёт", &[("{o}", &c)])).unwrap_err();
    assert_eq!(
        e,
        PostbackError::UnknownStatus {
            raw: "Ждёт".into()
        }
    );
}

#[test]
fn overrides_take_lists_repeat_and_non_ascii() {
    let net = cpa(&[]);
    let c = click();
    let of = |q: &str| run(&net, &request(q, &[("{o}", &c)])).unwrap().status;
    assert_eq!(of("&oid={o}&status=B&sta=A,+b+,C"), Status::Approved);
    assert_eq!(of("&oid={o}&status=x&stt=y&stt=x"), Status::Trash);
    assert_eq!(of("&oid={o}&status=ОДОБРЕН&sta=одобрен"), Status::Approved);
    assert_eq!(of("&oid={o}&status=hold&sth=hold&stw=new"), Status::Hold);
    // The same word twice under one stage is not ambiguous.
    assert_eq!(
        of("&oid={o}&status=ok&sta=ok&sta=ok,fine"),
        Status::Approved
    );
}

#[test]
fn unsubstituted_optional_macros_are_ignored_and_listed() {
    let c = click();
    let d = run(
        &cpa(&[]),
        &request(
            "&oid={o}&status=approve&pay={payout}&cc={currency}&comment=[message]",
            &[("{o}", &c)],
        ),
    )
    .unwrap();
    assert_eq!((d.payout, d.currency, d.comment), (None, None, None));
    assert_eq!(d.unsubstituted, ["pay", "cc", "comment"]);
}

#[test]
fn default_dictionary() {
    let approve = [
        "approve",
        "approved",
        "accept",
        "accepted",
        "confirm",
        "confirmed",
        "sale",
        "paid",
        "payed",
        "submit",
        "lead_approve",
    ];
    let cancel = [
        "cancel",
        "canceled",
        "cancelled",
        "decline",
        "declined",
        "rejected",
        "refused",
        "aborted",
        "lead_cancel",
    ];
    let trash = [
        "trash",
        "trashed",
        "fake",
        "invalid",
        "spam",
        "double",
        "duplicate",
        "error",
        "fail",
        "reject",
    ];
    let wait = [
        "new",
        "wait",
        "waiting",
        "pending",
        "processing",
        "in_processing",
        "expect",
        "create",
        "created",
        "lead",
        "lead_add",
        "none",
    ];
    for (words, stage) in [
        (&approve[..], Stage::Approve),
        (&cancel, Stage::Cancel),
        (&trash, Stage::Trash),
        (&wait, Stage::Wait),
        (&["hold"], Stage::Hold),
    ] {
        for w in words {
            assert_eq!(default_stage(w), Some(stage), "{w}");
        }
    }
    assert_eq!(default_stage("Approved"), None, "the caller lower-cases");
    assert_eq!(default_stage("1"), None, "numbers are per network");
}

#[test]
fn identity_keys_are_escaped_and_bounded() {
    let net = cpa(&[]);
    let d = run(&net, &request("&eid=a|b%25c&status=approve", &[])).unwrap();
    assert_eq!(d.identity, format!("{INTEGRATION}|t|a%7Cb%25c|"));
    assert_eq!(d.transaction_id.as_deref(), Some("a|b%c"));
    let long = "L".repeat(1_000);
    let d = run(&net, &request(&format!("&eid={long}&status=approve"), &[])).unwrap();
    assert!(d.identity.len() <= MAX_IDENTITY_LEN);
    assert!(d.identity.starts_with(&format!("{INTEGRATION}|t|#")));
    let again = run(&net, &request(&format!("&eid={long}&status=cancel"), &[])).unwrap();
    assert_eq!(again.identity, d.identity, "stable");
    let other = run(&net, &request(&format!("&eid={long}X&status=approve"), &[])).unwrap();
    assert_ne!(other.identity, d.identity);
}

/// Every postback tail of the embedded catalogue, with realistic values, interprets as its event
/// says (literal words) or resolves every word its overrides and status map name.
#[test]
fn every_catalogue_tail_interprets() {
    let c = click();
    let mut checked = 0;
    for net in &Catalogue::embedded().networks {
        for pb in net.postbacks.iter().filter(|p| !p.tail.is_empty()) {
            let tail = pb.tail.trim_start_matches('&');
            let pairs: Vec<(&str, &str)> = tail
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let status_value = pairs.iter().find(|(k, _)| *k == "status").map(|(_, v)| *v);
            let mut words: Vec<String> = Vec::new();
            match status_value {
                Some(v) if is_macro(v) => {
                    words.extend(net.status_map.keys().cloned());
                    for (k, v) in &pairs {
                        if ["sta", "stc", "stt", "stw", "sth"].contains(k) {
                            words.extend(v.split(',').map(str::to_owned));
                        }
                    }
                    words.extend(["approved", "pending", "rejected"].map(String::from));
                }
                _ => words.push(String::new()),
            }
            for word in words {
                let params: Vec<(String, String)> = pairs
                    .iter()
                    .map(|(k, v)| {
                        let value = match (*k, is_macro(v)) {
                            (_, false) => v.to_string(),
                            ("oid" | "eid", true) => c.clone(),
                            ("status", true) => word.clone(),
                            ("pay", true) => "10.50".into(),
                            ("cc", true) => "usd".into(),
                            (_, true) => "text".into(),
                        };
                        (k.to_string(), value)
                    })
                    .collect();
                let d = run(net, &params)
                    .unwrap_or_else(|e| panic!("{} `{}` with `{word}`: {e}", net.slug, pb.tail));
                assert!(d.claims().is_some(), "{}", net.slug);
                if word.is_empty() {
                    let expected = match pb.event.as_str() {
                        "approve" | "upsell" => Status::Approved,
                        "cancel" | "duplicate" => Status::Rejected,
                        "trash" => Status::Trash,
                        "new" => Status::Pending,
                        other => panic!("{}: literal status on a `{other}` postback", net.slug),
                    };
                    assert_eq!(d.status, expected, "{} {}", net.slug, pb.tail);
                    assert_eq!(d.duplicate, pb.event == "duplicate", "{}", net.slug);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "{checked}");
}

/// A click ID issued before format 2 (message and creative inside it) still attributes.
#[test]
fn format_1_click_ids_are_verified_with_their_labels() {
    let labels = Labels::new("spring-sale", "banner_300x250");
    let old = v1::mint(&key(), OFFER, &labels, CLICK_TIME, [1; 8]).unwrap();
    let d = run(
        &cpa(&[]),
        &request("&oid={o}&status=approve", &[("{o}", &old)]),
    )
    .unwrap();
    let claims = d.claims().expect("verified");
    assert_eq!(claims.version, 1);
    assert_eq!(claims.labels(), Some(&labels));
    assert_eq!(claims.offer_id.to_string(), OFFER);
}

#[test]
fn test_marks_a_test_conversion_on_every_network() {
    let c = click();
    let tail = "&oid={sub1}&status=approve";
    let values = [("{sub1}", c.as_str())];
    assert!(!run(&cpa(&[]), &request(tail, &values)).unwrap().test);
    let marked = run(&cpa(&[]), &request(&format!("{tail}&test=1"), &values)).unwrap();
    assert!(marked.test);
    assert_eq!(marked.status, Status::Approved);
    // Only `1` marks it; anything else is an ordinary conversion.
    let other = run(&cpa(&[]), &request(&format!("{tail}&test=yes"), &values)).unwrap();
    assert!(!other.test);
}
