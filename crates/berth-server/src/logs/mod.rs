//! The CloudWatch Logs API (JSON 1.1, `Logs_20140328.<Action>`): log groups, streams and
//! events, kept in the log store ([`berth_logs::store::LogStore`]) rather than the state
//! store, so that a burst of logging never slows the ECS API or the controller.
//!
//! `requests` reads and checks each action's input; `groups` holds the handlers of groups,
//! streams, retention and tags, `events` those of writing, reading and searching events,
//! `tail` the live tail, answered as an event stream; `capture` keeps what agents ship of
//! their containers' output.
//! What Berth does not do (KMS keys, other log group classes, metric and subscription
//! filters, Logs Insights) is answered with an error that says so.

pub mod capture;
mod error;
mod events;
mod groups;
mod requests;
mod tail;

#[cfg(test)]
mod tests;

use crate::json_api;
use crate::registry::{Access, Action, Service};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use berth_aws::ServiceSpec;
use berth_logs::store::{LogError, Millis};
pub use error::{Error, Logs};

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "CloudWatch Logs",
    signing_name: "logs",
    json_target_prefix: Some("Logs_20140328"),
    query: None,
    query_compatible: false,
    rpc_v2_cbor: false,
};

/// The server's clock in the milliseconds CloudWatch Logs counts in.
pub fn millis(now: f64) -> Millis {
    (now * 1000.0) as Millis
}

/// A paging token: the store's own cursor, kept opaque to clients.
fn encode_token(cursor: &str) -> String {
    URL_SAFE_NO_PAD.encode(cursor)
}

fn decode_token(token: &str) -> Result<String, Error> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(Error::invalid_token)
}

impl From<LogError> for Error {
    fn from(error: LogError) -> Self {
        match error {
            LogError::GroupNotFound(_) => Error::group_not_found(),
            LogError::StreamNotFound { .. } => Error::stream_not_found(),
            LogError::GroupExists(_) => Error::group_exists(),
            LogError::StreamExists { .. } => Error::stream_exists(),
            LogError::BadCursor => Error::invalid_token(),
            fault => {
                tracing::error!(error = %fault, "log store failure");
                Error::fault(fault.to_string())
            }
        }
    }
}

use json_api::action;

fn declined(name: &'static str, why: &'static str) -> Action {
    json_api::declined(name, Error::new("InvalidOperationException", why))
}

pub fn service() -> Service {
    use requests as r;
    // Every action is a call on the log store, which does its own I/O (and fsyncs): answered
    // on the blocking pool, never queued behind the state store's writer.
    use Access::OwnStore as Logs;
    Service {
        spec: SPEC,
        actions: vec![
            action::<error::Logs, r::CreateLogGroup>("CreateLogGroup", Logs, groups::create_group),
            action::<error::Logs, r::GroupName>("DeleteLogGroup", Logs, groups::delete_group),
            action::<error::Logs, r::DescribeLogGroups>(
                "DescribeLogGroups",
                Logs,
                groups::describe_groups,
            ),
            action::<error::Logs, r::StreamName>("CreateLogStream", Logs, groups::create_stream),
            action::<error::Logs, r::StreamName>("DeleteLogStream", Logs, groups::delete_stream),
            action::<error::Logs, r::DescribeLogStreams>(
                "DescribeLogStreams",
                Logs,
                groups::describe_streams,
            ),
            action::<error::Logs, r::PutLogEvents>("PutLogEvents", Logs, events::put),
            action::<error::Logs, r::GetLogEvents>("GetLogEvents", Logs, events::get),
            action::<error::Logs, r::FilterLogEvents>("FilterLogEvents", Logs, events::filter),
            action::<error::Logs, r::PutRetentionPolicy>(
                "PutRetentionPolicy",
                Logs,
                groups::put_retention,
            ),
            action::<error::Logs, r::GroupName>(
                "DeleteRetentionPolicy",
                Logs,
                groups::delete_retention,
            ),
            action::<error::Logs, r::TagResource>("TagResource", Logs, groups::tag),
            action::<error::Logs, r::UntagResource>("UntagResource", Logs, groups::untag),
            action::<error::Logs, r::ListTagsForResource>(
                "ListTagsForResource",
                Logs,
                groups::list_tags,
            ),
            json_api::streaming_action::<error::Logs, r::StartLiveTail>(
                "StartLiveTail",
                Logs,
                tail::start,
            ),
            declined(
                "PutMetricFilter",
                "Berth does not turn log events into metrics yet",
            ),
            declined(
                "PutSubscriptionFilter",
                "Berth does not deliver log events to other services",
            ),
            declined(
                "StartQuery",
                "Berth does not run Logs Insights queries: search with FilterLogEvents and a \
                 filter pattern",
            ),
            declined(
                "AssociateKmsKey",
                "Berth does not encrypt log groups with KMS keys: logs stay on the server's \
                 own disk",
            ),
        ],
    }
}
