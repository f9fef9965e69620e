//! The DynamoDB table of sources, as both of its adapters address it: one item per source,
//! keyed by `source_id` (type S), holding the source's registration and its live checkpoint
//! (their attributes never clash), every change a conditional write.
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// The partition key's name.
pub(crate) const KEY: &str = "source_id";

/// The partition key's value for `source_id`.
pub(crate) fn key(source_id: &str) -> AttributeValue {
    AttributeValue::S(source_id.to_string())
}

/// Whether a write was refused because its condition failed (the lease moved, the item
/// exists, the backfill changed), as opposed to failing.
pub(crate) fn is_condition_failure<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    matches!(e, SdkError::ServiceError(s)
        if s.err().code() == Some("ConditionalCheckFailedException"))
}

/// A conditional write whose failed condition leaves nothing to do (another run did it, or it
/// no longer applies): done either way, unless the write itself failed.
pub(crate) fn ignore_failed_condition<T, E, F>(
    result: Result<T, SdkError<E>>,
    failed: impl FnOnce(SdkError<E>) -> F,
) -> Result<(), F>
where
    E: ProvideErrorMetadata,
{
    match result {
        Err(e) if !is_condition_failure(&e) => Err(failed(e)),
        _ => Ok(()),
    }
}

/// The number attribute `name` of `item`: `None` when it has none, why not when it is not a
/// whole number (for the adapter's "corrupt item" error).
pub(crate) fn whole_number(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<Option<i64>, String> {
    let Some(value) = item.get(name) else {
        return Ok(None);
    };
    let number = value.as_n().ok().and_then(|n| n.parse().ok());
    number
        .map(Some)
        .ok_or_else(|| format!("`{name}` is not a whole number"))
}

/// The item of `source_id`, read consistently (a write acknowledged before is in it).
pub(crate) async fn read(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    source_id: &str,
) -> Result<Option<HashMap<String, AttributeValue>>, SdkError<GetItemError>> {
    let out = client
        .get_item()
        .table_name(table)
        .key(KEY, key(source_id))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item)
}
