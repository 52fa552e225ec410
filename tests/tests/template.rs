//! `template.yaml` against the rest of the workspace: the function crates, the route registry
//! (`affnet_app::routes::ROUTES`), the table shape of `affnet_store::port` and the security rules
//! of the deployment (IAM on management routes, least-privilege DynamoDB policies).
//!
//! Each test gathers every problem it finds and fails once with all of them listed.

use affnet_app::routes::{self, Access, ROUTES};
use serde_yaml_ng::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
            "AFFNET_STORE must be dynamodb",
            var("AFFNET_STORE").and_then(Value::as_str) == Some("dynamodb"),
            &var("AFFNET_STORE"),
        );
        expect(
            "RUST_LOG must be set",
            var("RUST_LOG").is_some(),
            &var("RUST_LOG"),
        );
        expect(
            "AFFNET_CLICK_SECRET must come from Secrets Manager or a NoEcho parameter, never a literal",
            var("AFFNET_CLICK_SECRET").is_some_and(|v| is_secret_reference(&template, v)),
            &var("AFFNET_CLICK_SECRET"),
        );
    }
    fail_if_any("function settings", problems);
}

/// A `{{resolve:secretsmanager:...}}` dynamic reference (plain or inside `Fn::Sub`), or a `Ref`
/// to a parameter with `NoEcho: true`.
fn is_secret_reference(template: &Value, value: &Value) -> bool {
    let dynamic = |s: &str| s.trim_start().starts_with("{{resolve:secretsmanager:");
    if let Some(s) = value.as_str() {
        return dynamic(s);
    }
    if let Some(sub) = get(value, "Fn::Sub") {
        let text = match sub {
            Value::Sequence(parts) => parts.first().and_then(Value::as_str),
            other => other.as_str(),
        };
        return text.is_some_and(dynamic);
    }
    if let Some(param) = str_at(value, &["Ref"]) {
        return get_path(template, &["Parameters", param])
            .is_some_and(|p| bool_at(p, &["NoEcho"]) == Some(true));
    }
    false
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
        // Reads integrations only.
        "connection-test" => {}
        // Record clicks / conversions and bump counters; never delete.
        "click" | "postback" => actions.extend(WRITE),
        // Manage integrations (DELETE /integrations/{id}) and replace synced offers.
        "api" | "offer-sync" => {
            actions.extend(WRITE);
            actions.insert("dynamodb:DeleteItem");
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
    if granted.is_empty() {
        problems.push(format!(
            "{role_id}: grants nothing; it must allow lambda:InvokeFunction"
        ));
    }
    for (at, statement) in &granted {
        let actions: Vec<_> = one_or_many(get(statement, "Action"))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        let resources = one_or_many(get(statement, "Resource"));
        if actions != ["lambda:InvokeFunction"]
            || resources.len() != 1
            || !is_arn_of(resources[0], sync_fn.logical_id)
        {
            problems.push(format!(
                "{at}: the scheduler role may only lambda:InvokeFunction on !GetAtt {}.Arn, got {actions:?} on {resources:?}",
                sync_fn.logical_id
            ));
        }
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
