//! `interpret()` on one CPA and one TUNE postback, click-ID verification included (the handle of
//! message and creative is resolved later, from the app's cache), and minting and verifying alone:
//! `cargo bench -p affnet-core --bench postback`.

use affnet_core::Catalogue;
use affnet_core::clickid::{ClickId, ClickKey, LabelHandle, Labels, v1};
use affnet_core::postback::interpret;
use criterion::{Criterion, black_box, criterion_group, criterion_main};

const INTEGRATION: &str = "01J9ZQ4TB1N8V6Q0R3K2W5X7YA";
const NETWORKS: &str = r#"
[[network]]
slug = "drcash"
name = "DrCash"
kind = "cpa"
[network.status_map]
hold = "wait"

[[network]]
slug = "tune"
name = "TUNE"
kind = "tune"
"#;

fn pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn bench(c: &mut Criterion) {
    let catalogue = toml::from_str::<Catalogue>(NETWORKS)
        .unwrap()
        .checked()
        .unwrap();
    let key =
        ClickKey::new(b"a bench click secret of 64 characters 0123456789abcdef0123456789").unwrap();
    let labels = Labels::new("spring-sale", "banner_300x250");
    let handle = LabelHandle::candidates(&labels).next().unwrap();
    let click = ClickId::mint(
        &key,
        "01J9ZQ5ZK6F3H2M8N4P7R1S0TV",
        handle,
        1_760_000_000,
        [1, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap();
    let click_v1 = v1::mint(
        &key,
        "01J9ZQ5ZK6F3H2M8N4P7R1S0TV",
        &labels,
        1_760_000_000,
        [1, 2, 3, 4, 5, 6, 7, 8],
    )
    .unwrap();

    let cpa = catalogue.network("drcash").unwrap();
    let cpa_params = pairs(&format!(
        "id={INTEGRATION}-3f9c2a7be41d08c65f1e9a2b7c4d3e8f0a1b2c3d&oid={click}&status=Approved\
         &stw=hold&pay=12.50&cc=usd&comment=ok"
    ));
    c.bench_function("interpret/cpa", |b| {
        b.iter(|| interpret(black_box(cpa), INTEGRATION, black_box(&cpa_params), &key).unwrap())
    });

    let tune = catalogue.network("tune").unwrap();
    let tune_params = pairs(&format!(
        "aff_click_id={click}&transaction_id=1027c887059b47bc69c699f45466b9&offer_id=26\
         &goal_id=0&payout=15.00000&currency=USD&sale_amount=89.90&aff_sub=blackfriday\
         &source=facebook&ip=203.0.113.7"
    ));
    c.bench_function("interpret/tune", |b| {
        b.iter(|| interpret(black_box(tune), INTEGRATION, black_box(&tune_params), &key).unwrap())
    });

    c.bench_function("clickid/verify", |b| {
        b.iter(|| ClickId::verify(&key, black_box(&click)).unwrap())
    });
    c.bench_function("clickid/verify_v1", |b| {
        b.iter(|| ClickId::verify(&key, black_box(&click_v1)).unwrap())
    });
    c.bench_function("clickid/mint", |b| {
        b.iter(|| {
            ClickId::mint(
                &key,
                black_box("01J9ZQ5ZK6F3H2M8N4P7R1S0TV"),
                black_box(handle),
                1_760_000_000,
                [1; 8],
            )
            .unwrap()
        })
    });
    // What a click with a pair this process has not cached computes before its one read.
    c.bench_function("clickid/label_handle", |b| {
        b.iter(|| LabelHandle::candidates(black_box(&labels)).next().unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
