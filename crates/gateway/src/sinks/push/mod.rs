//! Push adapters: FCM HTTP v1 and APNs (HTTP/2), each with its own
//! [`crate::RetryLogic`] so that a gone token (FCM `UNREGISTERED` or 404,
//! APNs 410) is a permanent error flagged `unregistered_token`.

mod apns;
mod config;
mod fcm;

pub use apns::{ApnsAdapter, ApnsRetryLogic, apns_id};
pub use config::{PushConfig, PushProvider};
pub use fcm::{FcmAdapter, FcmRetryLogic};

use serde_json::{Map, Value};

/// The key under which the `send_id` rides in the push payload's data.
pub const SEND_ID_KEY: &str = "triggerd_send_id";

/// The message's `data` as a JSON object (a non-object is kept under
/// `"data"`), without `aps`.
fn data_object(data: Option<&Value>) -> Map<String, Value> {
    match data {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map
            .iter()
            .filter(|(k, _)| k.as_str() != "aps")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(other) => Map::from_iter([("data".to_owned(), other.clone())]),
    }
}
