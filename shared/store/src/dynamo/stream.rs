//! The table's DynamoDB stream as the events function gets it: a record's `NewImage` (DynamoDB
//! JSON, `{"pk": {"S": "EVENT#3"}, "d": {"M": {...}}, ...}`) read back as the outbox event it
//! holds.

use super::{DATA, PK};
use crate::events::EVENTS_PK_PREFIX;
use crate::port::{Item, StoreError};
use affnet_core::Event;

/// `item` as the table's stream shows it (its `NewImage`, DynamoDB JSON): what the adapter
/// writes, for tests of the stream's readers.
pub fn stream_image(item: &Item) -> Result<serde_json::Value, StoreError> {
    let image = serde_dynamo::Item::from(super::codec::item_attrs(item)?);
    serde_json::to_value(&image).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// The event in a stream image; `None` when the image is not an outbox item.
pub fn outbox_event(image: &serde_json::Value) -> Result<Option<Event>, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("stream image: {what}"));
    let item: serde_dynamo::Item =
        serde_json::from_value(image.clone()).map_err(|e| corrupt(e.to_string()))?;
    let pk = match item.get(PK) {
        Some(serde_dynamo::AttributeValue::S(pk)) => pk,
        _ => return Err(corrupt(format!("no string `{PK}`"))),
    };
    if !pk.starts_with(EVENTS_PK_PREFIX) {
        return Ok(None);
    }
    let data = item
        .get(DATA)
        .cloned()
        .ok_or_else(|| corrupt(format!("{pk}: no `{DATA}`")))?;
    serde_dynamo::from_attribute_value(data)
        .map(Some)
        .map_err(|e| corrupt(format!("{pk}: {e}")))
}

/// The ledger partition of a stream image's item (`None`: not a ledger entry).
pub fn ledger_partition(image: &serde_json::Value) -> Option<u32> {
    let pk = image.get(PK)?.get("S")?.as_str()?;
    crate::ledger::partition_of_pk(pk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::event_write;
    use crate::port::Write;

    /// An outbox item as the adapter writes it comes back from its stream image unchanged.
    #[test]
    fn an_outbox_image_reads_back_as_its_event() {
        let event = Event::new(
            affnet_core::ids::new_id(),
            affnet_core::EventType::ConversionRecorded,
            chrono::Utc::now(),
            serde_json::json!({"integration_id": "I1", "payout": "15.00", "matched": true,
                "offer_id": null, "counts": {"seen": 3}}),
        );
        let Write::Put { item, .. } = event_write(&event).unwrap() else {
            panic!("a put")
        };
        let json = stream_image(&item).unwrap();
        assert_eq!(json["pk"]["S"].as_str(), Some(item.key.pk.as_str()));
        assert_eq!(outbox_event(&json).unwrap(), Some(event));

        let other = serde_json::json!({"pk": {"S": "CONV#cv_1"}, "sk": {"S": "META"}});
        assert_eq!(outbox_event(&other).unwrap(), None);
        assert!(outbox_event(&serde_json::json!({"sk": {"S": "x"}})).is_err());
        assert!(outbox_event(&serde_json::json!({"pk": {"S": "EVENT#1"}})).is_err());
    }
}
