//! What each Lambda function's code asks of DynamoDB, as IAM actions: the kinds of store calls
//! its routes make, each mapped by the store to every action it may send (the rare paths
//! included, e.g. an expired item in the way of a write). template.yaml must grant each
//! function all of them (tests/tests/template.rs); the Lambda boundary test
//! (tests/tests/lambda.rs) runs the real binaries behind a DynamoDB proxy that enforces the
//! template's grants, which catches a kind missing here.

use crate::routes::Function;
use affnet_store::DynamoStore;
use affnet_store::dynamo::StoreCall;
use std::collections::BTreeSet;

/// The kinds of store calls a function's code makes.
pub fn store_calls(function: Function) -> &'static [StoreCall] {
    use StoreCall::*;
    match function {
        // Reads integrations and offers; the postback tester creates its click ID's labels
        // (a write-once item; the postback itself is the postback function's).
        Function::ConnectionTest => &[Read, Create],
        // Clicks, conversions, postback logs and counters: created, replaced, updated, counted
        // and checked in transactions; never deleted.
        Function::Click | Function::Postback => &[Read, Create, Replace, Update, Add, Check],
        // Integrations and offers are deleted or replaced (DELETE /integrations/{id}, sync).
        // Leads move their queue entries (a delete and a put) with every change.
        Function::Api | Function::OfferSync | Function::Lead => StoreCall::ALL,
        // The stream hands it the outbox items; it folds the counter ledger: reads a
        // partition, deletes its entries and adds their sums (shared/store/src/ledger.rs).
        Function::Events => &[Read, Delete, Add],
    }
}

/// Every DynamoDB action (IAM name, `dynamodb:...`) the function's code may send.
pub fn dynamodb_actions(function: Function) -> BTreeSet<&'static str> {
    store_calls(function)
        .iter()
        .flat_map(|call| DynamoStore::actions(*call))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postback_and_click_functions_never_delete() {
        for function in [Function::Click, Function::Postback] {
            assert!(!dynamodb_actions(function).contains("dynamodb:DeleteItem"));
        }
        assert!(dynamodb_actions(Function::Api).contains("dynamodb:DeleteItem"));
    }
}
