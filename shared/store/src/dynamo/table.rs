//! Creating the table of the layout (see the module docs): keys, `gsi1`, TTL on `ttl`.

use super::{DynamoStore, GSI1, GSI1PK, GSI1SK, PK, SK, TTL, build_error, done_unless, sdk_error};
use crate::port::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use std::time::Duration;

fn string_attr(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build_error)
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build_error)
}

fn gsi1() -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key(GSI1PK, KeyType::Hash)?)
        .key_schema(key(GSI1SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_error)
}

/// Creates the table unless it exists.
async fn create(client: &Client, name: &str) -> Result<(), StoreError> {
    let created = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attr(PK)?)
        .attribute_definitions(string_attr(SK)?)
        .attribute_definitions(string_attr(GSI1PK)?)
        .attribute_definitions(string_attr(GSI1SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(gsi1()?)
        .send()
        .await;
    done_unless(created, "ResourceInUseException", "CreateTable")
}

/// A new table is CREATING for a few seconds on DynamoDB (moto makes it ACTIVE at once).
async fn wait_active(client: &Client, name: &str) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let described = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTable", e))?;
        let status = described.table().and_then(|t| t.table_status());
        if status == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(StoreError::Unavailable(format!(
                "table {name} did not become active"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Enables TTL on `ttl`, unless it is already (an error if on another attribute).
async fn enable_ttl(client: &Client, name: &str) -> Result<(), StoreError> {
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("DescribeTimeToLive", e))?;
    let current = ttl.time_to_live_description();
    let status = current.and_then(|d| d.time_to_live_status());
    let enabled = matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    );
    if enabled {
        return match current.and_then(|d| d.attribute_name()) {
            Some(TTL) => Ok(()),
            other => Err(StoreError::Invalid(format!(
                "table {name} has TTL on {other:?}, not on `{TTL}`"
            ))),
        };
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL)
                .build()
                .map_err(build_error)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
    Ok(())
}

impl DynamoStore {
    /// Creates the table (on-demand billing, keys, `gsi1`), waits until it is active and enables
    /// TTL on `ttl`. Does nothing that is already done, so it may run on every start.
    pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
        create(client, name).await?;
        wait_active(client, name).await?;
        enable_ttl(client, name).await
    }
}
