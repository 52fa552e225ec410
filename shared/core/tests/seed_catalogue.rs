//! Seed conformance: the embedded network catalogue against the seed documents.
//!
//! `003_*.txt` (English) is the source of every text the catalogue copies: credential
//! descriptions, parameter meanings, postback tails, AffbayAsia's postback parts. `004_*.txt`
//! (its Russian original) also lists LeadReaktor; for it we check names, credential keys,
//! parameter keys and tail strings. The checker also runs in reverse: nothing in the catalogue may
//! be missing from both seeds.
//!
//! The seeds are read at run time from `$AFFNET_SEEDS_DIR`, or else from the verbatim copies in
//! `tests/seeds/` (so a clean clone checks itself). A missing seed fails the test: never skipped.

use affnet_core::catalogue::{Catalogue, Network, NetworkKind};
use std::path::PathBuf;

const EN_SEED: &str = "003_3607e5466890b13a.txt";
const RU_SEED: &str = "004_0683e3378ca1ead7.txt";

// ---------------------------------------------------------------------------------------------
// Reading the seeds

fn seeds_dir() -> PathBuf {
    match std::env::var_os("AFFNET_SEEDS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/seeds"),
    }
}

fn read_seed(file: &str) -> String {
    let path = seeds_dir().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the seed {} ({e}). The seed documents are required: set AFFNET_SEEDS_DIR \
             to the folder holding {EN_SEED} and {RU_SEED}, or restore shared/core/tests/seeds.",
            path.display()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The seed parser
//
// Both documents are a flat list of lines: a network heading, an optional paragraph of
// instructions (and TamCRM's `URL: ...` line), then sections opened by a header line ending in
// `:` ("Settings for the integration utility:", "Parameters used:", "Add postbacks ... tails:"),
// each holding bullets (`- ` in English, `• ` in Russian). Text copied from HTML lost or gained
// line breaks around inline code: a bullet can continue on the following lines (LeadRock's URL,
// every tail in the English copy), and AffbayAsia's "Additional parameters" are glued together.

/// The words that tell one language's sections apart.
struct Lang {
    settings: &'static str,
    params: &'static str,
    /// A header containing this opens the postback tails.
    tails_marker: &'static str,
    /// The header of AffbayAsia's postback parameters.
    part_params: &'static str,
    protocol: &'static str,
    path: &'static str,
    /// Seed credential label -> catalogue key.
    credential_keys: &'static [(&'static str, &'static str)],
}

const EN: Lang = Lang {
    settings: "Settings for the integration utility:",
    params: "Parameters used:",
    tails_marker: "\"tail",
    part_params: "Additional parameters:",
    protocol: "Protocol",
    path: "Path",
    credential_keys: &[
        ("API", "api_key"),
        ("User", "user_id"),
        ("Owner", "owner_id"),
        ("Key", "key"),
        ("Secret", "secret"),
        ("Flow", "flow_id"),
    ],
};

const RU: Lang = Lang {
    settings: "Настройки для утилиты интеграции:",
    params: "Используемые параметры:",
    tails_marker: "\"хвост",
    part_params: "Дополнительные параметры:",
    protocol: "Протокол",
    path: "Путь",
    credential_keys: &[
        ("API", "api_key"),
        ("Пользователь", "user_id"),
        ("Владелец", "owner_id"),
        ("Ключ", "key"),
        ("Секрет", "secret"),
        ("Поток", "flow_id"),
    ],
};

#[derive(Debug, Default, Clone)]
struct SeedNetwork {
    name: String,
    /// Instruction sentences between the heading and the first section.
    intro: Vec<String>,
    api_host: Option<String>,
    /// (label, description)
    credentials: Vec<(String, String)>,
    /// (key, meaning)
    params: Vec<(String, String)>,
    tails: Vec<SeedTail>,
    parts: Option<SeedParts>,
    /// `Label: value` bullets of other sections (AffbayAsia's Protocol/Domain/Path...).
    fields: Vec<(String, String)>,
    /// Lines the parser could not place; reported as mismatches so a changed seed never passes
    /// unread.
    unparsed: Vec<String>,
}

#[derive(Debug, Clone)]
struct SeedTail {
    label: String,
    /// Empty when the seed says to leave the postback blank.
    tail: String,
    /// The seed's words when it gives an instruction instead of a tail.
    note: String,
}

#[derive(Debug, Clone)]
struct SeedParts {
    protocol: Option<String>,
    path: Option<String>,
    /// The "Additional parameters" block with all whitespace removed: the English copy glues
    /// parameter names to the previous line, so only the character sequence is reliable.
    params_compact: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Intro,
    Settings,
    Params,
    Tails,
    PartParams,
    Other,
}

fn bullet(line: &str) -> Option<&str> {
    line.strip_prefix("- ").or_else(|| line.strip_prefix("• "))
}

fn is_section_header(line: &str) -> bool {
    bullet(line).is_none() && line.ends_with(':')
}

/// Free text: a sentence, or a `Name: value` line such as TamCRM's `URL: api.tamcrm.com`.
fn is_prose(line: &str) -> bool {
    bullet(line).is_none() && !line.ends_with(':') && (line.ends_with('.') || line.contains(": "))
}

fn looks_like_tail(text: &str) -> bool {
    text.contains('=')
}

fn compact(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Joins a continuation line to the text before it; lone punctuation sticks to it.
fn join(text: &mut String, more: &str) {
    if !text.is_empty() && !more.chars().all(|c| c.is_ascii_punctuation()) {
        text.push(' ');
    }
    text.push_str(more);
}

/// A heading is a short line (no sentence, no `:`, no tail) followed, past at most some prose,
/// by the settings or the parameters header.
fn is_heading(lines: &[&str], i: usize, lang: &Lang) -> bool {
    let line = lines[i];
    if bullet(line).is_some()
        || line.ends_with(':')
        || line.ends_with('.')
        || line.contains(": ")
        || looks_like_tail(line)
    {
        return false;
    }
    let next = lines[i + 1..].iter().find(|l| !is_prose(l));
    matches!(next, Some(&l) if l == lang.settings || l == lang.params)
}

fn parse_seed(text: &str, lang: &Lang) -> Vec<SeedNetwork> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let headings: Vec<usize> = (0..lines.len())
        .filter(|&i| is_heading(&lines, i, lang))
        .collect();
    headings
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = headings.get(n + 1).copied().unwrap_or(lines.len());
            parse_network(lines[start], &lines[start + 1..end], lang)
        })
        .collect()
}

fn parse_network(name: &str, lines: &[&str], lang: &Lang) -> SeedNetwork {
    let mut net = SeedNetwork {
        name: name.to_string(),
        ..SeedNetwork::default()
    };
    let mut section = Section::Intro;
    let mut part_lines: Option<Vec<&str>> = None;
    for &line in lines {
        if is_section_header(line) {
            section = if line == lang.settings {
                Section::Settings
            } else if line == lang.params {
                Section::Params
            } else if line.contains(lang.tails_marker) {
                Section::Tails
            } else if line == lang.part_params {
                part_lines.get_or_insert_with(Vec::new);
                Section::PartParams
            } else {
                Section::Other
            };
            continue;
        }
        let item = bullet(line);
        let placed = match (section, item) {
            (Section::Intro, None) => {
                match line.strip_prefix("URL:") {
                    Some(host) => net.api_host = Some(host.trim().to_string()),
                    None => net.intro.push(line.to_string()),
                }
                true
            }
            (Section::Settings, Some(item)) => match item.split_once(':') {
                Some((label, text)) => {
                    net.credentials
                        .push((label.trim().into(), text.trim().into()));
                    true
                }
                None => false,
            },
            (Section::Params, Some(item)) => match item.split_once(" - ") {
                Some((key, meaning)) => {
                    net.params.push((key.trim().into(), meaning.trim().into()));
                    true
                }
                None => false,
            },
            (Section::Params, None) => match net.params.last_mut() {
                Some((_, meaning)) => {
                    join(meaning, line);
                    true
                }
                None => false,
            },
            (Section::Tails, Some(item)) => match item.split_once(':') {
                Some((label, rest)) => {
                    let rest = rest.trim();
                    let (tail, note) = if rest.is_empty() || looks_like_tail(rest) {
                        (rest.to_string(), String::new())
                    } else {
                        (String::new(), rest.to_string())
                    };
                    net.tails.push(SeedTail {
                        label: label.trim().into(),
                        tail,
                        note,
                    });
                    true
                }
                None => false,
            },
            // English: the tail is on the line after its `- Label:` bullet.
            (Section::Tails, None) => match net.tails.last_mut() {
                Some(last) if last.tail.is_empty() && last.note.is_empty() => {
                    last.tail = line.to_string();
                    true
                }
                _ => false,
            },
            (Section::PartParams, _) => {
                part_lines.get_or_insert_with(Vec::new).push(line);
                true
            }
            (Section::Other, Some(item)) => {
                let (label, value) = item.split_once(':').unwrap_or((item, ""));
                net.fields.push((label.trim().into(), value.trim().into()));
                true
            }
            (Section::Other, None) => match net.fields.last_mut() {
                Some((_, value)) => {
                    join(value, line);
                    true
                }
                None => true, // free text under an unknown header: instructions, not data
            },
            _ => false,
        };
        if !placed {
            net.unparsed.push(line.to_string());
        }
    }
    net.parts = part_lines.map(|lines| {
        let field = |label: &str| {
            net.fields
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, v)| v.clone())
        };
        SeedParts {
            protocol: field(lang.protocol),
            path: field(lang.path),
            params_compact: compact(&lines.join("")),
        }
    });
    net
}

// ---------------------------------------------------------------------------------------------
// The comparison

/// The catalogue's normalised event for a seed tail label.
fn event_of(label: &str) -> Option<&'static str> {
    Some(match label {
        "Global" => "global",
        "New" => "new",
        "Approve" | "Confirmed" => "approve",
        "Upsell" => "upsell",
        "Cancel" | "Cancelled" => "cancel",
        "Trash" => "trash",
        "Duplicate" => "duplicate",
        _ => return None,
    })
}

fn credential_key(lang: &Lang, label: &str) -> Option<&'static str> {
    lang.credential_keys
        .iter()
        .find(|(l, _)| *l == label)
        .map(|(_, k)| *k)
}

fn find<'a>(seed: &'a [SeedNetwork], name: &str) -> Option<&'a SeedNetwork> {
    seed.iter().find(|n| n.name == name)
}

/// Every difference between the catalogue and the seeds, one human-readable line each.
fn mismatches(catalogue: &Catalogue, en: &[SeedNetwork], ru: &[SeedNetwork]) -> Vec<String> {
    let mut out = Vec::new();
    for seed in en {
        match catalogue.networks.iter().find(|n| n.name == seed.name) {
            None => out.push(format!(
                "EN seed network `{}` is not in the catalogue",
                seed.name
            )),
            Some(network) => check_en(network, seed, &mut out),
        }
    }
    for seed in ru {
        match catalogue.networks.iter().find(|n| n.name == seed.name) {
            None => out.push(format!(
                "RU seed network `{}` is not in the catalogue",
                seed.name
            )),
            Some(network) => check_ru(network, seed, &mut out),
        }
    }
    for network in catalogue
        .networks
        .iter()
        .filter(|n| n.kind == NetworkKind::Cpa)
    {
        check_reverse(
            network,
            find(en, &network.name),
            find(ru, &network.name),
            &mut out,
        );
    }
    out
}

fn check_en(network: &Network, seed: &SeedNetwork, out: &mut Vec<String>) {
    let name = &seed.name;
    let mut report = |what: String| out.push(format!("{name}: {what}"));
    for line in &seed.unparsed {
        report(format!("EN seed line not understood: {line:?}"));
    }
    if network.kind != NetworkKind::Cpa {
        report(format!("kind is {:?}, expected cpa", network.kind));
    }
    for sentence in &seed.intro {
        if !network.notes.contains(sentence.as_str()) {
            report(format!("notes lack the seed's instruction {sentence:?}"));
        }
    }
    if network.api_host != seed.api_host {
        report(format!(
            "api_host is {:?}, the seed says {:?}",
            network.api_host, seed.api_host
        ));
    }

    for (label, description) in &seed.credentials {
        let Some(key) = credential_key(&EN, label) else {
            report(format!("unknown credential label `{label}` in the EN seed"));
            continue;
        };
        let Some(field) = network.credentials.iter().find(|c| c.key == key) else {
            report(format!(
                "credential `{key}` ({label}: {description:?}) is missing"
            ));
            continue;
        };
        if field.label != *label {
            report(format!(
                "credential `{key}` label is {:?}, the seed says {label:?}",
                field.label
            ));
        }
        if field.description != *description {
            report(format!(
                "credential `{key}` description is {:?}, the seed says {description:?}",
                field.description
            ));
        }
        if !field.required {
            report(format!("credential `{key}` must be required"));
        }
        let secret = matches!(key, "api_key" | "key" | "secret");
        if field.secret != secret {
            report(format!(
                "credential `{key}` secret is {}, expected {secret}",
                field.secret
            ));
        }
        let auth = if !secret {
            "id"
        } else if description.contains("bearer") {
            "bearer"
        } else {
            "token"
        };
        if field.auth != auth {
            report(format!(
                "credential `{key}` auth is {:?}, expected {auth:?}",
                field.auth
            ));
        }
    }

    for (key, meaning) in &seed.params {
        let Some(param) = network.params.iter().find(|p| p.key == *key) else {
            report(format!("parameter `{key}` ({meaning:?}) is missing"));
            continue;
        };
        if param.meaning != *meaning {
            report(format!(
                "parameter `{key}` meaning is {:?}, the seed says {meaning:?}",
                param.meaning
            ));
        }
        let required = !(meaning.contains("optional") || meaning.contains("if required"));
        if param.required != required {
            report(format!(
                "parameter `{key}` required is {}, expected {required}",
                param.required
            ));
        }
    }

    for tail in &seed.tails {
        let Some(postback) = network.postbacks.iter().find(|p| p.label == tail.label) else {
            report(format!(
                "postback `{}` ({:?}) is missing",
                tail.label, tail.tail
            ));
            continue;
        };
        if postback.tail != tail.tail {
            report(format!(
                "postback `{}` tail is {:?}, the seed says {:?}",
                tail.label, postback.tail, tail.tail
            ));
        }
        match event_of(&tail.label) {
            None => report(format!(
                "unknown postback label `{}` in the EN seed",
                tail.label
            )),
            Some(event) if postback.event != event => report(format!(
                "postback `{}` event is {:?}, expected {event:?}",
                tail.label, postback.event
            )),
            Some(_) => {}
        }
        if !tail.note.is_empty() && postback.note != tail.note {
            report(format!(
                "postback `{}` note is {:?}, the seed says {:?}",
                tail.label, postback.note, tail.note
            ));
        }
    }

    match (&seed.parts, &network.postback_parts) {
        (None, None) => {}
        (Some(_), None) => {
            report("the seed builds the postback from parts; postback_parts is missing".into())
        }
        (None, Some(_)) => report("postback_parts is set but the seed has none".into()),
        (Some(seed_parts), Some(parts)) => {
            if seed_parts.protocol.as_deref() != Some(parts.protocol.as_str()) {
                report(format!(
                    "postback_parts protocol is {:?}, the seed says {:?}",
                    parts.protocol, seed_parts.protocol
                ));
            }
            if seed_parts.path.as_deref() != Some(parts.path.as_str()) {
                report(format!(
                    "postback_parts path is {:?}, the seed says {:?}",
                    parts.path, seed_parts.path
                ));
            }
            let ours: String = parts
                .params
                .iter()
                .map(|p| compact(&format!("{}-{}", p.name, p.value)))
                .collect();
            if ours != seed_parts.params_compact {
                report(format!(
                    "postback_parts params differ from the seed (whitespace ignored): ours {ours:?}, seed {:?}",
                    seed_parts.params_compact
                ));
            }
        }
    }
}

fn check_ru(network: &Network, seed: &SeedNetwork, out: &mut Vec<String>) {
    let name = &seed.name;
    let mut report = |what: String| out.push(format!("{name}: {what}"));
    for line in &seed.unparsed {
        report(format!("RU seed line not understood: {line:?}"));
    }
    for (label, _) in &seed.credentials {
        match credential_key(&RU, label) {
            None => report(format!("unknown credential label `{label}` in the RU seed")),
            Some(key) if !network.credentials.iter().any(|c| c.key == key) => {
                report(format!("credential `{key}` (RU {label}) is missing"))
            }
            Some(_) => {}
        }
    }
    for (key, _) in &seed.params {
        if !network.params.iter().any(|p| p.key == *key) {
            report(format!("parameter `{key}` (RU seed) is missing"));
        }
    }
    for tail in &seed.tails {
        if !network.postbacks.iter().any(|p| p.tail == tail.tail) {
            report(format!(
                "RU tail {:?} ({}) is missing",
                tail.tail, tail.label
            ));
        }
    }
    if let (Some(seed_parts), Some(parts)) = (&seed.parts, &network.postback_parts)
        && seed_parts.path.as_deref() != Some(parts.path.as_str())
    {
        report(format!(
            "postback_parts path is {:?}, the RU seed says {:?}",
            parts.path, seed_parts.path
        ));
    }
}

/// Nothing in the catalogue that neither seed has.
fn check_reverse(
    network: &Network,
    en: Option<&SeedNetwork>,
    ru: Option<&SeedNetwork>,
    out: &mut Vec<String>,
) {
    let name = &network.name;
    if en.is_none() && ru.is_none() {
        out.push(format!(
            "catalogue network `{}` ({name}) is in neither seed",
            network.slug
        ));
        return;
    }
    let sources = [(en, &EN), (ru, &RU)];
    let seeds = || {
        sources
            .iter()
            .filter_map(|(seed, lang)| seed.map(|s| (s, *lang)))
    };
    for field in &network.credentials {
        let known = seeds().any(|(seed, lang)| {
            seed.credentials
                .iter()
                .any(|(label, _)| credential_key(lang, label) == Some(field.key.as_str()))
        });
        if !known {
            out.push(format!(
                "{name}: credential `{}` is in neither seed",
                field.key
            ));
        }
    }
    for param in &network.params {
        if !seeds().any(|(seed, _)| seed.params.iter().any(|(key, _)| *key == param.key)) {
            out.push(format!(
                "{name}: parameter `{}` is in neither seed",
                param.key
            ));
        }
    }
    for postback in &network.postbacks {
        if !seeds().any(|(seed, _)| seed.tails.iter().any(|t| t.tail == postback.tail)) {
            out.push(format!(
                "{name}: postback `{}` tail {:?} is in neither seed",
                postback.label, postback.tail
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

fn seeds() -> (Vec<SeedNetwork>, Vec<SeedNetwork>) {
    (
        parse_seed(&read_seed(EN_SEED), &EN),
        parse_seed(&read_seed(RU_SEED), &RU),
    )
}

#[test]
fn catalogue_matches_the_seeds() {
    let (en, ru) = seeds();
    let problems = mismatches(Catalogue::embedded(), &en, &ru);
    assert!(
        problems.is_empty(),
        "{} difference(s) between the catalogue and the seeds:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Every network section opens with exactly one parameters header, so the parser found every
/// heading if it found as many networks as there are such headers.
#[test]
fn the_parser_finds_every_network_of_both_seeds() {
    for (file, lang) in [(EN_SEED, &EN), (RU_SEED, &RU)] {
        let text = read_seed(file);
        let networks = parse_seed(&text, lang);
        let sections = text.lines().filter(|l| l.trim() == lang.params).count();
        assert_eq!(
            networks.len(),
            sections,
            "{file}: networks found vs parameter sections"
        );
        for network in &networks {
            assert!(
                !network.params.is_empty(),
                "{file}: {} has no parameters",
                network.name
            );
            assert!(network.unparsed.is_empty(), "{file}: {network:?}");
        }
    }
    let (en, ru) = seeds();
    let ru_only: Vec<&str> = ru
        .iter()
        .filter(|n| find(&en, &n.name).is_none())
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(ru_only, ["LeadReaktor"]);
    assert!(en.iter().all(|n| find(&ru, &n.name).is_some()));

    let leadrock = find(&en, "LeadRock").unwrap();
    assert_eq!(
        leadrock.params[0].1,
        "full stream URL like https://leadrock.com/URL-XXXXX-XXXXX."
    );
    assert_eq!(leadrock.tails[0].tail, "");
    assert_eq!(leadrock.tails[0].note, "leave the first postback blank");
    let affbay = find(&en, "AffbayAsia").unwrap();
    assert!(affbay.tails.is_empty());
    let parts = affbay.parts.as_ref().unwrap();
    assert_eq!(parts.path.as_deref(), Some("/api/sale/status.json"));
    assert!(
        parts.params_compact.starts_with("id-staticvalue:123-abcde"),
        "{parts:?}"
    );
    assert_eq!(
        find(&en, "Tamyonetim / TamCRM")
            .unwrap()
            .api_host
            .as_deref(),
        Some("api.tamcrm.com")
    );
    assert_eq!(find(&ru, "LeadRock").unwrap().tails[0].tail, "");
}

/// The checker is not vacuous: each tampering of the catalogue is reported.
#[test]
fn the_checker_reports_a_tampered_catalogue() {
    let (en, ru) = seeds();
    let tampered = |change: &dyn Fn(&mut Catalogue)| {
        let mut catalogue = Catalogue::embedded().clone();
        change(&mut catalogue);
        mismatches(&catalogue, &en, &ru)
    };
    let network = |c: &mut Catalogue, slug: &str| -> usize {
        c.networks.iter().position(|n| n.slug == slug).unwrap()
    };

    let problems = tampered(&|c| {
        let i = network(c, "leadbit");
        c.networks[i].postbacks[0].tail = "&oid={sub2}&status={status}".into();
    });
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("LeadBit: postback `Global` tail")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("RU tail \"&oid={sub1}&status={status}\""))
    );
    assert!(problems.iter().any(|p| p.contains("is in neither seed")));

    let problems = tampered(&|c| {
        let i = network(c, "apileads");
        c.networks[i].credentials.retain(|f| f.key != "user_id");
    });
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("ApiLeads: credential `user_id`") && p.contains("missing")),
        "{problems:#?}"
    );

    let problems = tampered(&|c| c.networks.retain(|n| n.slug != "kma"));
    assert!(problems.contains(&"EN seed network `KMA` is not in the catalogue".to_string()));
    assert!(problems.contains(&"RU seed network `KMA` is not in the catalogue".to_string()));

    let problems = tampered(&|c| {
        let i = network(c, "leadreaktor");
        c.networks.remove(i);
    });
    assert_eq!(
        problems,
        ["RU seed network `LeadReaktor` is not in the catalogue"]
    );

    let problems = tampered(&|c| {
        let mut extra = c.network("kma").unwrap().clone();
        extra.slug = "madeup".into();
        extra.name = "MadeUp".into();
        c.networks.push(extra);
    });
    assert_eq!(
        problems,
        ["catalogue network `madeup` (MadeUp) is in neither seed"]
    );

    let problems = tampered(&|c| {
        let i = network(c, "affbay");
        c.networks[i].postback_parts.as_mut().unwrap().params[1].value = "Click ID".into();
    });
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("AffbayAsia: postback_parts params")),
        "{problems:#?}"
    );

    let problems = tampered(&|c| {
        let i = network(c, "omnicpa");
        c.networks[i].params.retain(|p| p.key != "omnilang");
        c.networks[i].credentials[0].description = "token.".into();
    });
    assert_eq!(problems.len(), 2, "{problems:#?}");
}
