//! The table's stream as Lambda's poller reads it, on moto: the stream turned on for a test
//! table, its records read with DynamoDB Streams' own API, kept by the event source mapping's
//! filter from template.yaml (the part of EventBridge's pattern syntax it uses: lists of
//! values and `prefix`).

use serde_json::{Value, json};

/// One call of moto's JSON API (`target`: `DynamoDB_20120810.UpdateTable`, ...).
async fn moto_call(moto: &str, target: &str, body: Value) -> Value {
    let reply = affnet_netguard::tls::client_builder().build().unwrap()
        .post(moto)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261201/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let text = reply.text().await.unwrap();
    assert!(status.is_success(), "{target}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Turns on `table`'s stream of new images, as template.yaml declares it.
pub async fn enable(moto: &str, table: &str) {
    let spec = json!({"StreamEnabled": true, "StreamViewType": "NEW_IMAGE"});
    moto_call(
        moto,
        "DynamoDB_20120810.UpdateTable",
        json!({"TableName": table, "StreamSpecification": spec}),
    )
    .await;
}

/// Every record of `table`'s stream so far, oldest first.
pub async fn records(moto: &str, table: &str) -> Vec<Value> {
    let streams = moto_call(
        moto,
        "DynamoDBStreams_20120810.ListStreams",
        json!({"TableName": table}),
    )
    .await;
    let arn = streams["Streams"][0]["StreamArn"]
        .as_str()
        .unwrap()
        .to_string();
    let described = moto_call(
        moto,
        "DynamoDBStreams_20120810.DescribeStream",
        json!({"StreamArn": arn}),
    )
    .await;
    let mut out = Vec::new();
    for shard in described["StreamDescription"]["Shards"].as_array().unwrap() {
        let iterator = moto_call(
            moto,
            "DynamoDBStreams_20120810.GetShardIterator",
            json!({"StreamArn": arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
        )
        .await;
        let got = moto_call(
            moto,
            "DynamoDBStreams_20120810.GetRecords",
            json!({"ShardIterator": iterator["ShardIterator"], "Limit": 1000}),
        )
        .await;
        out.extend(got["Records"].as_array().cloned().unwrap_or_default());
    }
    out
}

/// Whether `value` matches an EventBridge-style `pattern`: each key's pattern is a nested
/// object or a list of allowed values (strings, or `{"prefix": "..."}`).
pub fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, inner)| matches(inner, &value[key])),
        Value::Array(allowed) => allowed.iter().any(|a| match a {
            Value::Object(rule) => match (rule.get("prefix"), value.as_str()) {
                (Some(Value::String(prefix)), Some(text)) => text.starts_with(prefix.as_str()),
                _ => false,
            },
            other => other == value,
        }),
        _ => false,
    }
}
