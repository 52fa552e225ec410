//! template.yaml's domain events: the table's stream, the event source mapping of the events
//! function (filter, bisect, batch item failures, retries, dead-letter queue), the bus and its
//! rule, and the events function's grants (a module of tests/template.rs, using its helpers).

use super::{
    arn_of, bool_at, fail_if_any, functions, get, get_path, is_arn_of, is_queue, one_or_many, refs,
    resources_of_type, statements, str_at, template,
};
use affnet_app::events::config::{BUS_NAME_VAR, WEBHOOK_SECRET_ARN_VAR, WEBHOOK_URLS_VAR};
use serde_yaml_ng::Value;

/// What the event source mapping reads of a stream with the function's role.
pub const STREAM_ACTIONS: &[&str] = &[
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
];

/// The secret webhook deliveries are signed with.
pub const WEBHOOK_SECRET: &str = "WebhookSecret";

const TABLE: &str = "Table";

/// `!GetAtt Table.StreamArn`, or `!Sub '${Table.Arn}/stream/*'`.
/// The counter ledger's partition keys (`LEDGER#<p>`, shared/store/src/ledger.rs).
const LEDGER_PK_PREFIX: &str = "LEDGER#";

fn is_stream_arn(resource: &Value) -> bool {
    let stream = get(resource, "Fn::GetAtt")
        .and_then(Value::as_sequence)
        .is_some_and(|p| {
            p.len() == 2 && p[0].as_str() == Some(TABLE) && p[1].as_str() == Some("StreamArn")
        });
    stream
        || get(resource, "Fn::Sub").and_then(Value::as_str)
            == Some(format!("${{{TABLE}.Arn}}/stream/*").as_str())
}

/// The logical id of the function built from binary `events`.
fn events_function(template: &Value) -> String {
    functions(template)
        .into_iter()
        .find(|f| f.binary == "events")
        .map(|f| f.logical_id.to_string())
        .expect("a function with Binary: events")
}

#[test]
fn the_table_streams_its_outbox_to_the_events_function() {
    let template = template();
    let mut problems = vec![];
    let view = str_at(
        &template,
        &[
            "Resources",
            TABLE,
            "Properties",
            "StreamSpecification",
            "StreamViewType",
        ],
    );
    if !matches!(view, Some("NEW_IMAGE" | "NEW_AND_OLD_IMAGES")) {
        problems.push(format!(
            "{TABLE}: StreamSpecification.StreamViewType must show new images, got {view:?}"
        ));
    }
    let function = events_function(&template);
    let mappings = resources_of_type(&template, "AWS::Lambda::EventSourceMapping");
    if mappings.len() != 2 {
        problems.push(format!(
            "two AWS::Lambda::EventSourceMappings (the outbox, the counter ledger), found {}",
            mappings.len()
        ));
    }
    let mut prefixes = vec![];
    for (id, mapping) in mappings {
        let p = get(mapping, "Properties").unwrap_or(&Value::Null);
        let mut expect = |what: &str, ok: bool| {
            if !ok {
                problems.push(format!("{id}: {what}"));
            }
        };
        expect(
            "EventSourceArn must be !GetAtt Table.StreamArn",
            get(p, "EventSourceArn")
                .is_some_and(|a| is_stream_arn(a) && get(a, "Fn::GetAtt").is_some()),
        );
        expect(
            &format!("FunctionName must be !Ref {function}"),
            get(p, "FunctionName").is_some_and(|f| refs(f, &function)),
        );
        expect(
            "BisectBatchOnFunctionError must be true",
            bool_at(p, &["BisectBatchOnFunctionError"]) == Some(true),
        );
        let types: Vec<&str> = one_or_many(get(p, "FunctionResponseTypes"))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        expect(
            "FunctionResponseTypes must be [ReportBatchItemFailures]",
            types == ["ReportBatchItemFailures"],
        );
        let retries = get(p, "MaximumRetryAttempts").and_then(Value::as_u64);
        expect(
            "MaximumRetryAttempts must be set (1 to 100)",
            retries.is_some_and(|r| (1..=100).contains(&r)),
        );
        let dlq = get_path(p, &["DestinationConfig", "OnFailure", "Destination"]).and_then(arn_of);
        expect(
            "DestinationConfig.OnFailure.Destination must be !GetAtt <an AWS::SQS::Queue>.Arn",
            dlq.is_some_and(|q| is_queue(&template, q)),
        );
        expect(
            "BatchSize must be at most 100 (the events a function call sends)",
            get(p, "BatchSize")
                .and_then(Value::as_u64)
                .is_some_and(|b| b <= 100),
        );
        let patterns: Vec<serde_json::Value> =
            one_or_many(get_path(p, &["FilterCriteria", "Filters"]))
                .into_iter()
                .filter_map(|f| str_at(f, &["Pattern"]))
                .filter_map(|text| serde_json::from_str(text).ok())
                .collect();
        let prefix = (patterns.len() == 1
            && patterns[0]["eventName"] == serde_json::json!(["INSERT"]))
        .then(|| patterns[0]["dynamodb"]["NewImage"]["pk"]["S"][0]["prefix"].as_str())
        .flatten();
        let known = [affnet_store::events::EVENTS_PK_PREFIX, LEDGER_PK_PREFIX];
        expect(
            &format!(
                "FilterCriteria must keep only INSERTs of one pk prefix of {known:?}, got {patterns:?}"
            ),
            prefix.is_some_and(|p| known.contains(&p)),
        );
        if prefix == Some(LEDGER_PK_PREFIX) {
            // Folds of one partition must run one at a time.
            let factor = get(p, "ParallelizationFactor").and_then(Value::as_u64);
            expect(
                "ParallelizationFactor must be 1 (or unset) on the ledger's mapping",
                factor.is_none_or(|f| f == 1),
            );
        }
        prefixes.extend(prefix.map(str::to_string));
    }
    prefixes.sort_unstable();
    if prefixes != ["EVENT#", LEDGER_PK_PREFIX] {
        problems.push(format!(
            "one mapping for the outbox and one for the ledger, got {prefixes:?}"
        ));
    }
    fail_if_any("events stream", problems);
}

#[test]
fn only_the_events_function_reads_the_stream_publishes_and_sends_its_failures() {
    let template = template();
    let mut problems = vec![];
    let (bus_id, _) = super::the_one(&template, "AWS::Events::EventBus");
    let mapping = resources_of_type(&template, "AWS::Lambda::EventSourceMapping")
        .into_iter()
        .map(|(_, m)| m)
        .next()
        .expect("an event source mapping");
    let dlq = get_path(
        mapping,
        &[
            "Properties",
            "DestinationConfig",
            "OnFailure",
            "Destination",
        ],
    )
    .and_then(arn_of)
    .unwrap_or("?");
    for f in functions(&template) {
        let events = f.binary == "events";
        let mut found = vec![];
        for policy in one_or_many(get(&f.properties, "Policies")) {
            statements(policy, f.logical_id.into(), &mut found);
        }
        let mut stream_granted = vec![];
        for (at, statement) in &found {
            let actions: Vec<&str> = one_or_many(get(statement, "Action"))
                .into_iter()
                .filter_map(Value::as_str)
                .collect();
            let resources = one_or_many(get(statement, "Resource"));
            for action in &actions {
                let ok = if STREAM_ACTIONS.contains(action) {
                    stream_granted.push(*action);
                    events && resources.iter().all(|r| is_stream_arn(r))
                } else if action.starts_with("events:") {
                    events
                        && *action == "events:PutEvents"
                        && resources.iter().all(|r| is_arn_of(r, bus_id))
                } else if action.starts_with("sqs:") && events {
                    *action == "sqs:SendMessage" && resources.iter().all(|r| is_arn_of(r, dlq))
                } else {
                    true
                };
                if !ok {
                    problems.push(format!("{at}: {action} on {resources:?}"));
                }
            }
        }
        stream_granted.sort_unstable();
        if events && stream_granted != STREAM_ACTIONS {
            problems.push(format!(
                "{}: must be granted {STREAM_ACTIONS:?} on the stream, has {stream_granted:?}",
                f.logical_id
            ));
        }
        if !events {
            continue;
        }
        let vars = get_path(&f.properties, &["Environment", "Variables"]);
        let var = |name: &str| vars.and_then(|v| get(v, name));
        if !var(BUS_NAME_VAR).is_some_and(|v| refs(v, bus_id)) {
            problems.push(format!(
                "{}: {BUS_NAME_VAR} must be !Ref {bus_id}",
                f.logical_id
            ));
        }
        if !var(WEBHOOK_SECRET_ARN_VAR).is_some_and(|v| refs(v, WEBHOOK_SECRET)) {
            problems.push(format!(
                "{}: {WEBHOOK_SECRET_ARN_VAR} must be !Ref {WEBHOOK_SECRET}",
                f.logical_id
            ));
        }
        if var(WEBHOOK_URLS_VAR)
            .and_then(|v| str_at(v, &["Ref"]))
            .is_none()
        {
            problems.push(format!(
                "{}: {WEBHOOK_URLS_VAR} must be !Ref of a parameter",
                f.logical_id
            ));
        }
        let reads_webhook_secret = found.iter().any(|(_, s)| {
            one_or_many(get(s, "Action"))
                .iter()
                .any(|a| a.as_str() == Some("secretsmanager:GetSecretValue"))
                && one_or_many(get(s, "Resource"))
                    .iter()
                    .any(|r| refs(r, WEBHOOK_SECRET))
        });
        if !reads_webhook_secret {
            problems.push(format!(
                "{}: must be allowed secretsmanager:GetSecretValue on !Ref {WEBHOOK_SECRET}",
                f.logical_id
            ));
        }
    }
    fail_if_any("events grants", problems);
}

#[test]
fn the_bus_has_a_rule_on_affnets_events_and_the_webhook_secret_is_kept() {
    let template = template();
    let mut problems = vec![];
    let (bus_id, _) = super::the_one(&template, "AWS::Events::EventBus");
    let rules: Vec<_> = resources_of_type(&template, "AWS::Events::Rule")
        .into_iter()
        .filter(|(_, r)| {
            get_path(r, &["Properties", "EventBusName"]).is_some_and(|b| refs(b, bus_id))
        })
        .collect();
    if rules.is_empty() {
        problems.push(format!("no AWS::Events::Rule on !Ref {bus_id}"));
    }
    let known: Vec<&str> = affnet_core::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    for (id, rule) in &rules {
        let pattern = get_path(rule, &["Properties", "EventPattern"]).unwrap_or(&Value::Null);
        let sources: Vec<&str> = one_or_many(get(pattern, "source"))
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        if sources != [affnet_core::event::BUS_SOURCE] {
            problems.push(format!(
                "{id}: EventPattern.source must be [{}], got {sources:?}",
                affnet_core::event::BUS_SOURCE
            ));
        }
        for kind in one_or_many(get(pattern, "detail-type"))
            .into_iter()
            .filter_map(Value::as_str)
        {
            if !known.contains(&kind) {
                problems.push(format!(
                    "{id}: detail-type `{kind}` is no event type ({known:?})"
                ));
            }
        }
        if one_or_many(get_path(rule, &["Properties", "Targets"])).is_empty() {
            problems.push(format!("{id}: has no target"));
        }
    }
    let secret = get_path(&template, &["Resources", WEBHOOK_SECRET]);
    let length = secret
        .and_then(|s| get_path(s, &["Properties", "GenerateSecretString", "PasswordLength"]))
        .and_then(Value::as_u64);
    if length.is_none_or(|l| l < 32)
        || secret.and_then(|s| str_at(s, &["DeletionPolicy"])) != Some("Retain")
    {
        problems.push(format!(
            "{WEBHOOK_SECRET}: a generated secret of at least 32 characters, DeletionPolicy Retain"
        ));
    }
    fail_if_any("event bus", problems);
}
