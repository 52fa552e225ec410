//! `template.yaml` against the rest of the workspace: the function crates, the route registry
//! (`affnet_app::routes::ROUTES`), the table shape of `affnet_store::port` and the security rules
//! of the deployment (IAM on management routes, least-privilege DynamoDB policies).
//!
//! Each test gathers every problem it finds and fails once with all of them listed.

use affnet_app::routes::{self, Access, ROUTES};
use affnet_app::schedule_aws;
use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The events function and its stream, bus, queue and secret (tests/template_parts/events.rs).
#[path = "template_parts/events.rs"]
mod events;

// ------------------------------------------------------------------ loading

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

/// The template with CloudFormation short tags rewritten to their long forms.
/// `AFFNET_TEMPLATE=<path>` checks another file (to try a change before making it).
fn template() -> Value {
    let path = std::env::var_os("AFFNET_TEMPLATE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("template.yaml"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let raw: Value = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    long_form(raw)
}

/// serde_yaml_ng keeps a tag such as `!Ref Table` as `Value::Tagged`; rewrite each into the long
/// form CloudFormation also accepts (`{Ref: Table}`, `{Fn::GetAtt: [Table, Arn]}`,
/// `{Fn::Sub: ...}`) so the checks below see one shape whichever form the template uses.
fn long_form(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = long_form(tagged.value);
            let (key, inner) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((resource, attribute)) => Value::Sequence(vec![
                                Value::String(resource.into()),
                                Value::String(attribute.into()),
                            ]),
                            None => Value::String(s),
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), inner)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut map = Mapping::new();
            map.insert(Value::String(key), inner);
            Value::Mapping(map)
        }
        Value::Mapping(map) => Value::Mapping(
            map.into_iter()
                .map(|(k, v)| (long_form(k), long_form(v)))
                .collect(),
        ),
        Value::Sequence(seq) => Value::Sequence(seq.into_iter().map(long_form).collect()),
        other => other,
    }
}

// ------------------------------------------------------------------ small accessors

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

fn get_path<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| get(v, key))
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    get_path(value, path).and_then(Value::as_str)
}

fn bool_at(value: &Value, path: &[&str]) -> Option<bool> {
    get_path(value, path).and_then(Value::as_bool)
}

/// A string, or each string of a list (IAM `Action` and `Resource` take both).
fn one_or_many(value: Option<&Value>) -> Vec<&Value> {
    match value {
        Some(Value::Sequence(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => vec![],
    }
}

fn resources(template: &Value) -> Vec<(&str, &Value)> {
    get(template, "Resources")
        .and_then(Value::as_mapping)
        .expect("template.yaml has no Resources")
        .iter()
        .map(|(id, resource)| (id.as_str().expect("resource ids are strings"), resource))
        .collect()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| str_at(r, &["Type"]) == Some(kind))
        .collect()
}

fn the_one<'a>(template: &'a Value, kind: &str) -> (&'a str, &'a Value) {
    let found = resources_of_type(template, kind);
    assert_eq!(
        found.len(),
        1,
        "template.yaml must have exactly one {kind}, found {:?}",
        found.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    found[0]
}

fn refs(value: &Value, logical_id: &str) -> bool {
    str_at(value, &["Ref"]) == Some(logical_id)
}

fn fail_if_any(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "template.yaml: {what}:\n  - {}",
        problems.join("\n  - ")
    );
}

// ------------------------------------------------------------------ functions

/// SAM merges `Globals.Function` into each function: maps merge key by key, lists are
/// concatenated (globals first) and anything else set on the function wins.
fn merge_globals(global: &Value, own: &Value) -> Value {
    match (global, own) {
        (Value::Mapping(g), Value::Mapping(o)) => {
            let mut merged = g.clone();
            for (key, value) in o {
                let value = match g.get(key) {
                    Some(gv) => merge_globals(gv, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Mapping(merged)
        }
        (Value::Sequence(g), Value::Sequence(o)) => {
            Value::Sequence(g.iter().chain(o.iter()).cloned().collect())
        }
        (_, own) => own.clone(),
    }
}

struct Function<'a> {
    logical_id: &'a str,
    resource: &'a Value,
    /// Properties with `Globals.Function` applied.
    properties: Value,
    /// `Metadata.BuildProperties.Binary`.
    binary: String,
}

impl Function<'_> {
    fn events(&self) -> Vec<(&str, &Value)> {
        get(&self.properties, "Events")
            .and_then(Value::as_mapping)
            .map(|events| {
                events
                    .iter()
                    .map(|(name, event)| (name.as_str().unwrap_or("?"), event))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `(METHOD, path, event name, event)` of every HttpApi event.
    fn http_routes(&self) -> Vec<(String, String, &str, &Value)> {
        self.events()
            .into_iter()
            .filter(|(_, event)| str_at(event, &["Type"]) == Some("HttpApi"))
            .map(|(name, event)| {
                let method = str_at(event, &["Properties", "Method"])
                    .unwrap_or("<no Method>")
                    .to_ascii_uppercase();
                let path = str_at(event, &["Properties", "Path"])
                    .unwrap_or("<no Path>")
                    .to_string();
                (method, path, name, event)
            })
            .collect()
    }
}

fn functions(template: &Value) -> Vec<Function<'_>> {
    let globals = get_path(template, &["Globals", "Function"])
        .cloned()
        .unwrap_or(Value::Mapping(Mapping::new()));
    resources_of_type(template, "AWS::Serverless::Function")
        .into_iter()
        .map(|(logical_id, resource)| {
            let own = get(resource, "Properties")
                .cloned()
                .unwrap_or(Value::Mapping(Mapping::new()));
            let binary = str_at(resource, &["Metadata", "BuildProperties", "Binary"])
                .unwrap_or_else(|| {
                    panic!("{logical_id}: Metadata.BuildProperties.Binary names no binary")
                })
                .to_string();
            Function {
                logical_id,
                resource,
                properties: merge_globals(&globals, &own),
                binary,
            }
        })
        .collect()
}

/// `functions/<dir>` → the single `[[bin]]` name of its Cargo.toml.
fn function_crates() -> BTreeMap<String, Vec<String>> {
    let root = workspace_root();
    let manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(root.join("Cargo.toml")).expect("read the root Cargo.toml"),
    )
    .expect("parse the root Cargo.toml");
    let members: BTreeSet<&str> = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list")
        .iter()
        .filter_map(|m| m.as_str())
        .collect();

    let mut crates = BTreeMap::new();
    let dir = root.join("functions");
    for entry in std::fs::read_dir(&dir).expect("read functions/") {
        let path = entry.expect("list functions/").path();
        let cargo = path.join("Cargo.toml");
        if !cargo.is_file() {
            continue;
        }
        let folder = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            members.contains(format!("functions/{folder}").as_str()),
            "functions/{folder} is not a workspace member"
        );
        let manifest: toml::Table =
            toml::from_str(&std::fs::read_to_string(&cargo).expect("read a function Cargo.toml"))
                .unwrap_or_else(|e| panic!("parse {}: {e}", cargo.display()));
        let bins = manifest
            .get("bin")
            .and_then(|b| b.as_array())
            .map(|bins| {
                bins.iter()
                    .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        crates.insert(folder, bins);
    }
    crates
}

#[test]
fn every_function_crate_has_a_function_resource_and_back() {
    let template = template();
    let crates = function_crates();
    let mut problems = vec![];

    for (folder, bins) in &crates {
        if bins.as_slice() != [folder.clone()] {
            problems.push(format!(
                "functions/{folder}/Cargo.toml must declare exactly one [[bin]] named `{folder}`, \
                 it declares {bins:?}"
            ));
        }
    }
    let binaries: BTreeSet<&str> = crates.values().flatten().map(String::as_str).collect();

    let functions = functions(&template);
    let mut seen = BTreeMap::new();
    for f in &functions {
        if let Some(other) = seen.insert(f.binary.as_str(), f.logical_id) {
            problems.push(format!(
                "{} and {other} both build the binary `{}`",
                f.logical_id, f.binary
            ));
        }
        if !binaries.contains(f.binary.as_str()) {
            problems.push(format!(
                "{} builds the binary `{}`, which no functions/*/Cargo.toml declares (binaries: {binaries:?})",
                f.logical_id, f.binary
            ));
        }
    }
    for binary in &binaries {
        if !seen.contains_key(binary) {
            problems.push(format!(
                "the function crate with binary `{binary}` has no AWS::Serverless::Function in template.yaml"
            ));
        }
    }

    let registry: BTreeSet<&str> = routes::Function::ALL.iter().map(|f| f.name()).collect();
    let folders: BTreeSet<&str> = crates.keys().map(String::as_str).collect();
    if registry != folders {
        problems.push(format!(
            "affnet_app::routes::Function::ALL {registry:?} differs from the crates under functions/ {folders:?}"
        ));
    }
    fail_if_any("functions vs. crates", problems);
}

#[test]
fn functions_are_arm64_al2023_cargo_lambda_with_json_logs() {
    let template = template();
    let (table_id, _) = the_one(&template, "AWS::DynamoDB::Table");
    let mut problems = vec![];

    for f in functions(&template) {
        let id = f.logical_id;
        let p = &f.properties;
        let mut expect = |what: &str, ok: bool, got: &dyn std::fmt::Debug| {
            if !ok {
                problems.push(format!("{id}: {what}, got {got:?}"));
            }
        };
        let runtime = str_at(p, &["Runtime"]);
        expect(
            "Runtime must be provided.al2023",
            runtime == Some("provided.al2023"),
            &runtime,
        );
        let arch: Vec<_> = one_or_many(get(p, "Architectures"))
            .into_iter()
            .map(|a| a.as_str())
            .collect();
        expect(
            "Architectures must be exactly [arm64]",
            arch == [Some("arm64")],
            &arch,
        );
        let handler = str_at(p, &["Handler"]);
        expect(
            "Handler must be bootstrap",
            handler == Some("bootstrap"),
            &handler,
        );
        let code_uri = str_at(p, &["CodeUri"]);
        expect(
            "CodeUri must be the workspace root `.`",
            matches!(code_uri, Some("." | "./")),
            &code_uri,
        );
        let build = str_at(f.resource, &["Metadata", "BuildMethod"]);
        expect(
            "Metadata.BuildMethod must be rust-cargolambda",
            build == Some("rust-cargolambda"),
            &build,
        );
        let log_format = str_at(p, &["LoggingConfig", "LogFormat"]);
        expect(
            "LoggingConfig.LogFormat must be JSON",
            log_format == Some("JSON"),
            &log_format,
        );

        let vars = get_path(p, &["Environment", "Variables"]);
        let var = |name: &str| vars.and_then(|v| get(v, name));
        expect(
            "AFFNET_TABLE must be !Ref of the table",
            var("AFFNET_TABLE").is_some_and(|v| refs(v, table_id)),
            &var("AFFNET_TABLE"),
        );
        expect(
            "RUST_LOG must be set",
            var("RUST_LOG").is_some(),
            &var("RUST_LOG"),
        );
    }
    fail_if_any("function settings", problems);
}

/// Variables no Lambda may have: the admin token (IAM authorizes management routes on AWS, and
/// a token there would open a second way in), the click secret itself (functions read it from
/// Secrets Manager, see `the_click_secret_is_read_from_secrets_manager`) and `AFFNET_STORE`,
/// which nothing reads.
const FORBIDDEN_VARIABLES: &[&str] = &["AFFNET_ADMIN_TOKEN", "AFFNET_CLICK_SECRET", "AFFNET_STORE"];

#[test]
fn no_function_has_the_admin_token_or_a_plain_secret_in_its_environment() {
    let template = template();
    let mut problems = vec![];
    let globals = get_path(
        &template,
        &["Globals", "Function", "Environment", "Variables"],
    );
    for name in FORBIDDEN_VARIABLES {
        if globals.and_then(|v| get(v, name)).is_some() {
            problems.push(format!("Globals.Function sets {name}"));
        }
    }
    for f in functions(&template) {
        let vars = get_path(&f.properties, &["Environment", "Variables"]);
        for name in FORBIDDEN_VARIABLES {
            if vars.and_then(|v| get(v, name)).is_some() {
                problems.push(format!("{} sets {name}", f.logical_id));
            }
        }
    }
    // Nor anything else in the template (a raw AWS::Lambda::Function, a parameter default).
    let text = serde_yaml_ng::to_string(get(&template, "Resources").expect("Resources"))
        .unwrap_or_default();
    if text.contains("AFFNET_ADMIN_TOKEN") {
        problems.push("a resource mentions AFFNET_ADMIN_TOKEN".into());
    }
    fail_if_any("function environments", problems);
}

// ------------------------------------------------------------------ routes and auth

#[test]
fn each_function_has_exactly_its_routes() {
    let template = template();
    let (api_id, _) = the_one(&template, "AWS::Serverless::HttpApi");
    let mut problems = vec![];
    let mut declared: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();

    for f in functions(&template) {
        for (name, event) in f.events() {
            let kind = str_at(event, &["Type"]).unwrap_or("<no Type>");
            if kind == "Api" {
                problems.push(format!(
                    "{}.{name}: REST API (`Type: Api`) events are not allowed; routes go on the HttpApi",
                    f.logical_id
                ));
            }
        }
        let mut ours = BTreeSet::new();
        for (method, path, name, event) in f.http_routes() {
            let api = get_path(event, &["Properties", "ApiId"]);
            if !api.is_some_and(|a| refs(a, api_id)) {
                problems.push(format!(
                    "{}.{name} ({method} {path}): ApiId must be !Ref {api_id} (without it SAM creates \
                     a second, implicit API without IAM), got {api:?}",
                    f.logical_id
                ));
            }
            declared
                .entry((method.clone(), path.clone()))
                .or_default()
                .push(format!("{}.{name}", f.logical_id));
            ours.insert((method, path));
        }
        let expected: BTreeSet<(String, String)> = routes::Function::from_name(&f.binary)
            .into_iter()
            .flat_map(routes::of_function)
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        for (method, path) in expected.difference(&ours) {
            problems.push(format!(
                "{} (binary `{}`) lacks the HttpApi event for {method} {path} listed in ROUTES",
                f.logical_id, f.binary
            ));
        }
        for (method, path) in ours.difference(&expected) {
            problems.push(format!(
                "{} (binary `{}`) has an HttpApi event for {method} {path}, which ROUTES does not give to `{}`",
                f.logical_id, f.binary, f.binary
            ));
        }
    }

    for ((method, path), events) in &declared {
        if events.len() > 1 {
            problems.push(format!(
                "{method} {path} is declared more than once: {events:?}"
            ));
        }
    }
    for route in ROUTES {
        if !declared.contains_key(&(route.method.to_string(), route.path.to_string())) {
            problems.push(format!(
                "ROUTES has {} {} (function `{}`), but no function in template.yaml serves it",
                route.method, route.path, route.function
            ));
        }
    }
    fail_if_any("routes vs. affnet_app::routes::ROUTES", problems);
}

#[test]
fn admin_routes_need_iam_and_public_routes_are_open() {
    let template = template();
    let (api_id, api) = the_one(&template, "AWS::Serverless::HttpApi");
    let mut problems = vec![];

    if bool_at(api, &["Properties", "Auth", "EnableIamAuthorizer"]) != Some(true) {
        problems.push(format!("{api_id}: Auth.EnableIamAuthorizer must be true"));
    }
    if str_at(api, &["Properties", "Auth", "DefaultAuthorizer"]) != Some("AWS_IAM") {
        problems.push(format!(
            "{api_id}: Auth.DefaultAuthorizer must be AWS_IAM, so a route nobody marked is closed"
        ));
    }
    for key in ["DefinitionBody", "DefinitionUri"] {
        if get_path(api, &["Properties", key]).is_some() {
            problems.push(format!(
                "{api_id}: {key} would declare routes outside the function events; use events only"
            ));
        }
    }

    for f in functions(&template) {
        for (method, path, name, event) in f.http_routes() {
            let Some(route) = ROUTES.iter().find(|r| r.method == method && r.path == path) else {
                continue; // reported by each_function_has_exactly_its_routes
            };
            let authorizer = str_at(event, &["Properties", "Auth", "Authorizer"]);
            let (wanted, why) = match route.access {
                Access::Admin => ("AWS_IAM", "a management route"),
                Access::Public => ("NONE", "a public route"),
            };
            if authorizer != Some(wanted) {
                problems.push(format!(
                    "{}.{name} ({method} {path}) is {why}: Auth.Authorizer must be {wanted}, got {authorizer:?}",
                    f.logical_id
                ));
            }
        }
    }
    fail_if_any("authorization", problems);
}

// ------------------------------------------------------------------ table

#[test]
fn the_table_has_the_store_shape_and_is_protected() {
    let template = template();
    let (id, table) = the_one(&template, "AWS::DynamoDB::Table");
    let p = get(table, "Properties").expect("the table has Properties");
    let mut problems = vec![];
    let mut expect = |what: &str, ok: bool| {
        if !ok {
            problems.push(format!("{id}: {what}"));
        }
    };

    expect(
        "BillingMode must be PAY_PER_REQUEST",
        str_at(p, &["BillingMode"]) == Some("PAY_PER_REQUEST"),
    );
    expect(
        "KeySchema must be pk (HASH), sk (RANGE)",
        key_schema(get(p, "KeySchema")) == [("pk", "HASH"), ("sk", "RANGE")],
    );
    let attributes: BTreeMap<&str, &str> = one_or_many(get(p, "AttributeDefinitions"))
        .into_iter()
        .filter_map(|a| {
            Some((
                str_at(a, &["AttributeName"])?,
                str_at(a, &["AttributeType"])?,
            ))
        })
        .collect();
    let gsis = one_or_many(get(p, "GlobalSecondaryIndexes"));
    expect("at most one global secondary index", gsis.len() <= 1);
    let mut key_attributes = BTreeSet::from(["pk", "sk"]);
    for gsi in &gsis {
        expect(
            "the index must be gsi1 on gsi1pk (HASH), gsi1sk (RANGE), projecting ALL",
            str_at(gsi, &["IndexName"]) == Some("gsi1")
                && key_schema(get(gsi, "KeySchema")) == [("gsi1pk", "HASH"), ("gsi1sk", "RANGE")]
                && str_at(gsi, &["Projection", "ProjectionType"]) == Some("ALL"),
        );
        key_attributes.extend(["gsi1pk", "gsi1sk"]);
    }
    expect(
        "AttributeDefinitions must define exactly the key attributes, all of type S",
        attributes.len() == key_attributes.len()
            && key_attributes
                .iter()
                .all(|a| attributes.get(a) == Some(&"S")),
    );
    expect(
        "TimeToLiveSpecification must be enabled on `ttl`",
        str_at(p, &["TimeToLiveSpecification", "AttributeName"]) == Some("ttl")
            && bool_at(p, &["TimeToLiveSpecification", "Enabled"]) == Some(true),
    );
    expect(
        "point-in-time recovery must be on",
        bool_at(
            p,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled",
            ],
        ) == Some(true),
    );
    expect(
        "SSESpecification.SSEEnabled must be true",
        bool_at(p, &["SSESpecification", "SSEEnabled"]) == Some(true),
    );
    expect(
        "DeletionPolicy must be Retain",
        str_at(table, &["DeletionPolicy"]) == Some("Retain"),
    );
    expect(
        "UpdateReplacePolicy must be Retain",
        str_at(table, &["UpdateReplacePolicy"]) == Some("Retain"),
    );
    fail_if_any("table", problems);
}

fn key_schema(value: Option<&Value>) -> Vec<(&str, &str)> {
    one_or_many(value)
        .into_iter()
        .map(|k| {
            (
                str_at(k, &["AttributeName"]).unwrap_or("?"),
                str_at(k, &["KeyType"]).unwrap_or("?"),
            )
        })
        .collect()
}

// ------------------------------------------------------------------ IAM

const READ: &[&str] = &["dynamodb:GetItem", "dynamodb:Query"];
const WRITE: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:ConditionCheckItem",
];

/// What each function may do on the table. Transactions (TransactWriteItems) have no IAM action of
/// their own: DynamoDB checks PutItem/UpdateItem/DeleteItem/ConditionCheckItem per item. When the
/// code needs more, change this list and the policy in template.yaml together.
fn expected_actions(binary: &str) -> Option<BTreeSet<&'static str>> {
    let mut actions: BTreeSet<&str> = READ.iter().copied().collect();
    match binary {
        // Reads integrations and offers; keeps its last result (`INT#<id>#HEALTH`, the policy's
        // condition); the postback tester puts its click ID's labels.
        "connection-test" => {
            actions.insert("dynamodb:PutItem");
        }
        // Record clicks / conversions and bump counters; never delete.
        "click" | "postback" => actions.extend(WRITE),
        // Manage integrations (DELETE /integrations/{id}) and replace synced offers.
        // Leads move their queue entries (a delete and a put) with every change.
        "api" | "offer-sync" | "lead" => {
            actions.extend(WRITE);
            actions.insert("dynamodb:DeleteItem");
        }
        // Folds the counter ledger: reads, deletes entries, adds to counters (its stream
        // grants are checked in tests/template_parts/events.rs).
        "events" => {
            actions.extend([
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ]);
        }
        _ => return None,
    }
    Some(actions)
}

/// Every IAM statement anywhere in the template (SAM `Policies`, IAM roles and policies added
/// later), with where it was found.
fn statements<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Mapping(map) => {
            for (key, child) in map {
                let key = key.as_str().unwrap_or("?");
                if key == "Statement" {
                    for s in one_or_many(Some(child)) {
                        out.push((at.clone(), s));
                    }
                } else {
                    statements(child, format!("{at}.{key}"), out);
                }
            }
        }
        Value::Sequence(items) => {
            for (i, child) in items.iter().enumerate() {
                statements(child, format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_table_arn(resource: &Value, table_id: &str) -> bool {
    get(resource, "Fn::GetAtt")
        .and_then(Value::as_sequence)
        .is_some_and(|parts| {
            parts.len() == 2
                && parts[0].as_str() == Some(table_id)
                && parts[1].as_str() == Some("Arn")
        })
}

fn is_index_arn(resource: &Value, table_id: &str) -> bool {
    get(resource, "Fn::Sub").and_then(Value::as_str)
        == Some(format!("${{{table_id}.Arn}}/index/gsi1").as_str())
}

#[test]
fn no_policy_is_broader_than_the_table() {
    let template = template();
    let (table_id, _) = the_one(&template, "AWS::DynamoDB::Table");
    let mut problems = vec![];

    // Anywhere in the template: no wildcard DynamoDB action, no `*` resource beside a DynamoDB
    // action, no NotAction/NotResource.
    let mut found = vec![];
    statements(
        get(&template, "Resources").expect("Resources"),
        "Resources".into(),
        &mut found,
    );
    for (at, statement) in &found {
        for key in ["NotAction", "NotResource"] {
            if get(statement, key).is_some() {
                problems.push(format!("{at}: {key} is not allowed"));
            }
        }
        let actions: Vec<&str> = one_or_many(get(statement, "Action"))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        let dynamodb = actions.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*" || a.starts_with("dynamodb:")
        });
        for action in &actions {
            let lower = action.to_ascii_lowercase();
            if lower == "*" || (lower.starts_with("dynamodb:") && lower.contains('*')) {
                problems.push(format!("{at}: wildcard action `{action}`"));
            }
        }
        if dynamodb {
            for resource in one_or_many(get(statement, "Resource")) {
                if resource.as_str().is_some_and(|r| r.contains('*')) {
                    problems.push(format!(
                        "{at}: DynamoDB actions on `{}`",
                        resource.as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }

    // Per function: inline policies only, on the table and its index, with exactly the actions
    // the function needs.
    for f in functions(&template) {
        let id = f.logical_id;
        let mut granted = BTreeSet::new();
        for (i, policy) in one_or_many(get(&f.properties, "Policies"))
            .into_iter()
            .enumerate()
        {
            let Some(statements) = get(policy, "Statement") else {
                let shown = serde_yaml_ng::to_string(policy).unwrap_or_default();
                if shown.to_ascii_lowercase().contains("dynamodb") {
                    problems.push(format!(
                        "{id}.Policies[{i}]: DynamoDB access must be an inline policy document, \
                         not a managed policy or SAM policy template: {}",
                        shown.trim()
                    ));
                }
                continue;
            };
            for statement in one_or_many(Some(statements)) {
                let actions: Vec<&str> = one_or_many(get(statement, "Action"))
                    .into_iter()
                    .filter_map(Value::as_str)
                    .filter(|a| a.to_ascii_lowercase().starts_with("dynamodb:"))
                    .filter(|a| !events::STREAM_ACTIONS.contains(a))
                    .collect();
                if actions.is_empty() {
                    continue;
                }
                if str_at(statement, &["Effect"]) != Some("Allow") {
                    continue;
                }
                for resource in one_or_many(get(statement, "Resource")) {
                    if is_index_arn(resource, table_id) {
                        if let Some(a) = actions.iter().find(|a| **a != "dynamodb:Query") {
                            problems.push(format!(
                                "{id}: only dynamodb:Query applies to the index, not {a}"
                            ));
                        }
                    } else if !is_table_arn(resource, table_id) {
                        problems.push(format!(
                            "{id}: DynamoDB actions {actions:?} on {resource:?}; only !GetAtt {table_id}.Arn \
                             and !Sub '${{{table_id}.Arn}}/index/gsi1' are allowed"
                        ));
                    }
                }
                granted.extend(actions);
            }
        }
        let Some(expected) = expected_actions(&f.binary) else {
            problems.push(format!(
                "{id}: binary `{}` has no entry in expected_actions() of tests/tests/template.rs",
                f.binary
            ));
            continue;
        };
        if granted != expected {
            problems.push(format!(
                "{id} (`{}`) is granted {granted:?}, expected {expected:?}",
                f.binary
            ));
        }
    }
    fail_if_any("IAM", problems);
}

/// The DynamoDB actions granted to a function on the table or its index, read from any inline
/// policy statement it has (whatever else the template grants it).
fn granted_dynamodb_actions(f: &Function, table_id: &str) -> BTreeSet<String> {
    let mut granted = BTreeSet::new();
    for policy in one_or_many(get(&f.properties, "Policies")) {
        for statement in one_or_many(get(policy, "Statement")) {
            if str_at(statement, &["Effect"]) != Some("Allow") {
                continue;
            }
            let on_table = one_or_many(get(statement, "Resource"))
                .into_iter()
                .any(|r| is_table_arn(r, table_id) || is_index_arn(r, table_id));
            if !on_table {
                continue;
            }
            granted.extend(
                one_or_many(get(statement, "Action"))
                    .into_iter()
                    .filter_map(Value::as_str)
                    .filter(|a| a.to_ascii_lowercase().starts_with("dynamodb:"))
                    .map(String::from),
            );
        }
    }
    granted
}

/// Every DynamoDB action a function's code may send (`affnet_app::iam`, derived from the store's
/// own plans, rare paths included) is granted to it by template.yaml. Issue #9: the postback
/// function's store purged expired items with DeleteItem, which it is not granted.
#[test]
fn every_dynamodb_action_a_functions_code_may_send_is_granted() {
    let template = template();
    let (table_id, _) = the_one(&template, "AWS::DynamoDB::Table");
    let mut problems = vec![];
    for f in functions(&template) {
        let Some(function) = routes::Function::from_name(&f.binary) else {
            problems.push(format!(
                "{}: no function named `{}`",
                f.logical_id, f.binary
            ));
            continue;
        };
        let granted = granted_dynamodb_actions(&f, table_id);
        for action in affnet_app::iam::dynamodb_actions(function) {
            if !granted.contains(action) {
                problems.push(format!(
                    "{} (`{}`) may send {action} but is not granted it (granted: {granted:?})",
                    f.logical_id, f.binary
                ));
            }
        }
    }
    fail_if_any("DynamoDB grants", problems);
}

// ------------------------------------------------------------------ automatic sync

/// The `id` of `{Fn::GetAtt: [id, Arn]}`.
fn arn_of(value: &Value) -> Option<&str> {
    let parts = get(value, "Fn::GetAtt")?.as_sequence()?;
    match parts.as_slice() {
        [id, attribute] if attribute.as_str() == Some("Arn") => id.as_str(),
        _ => None,
    }
}

fn is_queue(template: &Value, logical_id: &str) -> bool {
    get_path(template, &["Resources", logical_id])
        .is_some_and(|r| str_at(r, &["Type"]) == Some("AWS::SQS::Queue"))
}

/// `{Fn::GetAtt: [id, Arn]}`
fn is_arn_of(value: &Value, logical_id: &str) -> bool {
    get(value, "Fn::GetAtt")
        .and_then(Value::as_sequence)
        .is_some_and(|p| {
            p.len() == 2 && p[0].as_str() == Some(logical_id) && p[1].as_str() == Some("Arn")
        })
}

/// `!Sub 'arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/default/<prefix>*'`
/// with the schedule-name prefix the code uses.
fn is_sync_schedule_arn(value: &Value) -> bool {
    let prefix = routes_schedule_prefix();
    get(value, "Fn::Sub").and_then(Value::as_str)
        == Some(
            format!("arn:${{AWS::Partition}}:scheduler:${{AWS::Region}}:${{AWS::AccountId}}:schedule/default/{prefix}*")
                .as_str(),
        )
}

fn routes_schedule_prefix() -> String {
    affnet_app::schedule::schedule_name("")
}

/// Scheduler and IAM actions a function may have: the api function manages schedules (and
/// passes the scheduler's role), the offer-sync function only removes stale ones.
fn expected_schedule_actions(binary: &str) -> BTreeSet<&'static str> {
    match binary {
        "api" => BTreeSet::from([
            "scheduler:CreateSchedule",
            "scheduler:UpdateSchedule",
            "scheduler:DeleteSchedule",
            "iam:PassRole",
        ]),
        "offer-sync" => BTreeSet::from(["scheduler:DeleteSchedule"]),
        _ => BTreeSet::new(),
    }
}

#[test]
fn automatic_sync_has_exactly_the_permissions_it_needs() {
    let template = template();
    let mut problems = vec![];
    let functions = functions(&template);
    let Some(sync_fn) = functions.iter().find(|f| f.binary == "offer-sync") else {
        panic!("no offer-sync function");
    };

    // The scheduler's role: trusted by scheduler.amazonaws.com only, may only invoke offer-sync.
    let roles: Vec<(&str, &Value)> = resources_of_type(&template, "AWS::IAM::Role")
        .into_iter()
        .filter(|(_, r)| {
            let mut found = vec![];
            statements(r, String::new(), &mut found);
            found.iter().any(|(_, s)| {
                one_or_many(get_path(s, &["Principal", "Service"]))
                    .iter()
                    .any(|p| p.as_str() == Some("scheduler.amazonaws.com"))
            })
        })
        .collect();
    assert_eq!(
        roles.len(),
        1,
        "exactly one role trusted by scheduler.amazonaws.com"
    );
    let (role_id, role) = roles[0];
    let trust = get_path(role, &["Properties", "AssumeRolePolicyDocument"]).expect("trust policy");
    let mut trusts = vec![];
    statements(trust, role_id.into(), &mut trusts);
    for (at, statement) in &trusts {
        let principals: Vec<_> = one_or_many(get_path(statement, &["Principal", "Service"]))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        if principals != ["scheduler.amazonaws.com"]
            || get_path(statement, &["Principal", "AWS"]).is_some()
        {
            problems.push(format!(
                "{at}: only scheduler.amazonaws.com may assume {role_id}, got {principals:?}"
            ));
        }
        if !get_path(statement, &["Condition", "ArnLike", "aws:SourceArn"])
            .is_some_and(is_sync_schedule_arn)
        {
            problems.push(format!("{at}: trust must be limited to this account's affnet-sync-* schedules (aws:SourceArn)"));
        }
    }
    let mut granted = vec![];
    for policy in one_or_many(get_path(role, &["Properties", "Policies"])) {
        statements(policy, role_id.into(), &mut granted);
    }
    for key in ["ManagedPolicyArns", "PermissionsBoundary"] {
        if get_path(role, &["Properties", key]).is_some() {
            problems.push(format!(
                "{role_id}: {key} would grant more than invoking offer-sync"
            ));
        }
    }
    // The dead-letter queue of the schedules' targets: the api function hands it to the
    // scheduler (AFFNET_SCHEDULE_DLQ_ARN), and the scheduler sends to it with this role.
    let dlq = functions
        .iter()
        .find(|f| f.binary == "api")
        .and_then(|f| {
            get_path(
                &f.properties,
                &["Environment", "Variables", schedule_aws::DLQ_ARN_VAR],
            )
        })
        .and_then(arn_of);
    let dlq = match dlq {
        Some(id) if is_queue(&template, id) => id,
        other => panic!(
            "the api function's {} must be !GetAtt <an AWS::SQS::Queue>.Arn, got {other:?}",
            schedule_aws::DLQ_ARN_VAR
        ),
    };
    let mut role_grants = BTreeSet::new();
    for (at, statement) in &granted {
        let actions: Vec<_> = one_or_many(get(statement, "Action"))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        let resources = one_or_many(get(statement, "Resource"));
        let grant = match (actions.as_slice(), resources.as_slice()) {
            (["lambda:InvokeFunction"], [r]) if is_arn_of(r, sync_fn.logical_id) => "invoke",
            (["sqs:SendMessage"], [r]) if is_arn_of(r, dlq) => "dead-letter",
            _ => {
                problems.push(format!(
                    "{at}: the scheduler role may only lambda:InvokeFunction on !GetAtt {}.Arn and \
                     sqs:SendMessage on !GetAtt {dlq}.Arn, got {actions:?} on {resources:?}",
                    sync_fn.logical_id
                ));
                continue;
            }
        };
        role_grants.insert(grant);
    }
    if role_grants != BTreeSet::from(["invoke", "dead-letter"]) {
        problems.push(format!(
            "{role_id}: must allow lambda:InvokeFunction on {} and sqs:SendMessage on {dlq}, allows {role_grants:?}",
            sync_fn.logical_id
        ));
    }

    // Functions: scheduler actions only on affnet-sync-* schedules, PassRole only of that role
    // and only to the scheduler, and exactly the actions each one needs.
    for f in &functions {
        let mut found = vec![];
        for policy in one_or_many(get(&f.properties, "Policies")) {
            statements(policy, f.logical_id.into(), &mut found);
        }
        let mut actions_seen = BTreeSet::new();
        for (at, statement) in &found {
            let actions: Vec<&str> = one_or_many(get(statement, "Action"))
                .into_iter()
                .filter_map(Value::as_str)
                .filter(|a| a.starts_with("scheduler:") || a.starts_with("iam:"))
                .collect();
            if actions.is_empty() {
                continue;
            }
            for resource in one_or_many(get(statement, "Resource")) {
                for action in &actions {
                    let ok = if action.starts_with("scheduler:") {
                        is_sync_schedule_arn(resource)
                    } else {
                        *action == "iam:PassRole"
                            && is_arn_of(resource, role_id)
                            && str_at(
                                statement,
                                &["Condition", "StringEquals", "iam:PassedToService"],
                            ) == Some("scheduler.amazonaws.com")
                    };
                    if !ok {
                        problems.push(format!(
                            "{at}: {action} on {resource:?} is broader than automatic sync needs"
                        ));
                    }
                }
            }
            actions_seen.extend(actions.iter().map(|a| a.to_string()));
        }
        let expected: BTreeSet<String> = expected_schedule_actions(&f.binary)
            .into_iter()
            .map(String::from)
            .collect();
        if actions_seen != expected {
            problems.push(format!(
                "{} (`{}`) has scheduler/IAM actions {actions_seen:?}, expected {expected:?}",
                f.logical_id, f.binary
            ));
        }
        if f.binary == "api" {
            let var = |name: &str| get_path(&f.properties, &["Environment", "Variables", name]);
            if !var("AFFNET_SYNC_FUNCTION_ARN").is_some_and(|v| is_arn_of(v, sync_fn.logical_id)) {
                problems.push(format!(
                    "{}: AFFNET_SYNC_FUNCTION_ARN must be !GetAtt {}.Arn",
                    f.logical_id, sync_fn.logical_id
                ));
            }
            if !var("AFFNET_SCHEDULER_ROLE_ARN").is_some_and(|v| is_arn_of(v, role_id)) {
                problems.push(format!(
                    "{}: AFFNET_SCHEDULER_ROLE_ARN must be !GetAtt {role_id}.Arn",
                    f.logical_id
                ));
            }
        }
        // offer-sync reads the whole Config too (and may re-create a schedule one day).
        if matches!(f.binary.as_str(), "api" | "offer-sync") {
            let var = get_path(
                &f.properties,
                &["Environment", "Variables", schedule_aws::DLQ_ARN_VAR],
            );
            if !var.is_some_and(|v| is_arn_of(v, dlq)) {
                problems.push(format!(
                    "{}: {} must be !GetAtt {dlq}.Arn, got {var:?}",
                    f.logical_id,
                    schedule_aws::DLQ_ARN_VAR
                ));
            }
        }
    }
    fail_if_any("automatic sync permissions", problems);
}

// ------------------------------------------------------------------ outputs

#[test]
fn outputs_give_the_api_url_and_the_table_name() {
    let template = template();
    let (api_id, _) = the_one(&template, "AWS::Serverless::HttpApi");
    let (table_id, _) = the_one(&template, "AWS::DynamoDB::Table");
    let mut problems = vec![];

    let outputs = get(&template, "Outputs");
    let url = outputs.and_then(|o| get_path(o, &["ApiUrl", "Value", "Fn::Sub"]));
    if !url
        .and_then(Value::as_str)
        .is_some_and(|s| s.starts_with(&format!("https://${{{api_id}}}.execute-api.")))
    {
        problems.push(format!(
            "Outputs.ApiUrl must be !Sub 'https://${{{api_id}}}.execute-api...', got {url:?}"
        ));
    }
    let table = outputs.and_then(|o| get_path(o, &["TableName", "Value"]));
    if !table.is_some_and(|t| refs(t, table_id)) {
        problems.push(format!(
            "Outputs.TableName must be !Ref {table_id}, got {table:?}"
        ));
    }
    fail_if_any("outputs", problems);
}

// ------------------------------------------------------------------ operations

/// The parameter a value is `!Ref` of, with its numeric `Default`.
fn number_parameter(template: &Value, value: Option<&Value>) -> Option<(String, f64)> {
    let name = str_at(value?, &["Ref"])?;
    let param = get_path(template, &["Parameters", name])?;
    if str_at(param, &["Type"]) != Some("Number") {
        return None;
    }
    let default = match get(param, "Default")? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some((name.to_string(), default))
}

/// `ThrottlingRateLimit` and `ThrottlingBurstLimit` of a route-settings map, each a `Number`
/// parameter with a positive default; `None` (with the problem) otherwise.
fn throttle(template: &Value, settings: Option<&Value>, at: &str, problems: &mut Vec<String>) {
    for key in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        match number_parameter(template, settings.and_then(|s| get(s, key))) {
            Some((_, default)) if default > 0.0 => {}
            _ => problems.push(format!(
                "{at}: {key} must be !Ref of a Number parameter with a positive Default, got {:?}",
                settings.and_then(|s| get(s, key))
            )),
        }
    }
}

#[test]
fn public_routes_are_throttled_by_parameters() {
    let template = template();
    let (api_id, api) = the_one(&template, "AWS::Serverless::HttpApi");
    let mut problems = vec![];
    throttle(
        &template,
        get_path(api, &["Properties", "DefaultRouteSettings"]),
        &format!("{api_id}.DefaultRouteSettings"),
        &mut problems,
    );
    let api_level = get_path(api, &["Properties", "RouteSettings"]);
    for f in functions(&template) {
        for (method, path, name, event) in f.http_routes() {
            let public = ROUTES
                .iter()
                .any(|r| r.method == method && r.path == path && r.access == Access::Public);
            if !public {
                continue;
            }
            // SAM merges an event's RouteSettings into the stage's, keyed "METHOD path".
            let settings = get_path(event, &["Properties", "RouteSettings"])
                .or_else(|| api_level.and_then(|s| get(s, &format!("{method} {path}"))));
            throttle(
                &template,
                settings,
                &format!("{}.{name} ({method} {path})", f.logical_id),
                &mut problems,
            );
        }
    }
    fail_if_any("throttling", problems);
}

/// Lambda keeps 100 of an account's concurrency unreserved; the default quota is 1000.
const RESERVABLE_CONCURRENCY: f64 = 900.0;

#[test]
fn reserved_concurrency_keeps_postbacks_apart_from_clicks() {
    let template = template();
    let mut problems = vec![];
    let mut defaults = BTreeMap::new();
    for f in functions(&template) {
        let value = get(&f.properties, "ReservedConcurrentExecutions");
        // `!Ref Param`, or `!If [Cond, !Ref Param, !Ref AWS::NoValue]` (0 = no reservation).
        let reference = match value.and_then(|v| get(v, "Fn::If")) {
            Some(Value::Sequence(branches)) if branches.len() == 3 => {
                if !refs(&branches[2], "AWS::NoValue") {
                    problems.push(format!(
                        "{}: the else branch of ReservedConcurrentExecutions must be AWS::NoValue",
                        f.logical_id
                    ));
                }
                Some(&branches[1])
            }
            _ => value,
        };
        match number_parameter(&template, reference) {
            Some((param, default)) => {
                defaults.insert(f.binary.clone(), (param, default));
            }
            None => problems.push(format!(
                "{}: ReservedConcurrentExecutions must come from a Number parameter with a Default, got {value:?}",
                f.logical_id
            )),
        }
    }
    for binary in ["click", "postback"] {
        if !defaults.get(binary).is_some_and(|(_, d)| *d > 0.0) {
            problems.push(format!(
                "the {binary} function must reserve concurrency by default (clicks are capped, postbacks keep theirs), got {:?}",
                defaults.get(binary)
            ));
        }
    }
    let total: f64 = defaults.values().map(|(_, d)| d).sum();
    if total > RESERVABLE_CONCURRENCY {
        problems.push(format!(
            "the default reservations add up to {total}, more than an account with the default quota can reserve ({RESERVABLE_CONCURRENCY})"
        ));
    }
    fail_if_any("reserved concurrency", problems);
}

#[test]
fn the_click_secret_is_read_from_secrets_manager_by_every_function() {
    let template = template();
    let secret_id = "ClickSecret";
    let secret = get_path(&template, &["Resources", secret_id])
        .filter(|s| str_at(s, &["Type"]) == Some("AWS::SecretsManager::Secret"))
        .expect("template.yaml has the AWS::SecretsManager::Secret ClickSecret");
    let mut problems = vec![];
    let length = get_path(
        secret,
        &["Properties", "GenerateSecretString", "PasswordLength"],
    )
    .and_then(Value::as_u64);
    if length.is_none_or(|l| l < 32) {
        problems.push(format!(
            "{secret_id}: GenerateSecretString.PasswordLength must be at least 32, got {length:?}"
        ));
    }
    for key in ["DeletionPolicy", "UpdateReplacePolicy"] {
        if str_at(secret, &[key]) != Some("Retain") {
            problems.push(format!(
                "{secret_id}: {key} must be Retain (losing the key breaks every click id handed out)"
            ));
        }
    }
    for f in functions(&template) {
        let var = get_path(
            &f.properties,
            &["Environment", "Variables", "AFFNET_CLICK_SECRET_ARN"],
        );
        if !var.is_some_and(|v| refs(v, secret_id)) {
            problems.push(format!(
                "{}: AFFNET_CLICK_SECRET_ARN must be !Ref {secret_id}, got {var:?}",
                f.logical_id
            ));
        }
        let mut found = vec![];
        for policy in one_or_many(get(&f.properties, "Policies")) {
            statements(policy, f.logical_id.into(), &mut found);
        }
        let mut reads = 0;
        for (at, statement) in &found {
            let actions: Vec<&str> = one_or_many(get(statement, "Action"))
                .into_iter()
                .filter_map(Value::as_str)
                .filter(|a| a.to_ascii_lowercase().starts_with("secretsmanager:"))
                .collect();
            if actions.is_empty() {
                continue;
            }
            let resources = one_or_many(get(statement, "Resource"));
            // The events function also reads the webhook secret (tests/template_parts/events.rs).
            if f.binary == "events" && resources.iter().any(|r| refs(r, events::WEBHOOK_SECRET)) {
                continue;
            }
            if actions != ["secretsmanager:GetSecretValue"]
                || resources.len() != 1
                || !refs(resources[0], secret_id)
            {
                problems.push(format!(
                    "{at}: only secretsmanager:GetSecretValue on !Ref {secret_id}, got {actions:?} on {resources:?}"
                ));
            } else {
                reads += 1;
            }
        }
        if reads != 1 {
            problems.push(format!(
                "{}: needs one statement allowing secretsmanager:GetSecretValue on !Ref {secret_id}, has {reads}",
                f.logical_id
            ));
        }
    }
    fail_if_any("click secret", problems);
}

#[test]
fn the_public_url_is_a_parameter_on_every_function() {
    let template = template();
    let mut problems = vec![];
    let mut params = BTreeSet::new();
    for f in functions(&template) {
        let var = get_path(
            &f.properties,
            &["Environment", "Variables", "AFFNET_PUBLIC_URL"],
        );
        match var.and_then(|v| str_at(v, &["Ref"])) {
            Some(p) => {
                params.insert(p.to_string());
            }
            None => problems.push(format!(
                "{}: AFFNET_PUBLIC_URL must be !Ref of a parameter, got {var:?}",
                f.logical_id
            )),
        }
    }
    for p in &params {
        let default = get_path(&template, &["Parameters", p, "Default"]);
        if default.and_then(Value::as_str) != Some("") {
            problems.push(format!(
                "parameter {p}: Default must be '' (the API's own host until a custom domain is set), got {default:?}"
            ));
        }
    }
    if params.len() > 1 {
        problems.push(format!(
            "AFFNET_PUBLIC_URL comes from several parameters: {params:?}"
        ));
    }
    fail_if_any("public URL", problems);
}

#[test]
fn scheduled_sync_failures_go_to_a_queue() {
    let template = template();
    let mut problems = vec![];
    let functions = functions(&template);
    let sync_fn = functions
        .iter()
        .find(|f| f.binary == "offer-sync")
        .expect("an offer-sync function");
    let config = get(&sync_fn.properties, "EventInvokeConfig");
    let retries = config
        .and_then(|c| get(c, "MaximumRetryAttempts"))
        .and_then(Value::as_u64);
    if retries.is_none_or(|r| r > 2) {
        problems.push(format!(
            "{}: EventInvokeConfig.MaximumRetryAttempts must be 0 to 2, got {retries:?}",
            sync_fn.logical_id
        ));
    }
    let on_failure = config.and_then(|c| get_path(c, &["DestinationConfig", "OnFailure"]));
    let queue = on_failure
        .and_then(|o| get(o, "Destination"))
        .and_then(arn_of);
    if !queue.is_some_and(|q| is_queue(&template, q))
        || on_failure.and_then(|o| str_at(o, &["Type"])) != Some("SQS")
    {
        problems.push(format!(
            "{}: EventInvokeConfig.DestinationConfig.OnFailure must be Type: SQS to !GetAtt <an AWS::SQS::Queue>.Arn, got {on_failure:?}",
            sync_fn.logical_id
        ));
    }
    // The grant is visible in the function's own policy too (SAM adds one as well).
    let mut found = vec![];
    for policy in one_or_many(get(&sync_fn.properties, "Policies")) {
        statements(policy, sync_fn.logical_id.into(), &mut found);
    }
    let mut sends = vec![];
    for (at, statement) in &found {
        let actions: Vec<&str> = one_or_many(get(statement, "Action"))
            .into_iter()
            .filter_map(Value::as_str)
            .filter(|a| a.starts_with("sqs:"))
            .collect();
        if actions.is_empty() {
            continue;
        }
        let resources = one_or_many(get(statement, "Resource"));
        match (actions.as_slice(), resources.as_slice(), queue) {
            (["sqs:SendMessage"], [r], Some(q)) if is_arn_of(r, q) => sends.push(at),
            _ => problems.push(format!(
                "{at}: only sqs:SendMessage on the on-failure queue, got {actions:?} on {resources:?}"
            )),
        }
    }
    if sends.len() != 1 {
        problems.push(format!(
            "{}: needs one statement allowing sqs:SendMessage on the on-failure queue",
            sync_fn.logical_id
        ));
    }
    // No other function sends to a queue (the events function's stream failures are checked
    // in tests/template_parts/events.rs).
    for f in &functions {
        if f.binary == "offer-sync" || f.binary == "events" {
            continue;
        }
        let text = serde_yaml_ng::to_string(get(&f.properties, "Policies").unwrap_or(&Value::Null))
            .unwrap_or_default();
        if text.contains("sqs:") {
            problems.push(format!("{}: has SQS permissions", f.logical_id));
        }
    }
    fail_if_any("sync failures", problems);
}

/// `RetentionInDays` from a Number parameter with a default.
fn has_retention(template: &Value, log_group: &Value) -> bool {
    number_parameter(
        template,
        get_path(log_group, &["Properties", "RetentionInDays"]),
    )
    .is_some()
}

#[test]
fn every_function_and_the_api_log_to_groups_with_retention() {
    let template = template();
    let (api_id, api) = the_one(&template, "AWS::Serverless::HttpApi");
    let groups = resources_of_type(&template, "AWS::Logs::LogGroup");
    let mut problems = vec![];

    for f in functions(&template) {
        let own_name = format!("/aws/lambda/${{{}}}", f.logical_id);
        let pointed = get_path(&f.properties, &["LoggingConfig", "LogGroup"])
            .and_then(|v| str_at(v, &["Ref"]));
        let group = groups.iter().find(|(id, g)| {
            Some(*id) == pointed
                || str_at(g, &["Properties", "LogGroupName", "Fn::Sub"]) == Some(own_name.as_str())
        });
        match group {
            None => problems.push(format!(
                "{}: needs an AWS::Logs::LogGroup named !Sub '{own_name}' (or LoggingConfig.LogGroup: !Ref <one>)",
                f.logical_id
            )),
            Some((id, g)) if !has_retention(&template, g) => problems.push(format!(
                "{id}: RetentionInDays must be !Ref of a Number parameter with a Default"
            )),
            Some(_) => {}
        }
    }

    let access = get_path(api, &["Properties", "AccessLogSettings"]);
    let destination = access
        .and_then(|a| get(a, "DestinationArn"))
        .and_then(arn_of);
    match destination.and_then(|d| groups.iter().find(|(id, _)| *id == d)) {
        None => problems.push(format!(
            "{api_id}: AccessLogSettings.DestinationArn must be !GetAtt <an AWS::Logs::LogGroup>.Arn, got {access:?}"
        )),
        Some((id, g)) if !has_retention(&template, g) => problems.push(format!(
            "{id}: RetentionInDays must be !Ref of a Number parameter with a Default"
        )),
        Some(_) => {}
    }
    let format = access.and_then(|a| str_at(a, &["Format"])).unwrap_or("");
    match serde_yaml_ng::from_str::<Value>(format) {
        Ok(Value::Mapping(fields)) => {
            let values: Vec<&str> = fields.values().filter_map(Value::as_str).collect();
            // `status` is a bare number, so the line is JSON only once API Gateway fills it in;
            // YAML reads it as a string here.
            let all = format.to_ascii_lowercase();
            for needed in ["$context.requestid", "$context.routekey", "$context.status"] {
                if !all.contains(needed) {
                    problems.push(format!("{api_id}: the access log must have {needed}"));
                }
            }
            // Postback tokens travel in the query string: never log it (nor the whole URI).
            for banned in ["querystring", "$request.", "requesturi", "$input"] {
                if all.contains(banned) {
                    problems.push(format!(
                        "{api_id}: the access log must not contain `{banned}` (postback tokens)"
                    ));
                }
            }
            if values.is_empty() {
                problems.push(format!("{api_id}: the access log format has no fields"));
            }
        }
        other => problems.push(format!(
            "{api_id}: AccessLogSettings.Format must be a JSON object, got {other:?} from {format:?}"
        )),
    }
    fail_if_any("logs", problems);
}

/// `(namespace, metric name, dimensions)`
type AlarmMetric = (String, String, Vec<(String, Value)>);

/// Every metric an alarm reads, single-metric or metric math.
fn alarm_metrics(alarm: &Value) -> Vec<AlarmMetric> {
    let p = get(alarm, "Properties").cloned().unwrap_or(Value::Null);
    let one = |m: &Value| {
        let namespace = match get(m, "Namespace") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => serde_yaml_ng::to_string(other).unwrap_or_default(),
            None => String::new(),
        };
        let name = str_at(m, &["MetricName"]).unwrap_or("").to_string();
        let dims = one_or_many(get(m, "Dimensions"))
            .into_iter()
            .map(|d| {
                (
                    str_at(d, &["Name"]).unwrap_or("").to_string(),
                    get(d, "Value").cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        (namespace, name, dims)
    };
    let mut out = vec![];
    if get(&p, "MetricName").is_some() {
        out.push(one(&p));
    }
    for m in one_or_many(get(&p, "Metrics")) {
        if let Some(metric) = get_path(m, &["MetricStat", "Metric"]) {
            out.push(one(metric));
        }
    }
    out
}

#[test]
fn alarms_watch_what_matters_and_notify_the_topic() {
    let template = template();
    let (topic_id, _) = the_one(&template, "AWS::SNS::Topic");
    let mut problems = vec![];
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");

    for (id, alarm) in &alarms {
        if !one_or_many(get_path(alarm, &["Properties", "AlarmActions"]))
            .iter()
            .any(|a| refs(a, topic_id))
        {
            problems.push(format!("{id}: AlarmActions must include !Ref {topic_id}"));
        }
    }
    let output = get_path(&template, &["Outputs", "AlarmTopicArn", "Value"]);
    if !output.is_some_and(|v| refs(v, topic_id)) {
        problems.push(format!(
            "Outputs.AlarmTopicArn must be !Ref {topic_id}, got {output:?}"
        ));
    }
    // An optional e-mail subscription.
    let email = get_path(&template, &["Parameters", "AlarmEmail", "Default"]);
    if email.and_then(Value::as_str) != Some("") {
        problems.push(format!(
            "parameter AlarmEmail must default to '', got {email:?}"
        ));
    }
    let subscribed = resources_of_type(&template, "AWS::SNS::Subscription")
        .into_iter()
        .any(|(_, s)| {
            get_path(s, &["Properties", "TopicArn"]).is_some_and(|t| refs(t, topic_id))
                && get_path(s, &["Properties", "Endpoint"]).is_some_and(|e| refs(e, "AlarmEmail"))
                && str_at(s, &["Condition"]).is_some()
        });
    if !subscribed {
        problems.push(format!(
            "an AWS::SNS::Subscription of !Ref AlarmEmail to {topic_id}, with a Condition (no e-mail, no subscription)"
        ));
    }

    let watched =
        |namespace: &str, metric: &str, dimension: &str, value: &dyn Fn(&Value) -> bool| {
            alarms.iter().any(|(_, alarm)| {
                alarm_metrics(alarm).iter().any(|(ns, name, dims)| {
                    ns == namespace
                        && name == metric
                        && dims.iter().any(|(d, v)| d == dimension && value(v))
                })
            })
        };
    let functions = functions(&template);
    for f in &functions {
        if !watched("AWS/Lambda", "Throttles", "FunctionName", &|v| {
            refs(v, f.logical_id)
        }) {
            problems.push(format!("no alarm on the Throttles of {}", f.logical_id));
        }
        if matches!(f.binary.as_str(), "click" | "postback" | "offer-sync")
            && !watched("AWS/Lambda", "Errors", "FunctionName", &|v| {
                refs(v, f.logical_id)
            })
        {
            problems.push(format!("no alarm on the Errors of {}", f.logical_id));
        }
    }
    for (queue, _) in resources_of_type(&template, "AWS::SQS::Queue") {
        let on_depth = alarms.iter().any(|(_, alarm)| {
            let p = get(alarm, "Properties").unwrap_or(&Value::Null);
            alarm_metrics(alarm).iter().any(|(ns, name, dims)| {
                ns == "AWS/SQS"
                    && name == "ApproximateNumberOfMessagesVisible"
                    && dims.iter().any(|(d, v)| {
                        d == "QueueName"
                            && get(v, "Fn::GetAtt")
                                .and_then(Value::as_sequence)
                                .is_some_and(|p| {
                                    p.len() == 2
                                        && p[0].as_str() == Some(queue)
                                        && p[1].as_str() == Some("QueueName")
                                })
                    })
            }) && str_at(p, &["ComparisonOperator"]) == Some("GreaterThanThreshold")
                && get(p, "Threshold").and_then(Value::as_f64) == Some(0.0)
        });
        if !on_depth {
            problems.push(format!(
                "no alarm on ApproximateNumberOfMessagesVisible > 0 of {queue}"
            ));
        }
    }

    // The postback 5xx rate: an alarm reads a metric that a filter on the access log counts
    // from exactly the postback routes' 5xx answers.
    let postback_routes: BTreeSet<String> = ROUTES
        .iter()
        .filter(|r| r.function == routes::Function::Postback)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let filters = resources_of_type(&template, "AWS::Logs::MetricFilter");
    let five_xx_metric = filters.iter().find_map(|(_, f)| {
        let pattern = str_at(f, &["Properties", "FilterPattern"])?;
        let covers = postback_routes
            .iter()
            .all(|r| pattern.contains(&format!("$.routeKey = \"{r}\"")));
        (covers && pattern.contains("$.status >= 500")).then_some(())?;
        one_or_many(get_path(f, &["Properties", "MetricTransformations"]))
            .first()
            .and_then(|m| str_at(m, &["MetricName"]))
    });
    match five_xx_metric {
        None => problems.push(format!(
            "no metric filter counting 5xx ($.status >= 500) of every postback route {postback_routes:?}"
        )),
        Some(metric) => {
            if !alarms
                .iter()
                .any(|(_, a)| alarm_metrics(a).iter().any(|(_, name, _)| name == metric))
            {
                problems.push(format!("no alarm reads the postback 5xx metric {metric}"));
            }
        }
    }
    fail_if_any("alarms", problems);
}

/// SyncRunsFailedMetricFilter reads the app's "sync finished" log line; renaming the line or
/// its status field would silently stop the alarm.
#[test]
fn the_failed_sync_metric_filter_matches_the_log_line() {
    let template = template();
    let filter = get_path(
        &template,
        &[
            "Resources",
            "SyncRunsFailedMetricFilter",
            "Properties",
            "FilterPattern",
        ],
    )
    .and_then(Value::as_str)
    .expect("SyncRunsFailedMetricFilter");
    let source = std::fs::read_to_string(workspace_root().join("shared/app/src/offer_sync/run.rs"))
        .expect("read shared/app/src/offer_sync/run.rs");
    let line = source
        .lines()
        .find(|l| l.contains("\"sync finished\""))
        .expect("offer_sync/run.rs logs \"sync finished\"");
    assert!(
        line.contains("status = ?log.status"),
        "the \"sync finished\" line must log `status = ?log.status`: {line}"
    );
    assert!(
        filter.contains("$.fields.message = \"sync finished\"")
            && filter.contains("$.fields.status = \"Failed\""),
        "SyncRunsFailedMetricFilter: {filter}"
    );
}

// ------------------------------------------------------------------ the checker itself

#[test]
fn short_tags_read_as_long_forms() {
    let value: Value = serde_yaml_ng::from_str(
        "a: !Ref Table\nb: !GetAtt Table.Arn\nc: !Sub '${Table.Arn}/index/gsi1'\nd: [!Ref X]\n",
    )
    .unwrap();
    let value = long_form(value);
    assert!(refs(get(&value, "a").unwrap(), "Table"));
    assert!(is_table_arn(get(&value, "b").unwrap(), "Table"));
    assert!(is_index_arn(get(&value, "c").unwrap(), "Table"));
    assert!(refs(&one_or_many(get(&value, "d"))[0].clone(), "X"));
}

/// Reconciliation and status-loading schedules fall under the grants made for sync schedules
/// (`affnet-sync-*`).
#[test]
fn every_jobs_schedules_fall_under_the_sync_schedule_grants() {
    use affnet_app::schedule::Job;
    let prefix = routes_schedule_prefix();
    for job in Job::ALL {
        let name = job.schedule_name("01J9ZQ5ZK6F3H2M8N4P7R1S0TV");
        assert!(
            name.starts_with(&prefix),
            "{name} does not start with {prefix}"
        );
        assert!(
            name.len() <= 64,
            "{name}: EventBridge Scheduler allows 64 characters"
        );
    }
}

/// Each function's DynamoDB bounds (`SdkPolicy::for_function`) fit its Lambda timeout: two whole
/// calls, retries included, fit in it (a click makes two; a warm postback one), so a hanging
/// DynamoDB makes the function answer (a redirect, a 503) rather than time out; and the bounds
/// nest (connect ≤ attempt ≤ call, at least one retry).
#[test]
fn dynamodb_timeouts_fit_each_functions_lambda_timeout() {
    let template = template();
    let mut problems = Vec::new();
    for f in functions(&template) {
        let Some(function) = routes::Function::from_name(&f.binary) else {
            continue;
        };
        let policy = affnet_app::config::SdkPolicy::for_function(function);
        let timeout = get(&f.properties, "Timeout")
            .and_then(Value::as_f64)
            .unwrap_or_else(|| panic!("{}: no Timeout", f.logical_id));
        let call = policy.operation_timeout.as_secs_f64();
        if call * 2.0 > timeout {
            problems.push(format!(
                "{}: two DynamoDB calls may take 2 × {call} s, over its {timeout} s timeout",
                f.logical_id
            ));
        }
        if policy.attempt_timeout > policy.operation_timeout
            || policy.connect_timeout > policy.attempt_timeout
            || policy.max_attempts < 2
        {
            problems.push(format!("{}: incoherent {policy:?}", f.logical_id));
        }
    }
    fail_if_any("SDK bounds against Lambda timeouts", problems);
}

/// The every-minute lead jobs (retries, erasure of personal data, the silence watch): one
/// Scheduler schedule invoking the offer-sync function with the payload its handler reads as
/// lead jobs, with the scheduler's role, a retry policy and the dead-letter queue.
#[test]
fn the_lead_jobs_run_every_minute_on_the_offer_sync_function() {
    let template = template();
    let schedules: Vec<(&str, &Value)> = resources_of_type(&template, "AWS::Scheduler::Schedule")
        .into_iter()
        .filter(|(_, r)| {
            str_at(r, &["Properties", "Target", "Input"]).is_some_and(|input| {
                serde_json::from_str::<serde_json::Value>(input)
                    .is_ok_and(|v| v["job"] == affnet_app::lambda_offer_sync::LEAD_JOBS)
            })
        })
        .collect();
    assert_eq!(
        schedules.len(),
        1,
        "one schedule sends {{\"job\": \"lead_jobs\"}}"
    );
    let (id, schedule) = schedules[0];
    let target = get_path(schedule, &["Properties", "Target"]).unwrap();
    assert_eq!(
        str_at(schedule, &["Properties", "ScheduleExpression"]),
        Some("rate(1 minute)"),
        "{id}"
    );
    let offer_sync = functions(&template)
        .into_iter()
        .find(|f| f.binary == "offer-sync")
        .expect("the offer-sync function");
    assert!(
        is_arn_of(get(target, "Arn").unwrap(), offer_sync.logical_id),
        "{id} invokes the offer-sync function"
    );
    assert!(
        get(target, "RoleArn").is_some(),
        "{id}: the scheduler's role"
    );
    assert!(
        get_path(target, &["RetryPolicy", "MaximumRetryAttempts"]).is_some(),
        "{id}: a retry policy"
    );
    assert!(
        get_path(target, &["DeadLetterConfig", "Arn"])
            .is_some_and(|arn| is_queue(&template, arn_of(arn).unwrap_or_default())),
        "{id}: a dead-letter queue"
    );
    // The handler reads this very payload as the lead jobs.
    let input: serde_json::Value =
        serde_json::from_str(str_at(target, &["Input"]).unwrap()).unwrap();
    assert!(affnet_app::lambda_offer_sync::is_lead_jobs(&input));
}
