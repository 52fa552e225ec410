//! Every catalogue network, end to end through the real router on the embedded store: the URLs
//! `GET /integrations/{id}/postback-url` hands out, each documented tail fired with realistic
//! values (macros replaced as the network would), and the stored conversion checked through
//! `GET /conversions/{id}`. A network without a case fails the test.

mod pb_support;
mod support;

use affnet_core::Catalogue;
use affnet_core::catalogue::NetworkKind;
use affnet_core::status::Stage;
use affnet_store::SqliteStore;
use axum::http::StatusCode;
use pb_support::{CREATIVE, MESSAGE, OFFER, PUBLIC_URL, Pb, click, enc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

const COMMENT: &str = "Client confirmed by phone, delivery Friday";

/// Words a network sends in its `{status}` macro, with what they must become: each network's
/// status vocabulary, as its `status_map` in shared/core/catalogue/networks.toml states it.
fn words(slug: &str) -> Vec<(&'static str, &'static str)> {
    match slug {
        "zcpa" => vec![
            ("10", "pending"),
            ("11", "approved"),
            ("12", "rejected"),
            ("13", "trash"),
        ],
        "cpahouse" => vec![
            ("new", "pending"),
            ("in_processing", "pending"),
            ("accepted", "approved"),
            ("fake", "trash"),
        ],
        "drcash" | "traffury" => vec![
            ("pending", "pending"),
            ("hold", "pending"),
            ("Approved", "approved"),
            ("Cancel", "rejected"),
            ("Spam", "trash"),
            ("Duplicate", "trash"),
        ],
        "everad" | "rocketprofit" => vec![
            ("pending", "pending"),
            ("approved", "approved"),
            ("rejected", "rejected"),
            ("trash", "trash"),
        ],
        "inb-failsafe" | "inb-order" => vec![
            ("Processing", "pending"),
            ("approved", "approved"),
            ("cancelled", "rejected"),
        ],
        "leadbit" | "shakes" => vec![
            ("new", "pending"),
            ("confirm", "approved"),
            ("reject", "trash"),
            ("decline", "rejected"),
        ],
        "lagoon" => vec![
            ("hold", "pending"),
            ("submit", "approved"),
            ("decline", "rejected"),
            ("double", "trash"),
        ],
        "limonad" => vec![
            ("lead", "pending"),
            ("sale", "approved"),
            ("rejected", "rejected"),
            ("trash", "trash"),
        ],
        _ => vec![
            ("new", "pending"),
            ("approved", "approved"),
            ("cancel", "rejected"),
        ],
    }
}

/// Networks without a tail (statuses from their API): the words their postbacks use, where the
/// reference names them; the rest get their catalogue `status_map` plus `approved`.
fn untailed_words(slug: &str) -> Option<Vec<(&'static str, &'static str)>> {
    Some(match slug {
        "kma" => vec![
            ("P", "pending"),
            ("A", "approved"),
            ("D", "rejected"),
            ("F", "trash"),
        ],
        "aff1" => vec![
            ("lead_add", "pending"),
            ("lead_approve", "approved"),
            ("lead_cancel", "rejected"),
        ],
        "ctr" => vec![
            ("0", "pending"),
            ("3", "approved"),
            ("4", "rejected"),
            ("99", "rejected"),
        ],
        "adcombo" => vec![
            ("hold", "hold"),
            ("confirmed", "approved"),
            ("trash", "trash"),
        ],
        "terraleads" => vec![
            ("accept", "pending"),
            ("confirm", "approved"),
            ("reject", "rejected"),
            ("trash", "trash"),
        ],
        "whocpa" => vec![
            ("0", "pending"),
            ("1", "approved"),
            ("2", "rejected"),
            ("3", "trash"),
        ],
        _ => return None,
    })
}

fn literal(word: &str) -> &'static str {
    match word {
        "approve" | "accept" => "approved",
        "cancel" => "rejected",
        "trash" => "trash",
        other => panic!("no expectation for literal status `{other}`"),
    }
}

fn is_macro(v: &str) -> bool {
    (v.starts_with('{') && v.ends_with('}')) || (v.starts_with('[') && v.ends_with(']'))
}

/// Replaces the macros of a postback URL's query as the network would: our click ID in
/// `oid`/`eid`, `word` in `status`, a payout in `pay`, a currency in `cc`, a comment.
fn fill(url: &str, click: &str, word: &str) -> String {
    let (path, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|segment| match segment.split_once('=') {
            Some((name, value)) if is_macro(value) => {
                let v = match name {
                    "oid" | "eid" => click.to_string(),
                    "status" => enc(word),
                    "pay" => "12.50".into(),
                    "cc" => "eur".into(),
                    "comment" => enc(COMMENT),
                    other => panic!("no value for macro parameter `{other}` in {url}"),
                };
                format!("{name}={v}")
            }
            _ => segment.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

fn path_of(url: &str) -> &str {
    url.strip_prefix(PUBLIC_URL).expect("our public URL")
}

/// What one fired postback must leave behind.
struct Want<'a> {
    status: &'a str,
    raw: &'a str,
    payout: Option<&'a str>,
    currency: Option<&'a str>,
    comment: bool,
    reason: Option<u64>,
    duplicate: bool,
}

async fn fire_and_check(pb: &Pb, slug: &str, uri: &str, click: &str, want: Want<'_>) {
    let reply = pb.get(uri).await;
    assert_eq!(reply.status, StatusCode::OK, "{slug} {uri}: {}", reply.text);
    assert_eq!(reply.json["status"], "ok", "{slug} {uri}: {}", reply.text);
    assert_eq!(reply.json["outcome"], "created", "{slug} {uri}");
    let id = reply.json["conversion_id"].as_str().unwrap();
    let c = pb.conversion(id).await;
    let ctx = format!("{slug} {uri}: {c}");
    assert_eq!(c["status"], want.status, "{ctx}");
    assert_eq!(c["raw_status"], want.raw, "{ctx}");
    assert_eq!(c["payout"], json!(want.payout), "{ctx}");
    assert_eq!(c["currency"], json!(want.currency), "{ctx}");
    assert_eq!(
        c["comment"],
        if want.comment {
            json!(COMMENT)
        } else {
            Value::Null
        },
        "{ctx}"
    );
    assert_eq!(c["reason"], json!(want.reason), "{ctx}");
    assert_eq!(c["duplicate"], want.duplicate, "{ctx}");
    assert_eq!(c["matched"], true, "{ctx}");
    assert_eq!(c["click_id"], click, "{ctx}");
    assert_eq!(c["offer_id"], OFFER, "{ctx}");
    assert_eq!(c["message_id"], MESSAGE, "{ctx}");
    assert_eq!(c["creative_id"], CREATIVE, "{ctx}");
    assert_eq!(c["network"], slug, "{ctx}");
    assert_eq!(c["history"].as_array().unwrap().len(), 1, "{ctx}");
}

/// Fires a CPA postback URL (macros still in it) once per status word it needs.
async fn fire_url(pb: &Pb, slug: &str, url: &str) -> usize {
    let query = url.split_once('?').unwrap().1;
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|s| s.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
    };
    let status = param("status").expect("a status in every tail");
    let cases: Vec<(String, &str)> = if is_macro(&status) {
        words(slug)
            .into_iter()
            .map(|(w, s)| (w.to_string(), s))
            .collect()
    } else {
        vec![(status.clone(), literal(&status))]
    };
    let has_pay = param("pay").is_some();
    let has_comment = param("comment").is_some();
    let reason = param("reason").map(|r| r.parse::<u64>().unwrap());
    for (word, expected) in &cases {
        let click = click(&pb.state).await;
        let uri = fill(path_of(url), &click, word);
        let duplicate =
            reason == Some(7) || ["duplicate", "double"].contains(&word.to_lowercase().as_str());
        fire_and_check(
            pb,
            slug,
            &uri,
            &click,
            Want {
                status: expected,
                raw: word,
                payout: has_pay.then_some("12.5"),
                currency: has_pay.then_some("EUR"),
                comment: has_comment,
                reason,
                duplicate,
            },
        )
        .await;
    }
    cases.len()
}

async fn tune_cases(pb: &Pb, urls: &Value) -> usize {
    let url = urls["postback_url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{PUBLIC_URL}/postback/")), "{url}");
    for mac in [
        "aff_click_id={aff_click_id}",
        "transaction_id={transaction_id}",
        "goal_id={goal_id}",
        "offer_id={offer_id}",
        "payout={payout}",
        "currency={currency}",
        "sale_amount={sale_amount}",
    ] {
        assert!(url.contains(mac), "{mac} in {url}");
    }
    let mut fired = 0;
    for (click_macro, goal) in [("{aff_click_id}", "0"), ("{aff_sub}", "7")] {
        let click = click(&pb.state).await;
        let transaction = format!("102{}", &affnet_core::ids::random_hex(14));
        let uri = path_of(url)
            .replace(
                "aff_click_id={aff_click_id}",
                &format!("aff_sub={click_macro}"),
            )
            .replace(click_macro, &click)
            .replace("{transaction_id}", &transaction)
            .replace("{goal_id}", goal)
            .replace("{offer_id}", "1234")
            .replace("{payout}", "15.00000")
            .replace("{currency}", "USD")
            .replace("{sale_amount}", "89.90");
        let reply = pb.get(&uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text);
        let c = pb
            .conversion(reply.json["conversion_id"].as_str().unwrap())
            .await;
        assert_eq!(c["status"], "approved", "{c}");
        assert_eq!(c["raw_status"], "", "{c}");
        assert_eq!(c["payout"], "15", "{c}");
        assert_eq!(c["currency"], "USD", "{c}");
        assert_eq!(c["sale_amount"], "89.9", "{c}");
        assert_eq!(c["transaction_id"], transaction.as_str(), "{c}");
        assert_eq!(c["remote_offer_id"], "1234", "{c}");
        assert_eq!(
            c["goal_id"],
            if goal == "0" {
                Value::Null
            } else {
                json!(goal)
            }
        );
        assert_eq!(
            (c["matched"].clone(), c["offer_id"].clone()),
            (json!(true), json!(OFFER))
        );
        fired += 1;
    }
    fired
}

/// MetaCPA's tails have no leading `&`: pasted after a base URL without the trailing `&`, the
/// tail glues onto the id (`id=INT-TOKENoid=...`) and must still work.
async fn glued_cases(pb: &Pb, slug: &str, urls: &Value) -> usize {
    let base = urls["base_url"].as_str().unwrap().trim_end_matches('&');
    let mut fired = 0;
    for p in urls["postbacks"].as_array().unwrap() {
        let tail = p["tail"].as_str().unwrap();
        if tail.starts_with('&') || tail.is_empty() {
            continue;
        }
        let url = format!("{base}{tail}");
        assert!(url.contains("oid="), "{url}");
        let click = click(&pb.state).await;
        // The glued `oid` hides inside `id`: replace the macros as text.
        let uri = path_of(&url)
            .replace("{sub1}", &click)
            .replace("{payout}", "12.50")
            .replace("{currency}", "eur");
        let word = if tail.contains("status=approve") {
            "approve"
        } else {
            "cancel"
        };
        let has_pay = tail.contains("pay=");
        fire_and_check(
            pb,
            slug,
            &uri,
            &click,
            Want {
                status: literal(word),
                raw: word,
                payout: has_pay.then_some("12.5"),
                currency: has_pay.then_some("EUR"),
                comment: false,
                reason: None,
                duplicate: false,
            },
        )
        .await;
        fired += 1;
    }
    fired
}

/// AffbayAsia cannot take a URL: it builds the postback from protocol, domain, path and
/// parameters, which `postback-url` fills in.
async fn affbay_cases(pb: &Pb, urls: &Value) -> usize {
    let parts = &urls["parts"];
    assert_eq!(parts["protocol"], "HTTPS");
    assert_eq!(parts["domain"], "track.example.com");
    assert_eq!(parts["path"], "/api/sale/status.json");
    let params = parts["params"].as_array().unwrap();
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["id", "oid", "status", "comment"]);
    let id = params[0]["value"].as_str().unwrap();
    for (word, want) in [
        ("accept", "approved"),
        ("cancel", "rejected"),
        ("trash", "trash"),
    ] {
        let click = click(&pb.state).await;
        let uri = format!(
            "{}?id={id}&oid={click}&status={word}&comment={}",
            parts["path"].as_str().unwrap(),
            enc(COMMENT)
        );
        fire_and_check(
            pb,
            "affbay",
            &uri,
            &click,
            Want {
                status: want,
                raw: word,
                payout: None,
                currency: None,
                comment: true,
                reason: None,
                duplicate: false,
            },
        )
        .await;
    }
    3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_network_every_documented_tail() {
    let pb = Pb::new(Arc::new(SqliteStore::in_memory().unwrap()));
    let catalogue = Catalogue::embedded();
    let mut covered = BTreeSet::new();
    let mut total = 0;
    for network in &catalogue.networks {
        let slug = network.slug.as_str();
        let integration = pb.integration(slug, json!({})).await;
        let reply = pb
            .get(&format!("/integrations/{}/postback-url", integration.id))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{slug}: {}", reply.text);
        let urls = reply.json;
        let mut fired = 0;
        if network.kind == NetworkKind::Tune {
            fired += tune_cases(&pb, &urls).await;
        } else {
            let base = urls["base_url"].as_str().unwrap();
            assert_eq!(
                base,
                format!(
                    "{PUBLIC_URL}/api/sale/status.json?id={}-{}&",
                    integration.id, integration.postback_token
                )
            );
            let postbacks = urls["postbacks"].as_array().unwrap();
            assert_eq!(postbacks.len(), network.postbacks.len(), "{slug}");
            for (p, documented) in postbacks.iter().zip(&network.postbacks) {
                assert_eq!(p["tail"], documented.tail.as_str());
                match p["url"].as_str() {
                    Some(url) => fired += fire_url(&pb, slug, url).await,
                    None => assert!(documented.tail.is_empty() && !documented.note.is_empty()),
                }
            }
            fired += glued_cases(&pb, slug, &urls).await;
            if slug == "affbay" {
                fired += affbay_cases(&pb, &urls).await;
            }
            if network.postbacks.is_empty() && slug != "affbay" {
                // No tail: the statuses the network's postbacks use, on the base URL.
                let cases: Vec<(String, String)> = match untailed_words(slug) {
                    Some(w) => w.into_iter().map(|(a, b)| (a.into(), b.into())).collect(),
                    None => network
                        .status_map
                        .iter()
                        .map(|(w, s)| {
                            (w.clone(), Stage::parse(s).unwrap().status().as_str().into())
                        })
                        .chain([("approved".to_string(), "approved".to_string())])
                        .collect(),
                };
                for (word, want) in cases {
                    let click = click(&pb.state).await;
                    let uri = format!(
                        "{}oid={click}&status={}&pay=7.25&cc=USD",
                        path_of(base),
                        enc(&word)
                    );
                    fire_and_check(
                        &pb,
                        slug,
                        &uri,
                        &click,
                        Want {
                            status: &want,
                            raw: &word,
                            payout: Some("7.25"),
                            currency: Some("USD"),
                            comment: false,
                            reason: None,
                            duplicate: ["duplicate", "double"].contains(&word.as_str()),
                        },
                    )
                    .await;
                    fired += 1;
                }
            }
        }
        assert!(fired > 0, "network `{slug}` has no postback case");
        covered.insert(slug.to_string());
        total += fired;
    }
    let all: BTreeSet<String> = catalogue.networks.iter().map(|n| n.slug.clone()).collect();
    assert_eq!(covered, all);
    assert!(total >= 120, "only {total} postbacks fired");
}

/// The same postback on the two AlterCPA paths lands on one conversion: `comp` is `sale`.
#[tokio::test]
async fn comp_and_sale_are_the_same_endpoint() {
    let pb = Pb::new(Arc::new(SqliteStore::in_memory().unwrap()));
    let i = pb.integration("leadbit", json!({})).await;
    let click = click(&pb.state).await;
    let sale = pb
        .altercpa(&i, &format!("oid={click}&status=confirm"))
        .await;
    assert_eq!(sale.json["outcome"], "created", "{}", sale.text);
    let comp = pb
        .get(&format!(
            "/api/comp/status.json?id={}-{}&oid={click}&status=confirm",
            i.id, i.postback_token
        ))
        .await;
    assert_eq!(comp.status, StatusCode::OK);
    assert_eq!(comp.json["status"], "ok");
    assert_eq!(comp.json["outcome"], "duplicate");
    assert_eq!(comp.json["conversion_id"], sale.json["conversion_id"]);
    let logs = pb.logs(&i).await;
    assert_eq!(logs[0]["route"], "/api/comp/status.json");
    assert_eq!(logs[1]["route"], "/api/sale/status.json");
}
