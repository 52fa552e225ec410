//! Each Lambda binary links its own function's handlers and not the others': a binary names its
//! function by a type (`affnet_app::routes::bin`), so its route table is a constant and the
//! linker drops every other table's handlers. When the function was a value read at run time,
//! the postback binary carried TUNE's report calls and was as large as offer-sync's.
//!
//! Markers are text only one part of the code holds: the TUNE report method that only
//! reconciliation calls (its runs are served by offer-sync), and a field the lead adapters fill
//! (`affnet-networks`: the lead function, the lead jobs in offer-sync, CPA connection tests, and
//! `GET /networks` in api, which reads their API facts).

mod lambda_harness;

use std::path::Path;

/// `Report::getConversions`, in `affnet_tune::client` (reconciliation, in offer-sync).
const TUNE_REPORTS: &[u8] = b"getConversions";
/// A field the lead adapters fill (`affnet_networks::fields`).
const LEAD_APIS: &[u8] = b"country_lower";

fn holds(binary: &Path, marker: &[u8]) -> bool {
    let bytes = std::fs::read(binary).unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    bytes.windows(marker.len()).any(|w| w == marker)
}

#[test]
fn each_function_links_only_its_own_handlers() {
    let dir = lambda_harness::function_binaries();
    let has = |function: &str, marker: &[u8]| holds(&dir.join(function), marker);
    // The markers are found where their code runs, so their absence elsewhere means something.
    assert!(
        has("offer-sync", TUNE_REPORTS),
        "offer-sync lost reconciliation"
    );
    assert!(has("lead", LEAD_APIS), "lead lost its adapters");
    for function in [
        "api",
        "click",
        "postback",
        "connection-test",
        "lead",
        "events",
    ] {
        assert!(
            !has(function, TUNE_REPORTS),
            "{function} links TUNE's report calls"
        );
    }
    for function in ["click", "postback", "events"] {
        assert!(
            !has(function, LEAD_APIS),
            "{function} links the lead adapters"
        );
    }
}
