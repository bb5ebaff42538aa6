//! The CloudWatch metrics API (signing name `monitoring`): PutMetricData, GetMetricStatistics,
//! GetMetricData and ListMetrics over the metric store ([`berth_metrics::MetricStore`]),
//! apart from the state store, so that a burst of datapoints never slows the ECS API.
//!
//! CloudWatch speaks three protocols here, and each request is answered in the one it used:
//! JSON 1.0 (`X-Amz-Target: GraniteServiceVersion20100801.<Action>`, what botocore 1.42.7
//! and later send, with each error's query-protocol code in `x-amzn-query-error`), the
//! query protocol of older clients (`Action=…&Version=2010-08-01`, XML answers), and
//! `smithy-rpc-v2-cbor`. All are read into one set of request types (`requests`); [`Protocol`] says how to write the
//! answer. `metrics` holds the handlers; the math and statistics are `berth-metrics`'.

pub mod alarms;
mod error;
mod metrics;
mod protocol;
mod requests;

#[cfg(test)]
mod tests;

use crate::registry::{Access, Action, Service};
use berth_aws::{QueryApi, ServiceSpec};
pub use error::Error;
pub use protocol::Protocol;

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "CloudWatch",
    signing_name: "monitoring",
    json_target_prefix: Some("GraniteServiceVersion20100801"),
    query: Some(QueryApi {
        version: "2010-08-01",
        namespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
    }),
    query_compatible: true,
    rpc_v2_cbor: true,
};

pub fn service() -> Service {
    use alarms as a;
    use requests as r;
    use Access::{Read, Write};
    // Every action is a call on the metric store, which does its own I/O (and fsyncs):
    // answered on the blocking pool, never queued behind the state store's writer.
    use Access::OwnStore as Metrics;
    Service {
        spec: SPEC,
        actions: vec![
            Action::new(
                "PutMetricData",
                Metrics,
                r::decode::<r::PutMetricData>,
                metrics::put,
            ),
            Action::new(
                "GetMetricStatistics",
                Metrics,
                r::decode::<r::GetMetricStatistics>,
                metrics::statistics,
            ),
            Action::new(
                "GetMetricData",
                Metrics,
                r::decode::<r::GetMetricData>,
                metrics::data,
            ),
            Action::new(
                "ListMetrics",
                Metrics,
                r::decode::<r::ListMetrics>,
                metrics::list,
            ),
            Action::new(
                "PutMetricAlarm",
                Write,
                r::decode::<a::PutMetricAlarm>,
                alarms::put,
            ),
            Action::new(
                "DescribeAlarms",
                Read,
                r::decode::<a::DescribeAlarms>,
                alarms::describe,
            ),
            Action::new(
                "DeleteAlarms",
                Write,
                r::decode::<a::AlarmNames>,
                alarms::delete,
            ),
            Action::new(
                "SetAlarmState",
                Write,
                r::decode::<a::SetAlarmState>,
                alarms::set_state,
            ),
            Action::new(
                "DescribeAlarmHistory",
                Read,
                r::decode::<a::DescribeAlarmHistory>,
                alarms::history,
            ),
            Action::new(
                "EnableAlarmActions",
                Write,
                r::decode::<a::AlarmNames>,
                alarms::enable_actions,
            ),
            Action::new(
                "DisableAlarmActions",
                Write,
                r::decode::<a::AlarmNames>,
                alarms::disable_actions,
            ),
            declined("PutDashboard"),
            declined("GetMetricWidgetImage"),
        ],
    }
}

fn declined(name: &'static str) -> Action {
    Action::declined(
        name,
        Error::new(
            "InvalidAction",
            format!(
                "Berth's CloudWatch answers the metrics API and metric alarms; it does not \
                 answer {name} yet"
            ),
        )
        .into_wire(),
    )
}
