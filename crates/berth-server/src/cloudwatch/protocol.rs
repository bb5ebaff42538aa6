//! How a CloudWatch request arrived, and so how its answer is written.

use crate::registry::Input;

/// How a request arrived, and so how its answer is written: the JSON protocol counts time in
/// epoch seconds and writes maps as objects; the query protocol's XML writes ISO 8601 times
/// and maps as entries; CBOR writes maps as maps and times with tag 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Json,
    Query,
    /// `smithy-rpc-v2-cbor`: maps as objects, times as CBOR's tag 1.
    Cbor,
}

impl Protocol {
    pub fn of(input: &Input<'_>) -> Protocol {
        match input {
            Input::Json(_) => Protocol::Json,
            Input::Query(_) => Protocol::Query,
            Input::Cbor(_) => Protocol::Cbor,
        }
    }

    /// A time as this protocol writes it.
    pub fn time(self, seconds: i64) -> serde_json::Value {
        match self {
            Protocol::Json => serde_json::Value::from(seconds),
            Protocol::Query => serde_json::Value::from(berth_time::iso8601(seconds as f64)),
            Protocol::Cbor => serde_json::json!({ berth_aws::cbor::EPOCH_SECONDS: seconds }),
        }
    }

    /// A map of data keys as this protocol writes it.
    pub fn map(self, map: serde_json::Map<String, serde_json::Value>) -> serde_json::Value {
        match self {
            Protocol::Json | Protocol::Cbor => serde_json::Value::Object(map),
            Protocol::Query => {
                serde_json::json!({ berth_aws::xml::MAP: serde_json::Value::Object(map) })
            }
        }
    }
}
