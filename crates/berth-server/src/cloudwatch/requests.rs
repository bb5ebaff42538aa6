//! Each action's request, read from either protocol into one set of types and checked as
//! CloudWatch checks it, with its codes and words, before any handler runs.
//!
//! A JSON body carries numbers as numbers and times as epoch seconds; a query form carries
//! every value as text and times as ISO 8601 ([`berth_aws::query::Params::to_json`] turns
//! its members into JSON first). The readers in [`lenient`] take either.

use super::error::Error;
use super::protocol::Protocol;
use crate::registry::Input;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use berth_aws::AwsError;
use berth_metrics::expr::{self, Expr};
use berth_metrics::store::{Sample, SeriesKey};
use berth_metrics::{Statistic, Unit};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Datapoints one PutMetricData may carry.
const MAX_METRIC_DATA: usize = 1000;
const MAX_VALUES: usize = 150;
const MAX_DIMENSIONS: usize = 30;
const MAX_QUERIES: usize = 500;
const MAX_DIMENSION_FILTERS: usize = 10;
/// Periods one GetMetricStatistics may ask for.
const MAX_STATISTICS_DATAPOINTS: i64 = 1440;
/// Values outside ±2^360 are refused, as CloudWatch refuses them.
const LARGEST_VALUE: f64 = 2.348_542_582_773_833e108;

/// A request type read from its protocol-neutral raw form.
pub trait Checked: Sized + Send + 'static {
    type Raw: DeserializeOwned;
    fn check(raw: Self::Raw, protocol: Protocol) -> Result<Self, Error>;
}

/// Reads `input` into the request `T`.
pub fn decode<T: Checked>(input: Input<'_>) -> Result<T, AwsError> {
    let protocol = Protocol::of(&input);
    let value: Value = match input {
        Input::Json(body) => berth_aws::json::decode_input(body, &[])?,
        Input::Query(params) => params
            .to_json()
            .map_err(|e| Error::invalid(e.to_string()).into_wire())?,
        Input::Cbor(value) => value.clone(),
    };
    let raw: T::Raw = serde_path_to_error::deserialize(value).map_err(|e| {
        let message = format!("{}: {}", e.path(), e.inner());
        match protocol {
            Protocol::Json | Protocol::Cbor => AwsError::new("SerializationException", message),
            Protocol::Query => Error::invalid(message).into_wire(),
        }
    })?;
    T::check(raw, protocol).map_err(Error::into_wire)
}

/// Deserializers that take a JSON value or the query protocol's text for it.
pub(super) mod lenient {
    use serde::de::{DeserializeOwned, Error as _};
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    fn number(value: &Value) -> Option<f64> {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(&v)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("expected a number, got {v}"))),
        }
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match &v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected an integer, got {v}"))),
        }
    }

    pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(v) => Err(D::Error::custom(format!("expected true or false, got {v}"))),
        }
    }

    /// Epoch seconds (a number, or its text) or an ISO 8601 time.
    pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(None),
            Some(v) => number(&v)
                .or_else(|| v.as_str().and_then(berth_time::parse_rfc3339))
                .map(Some)
                .ok_or_else(|| {
                    D::Error::custom(format!(
                        "expected a time (epoch seconds or ISO 8601), got {v}"
                    ))
                }),
        }
    }

    /// A list; the query protocol sends an empty one as an empty value.
    pub fn list<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
        match Option::<Value>::deserialize(d)? {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    serde_json::from_value(item)
                        .map_err(|e| D::Error::custom(format!("member {}: {e}", i + 1)))
                })
                .collect(),
            Some(v) => Err(D::Error::custom(format!("expected a list, got {v}"))),
        }
    }

    pub fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let values: Vec<Value> = list(d)?;
        values
            .iter()
            .map(|v| {
                number(v).ok_or_else(|| D::Error::custom(format!("expected a number, got {v}")))
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawDimension {
    name: Option<String>,
    value: Option<String>,
}

/// Dimensions as CloudWatch checks them; `at` is the list's parameter name.
pub(super) fn dimensions(raw: Vec<RawDimension>, at: &str) -> Result<Vec<(String, String)>, Error> {
    if raw.len() > MAX_DIMENSIONS {
        return Err(Error::too_many(at, MAX_DIMENSIONS));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for (i, dimension) in raw.into_iter().enumerate() {
        let here = format!("{at}.member.{}", i + 1);
        let name = dimension
            .name
            .ok_or_else(|| Error::missing(&format!("{here}.Name")))?;
        let value = dimension
            .value
            .ok_or_else(|| Error::missing(&format!("{here}.Value")))?;
        check_length(&format!("{here}.Name"), &name, 255)?;
        check_length(&format!("{here}.Value"), &value, 1024)?;
        if out.iter().any(|(n, _)| *n == name) {
            return Err(Error::invalid(format!(
                "No metric may specify the same dimension name twice: {name} is given twice in {at}."
            )));
        }
        out.push((name, value));
    }
    Ok(out)
}

pub(super) fn check_length(parameter: &str, value: &str, max: usize) -> Result<(), Error> {
    let length = value.chars().count();
    if length == 0 || length > max {
        return Err(Error::invalid_value(
            parameter,
            value,
            &format!("It must be 1 to {max} characters long."),
        ));
    }
    Ok(())
}

pub(super) fn namespace(value: Option<String>) -> Result<String, Error> {
    let namespace = value.ok_or_else(|| Error::missing("Namespace"))?;
    check_length("Namespace", &namespace, 255)?;
    if namespace.starts_with(':') {
        return Err(Error::invalid_value(
            "Namespace",
            &namespace,
            "It must not begin with a colon.",
        ));
    }
    Ok(namespace)
}

pub(super) fn metric_name(value: Option<String>, at: &str) -> Result<String, Error> {
    let name = value.ok_or_else(|| Error::missing(at))?;
    check_length(at, &name, 255)?;
    Ok(name)
}

pub(super) fn unit(value: Option<String>, at: &str) -> Result<Option<Unit>, Error> {
    value
        .map(|name| {
            Unit::parse(&name).ok_or_else(|| {
                Error::invalid_value(at, &name, &format!("Units are {}.", Unit::names()))
            })
        })
        .transpose()
}

/// A period CloudWatch takes: 1, 5, 10, 30 or a multiple of 60 seconds.
fn period(value: i64, at: &str) -> Result<i64, Error> {
    if value < 1
        || (value < 60 && ![1, 5, 10, 30].contains(&value))
        || (value > 60 && value % 60 != 0)
    {
        return Err(Error::invalid_value(
            at,
            value,
            "The period must be 1, 5, 10, 30 or a multiple of 60 seconds.",
        ));
    }
    Ok(value)
}

fn time_range(start: Option<f64>, end: Option<f64>) -> Result<(i64, i64), Error> {
    let start = start.ok_or_else(|| Error::missing("StartTime"))?.floor() as i64;
    let end = end.ok_or_else(|| Error::missing("EndTime"))?.floor() as i64;
    if start >= end {
        return Err(Error::invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    Ok((start, end))
}

pub(super) fn value(v: f64, at: &str) -> Result<f64, Error> {
    if !v.is_finite() || v.abs() > LARGEST_VALUE {
        return Err(Error::invalid_value(
            at,
            v,
            "Values must be finite numbers between -2^360 and 2^360.",
        ));
    }
    Ok(v)
}

// PutMetricData

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawPut {
    namespace: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    metric_data: Vec<RawDatum>,
    #[serde(default, deserialize_with = "lenient::list")]
    entity_metric_data: Vec<RawEntityData>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawEntityData {
    #[serde(default, deserialize_with = "lenient::list")]
    metric_data: Vec<RawDatum>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawDatum {
    metric_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    dimensions: Vec<RawDimension>,
    #[serde(default, deserialize_with = "lenient::time")]
    timestamp: Option<f64>,
    #[serde(default, deserialize_with = "lenient::f64")]
    value: Option<f64>,
    statistic_values: Option<RawStatisticSet>,
    #[serde(default, deserialize_with = "lenient::numbers")]
    values: Vec<f64>,
    #[serde(default, deserialize_with = "lenient::numbers")]
    counts: Vec<f64>,
    unit: Option<String>,
    #[serde(default, deserialize_with = "lenient::i64")]
    storage_resolution: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawStatisticSet {
    #[serde(default, deserialize_with = "lenient::f64")]
    sample_count: Option<f64>,
    #[serde(default, deserialize_with = "lenient::f64")]
    sum: Option<f64>,
    #[serde(default, deserialize_with = "lenient::f64")]
    minimum: Option<f64>,
    #[serde(default, deserialize_with = "lenient::f64")]
    maximum: Option<f64>,
}

pub struct PutMetricData {
    pub namespace: String,
    pub data: Vec<Datum>,
}

pub struct Datum {
    /// `MetricData.member.N`, for errors found once the time is known.
    pub at: String,
    pub series: SeriesKey,
    /// Epoch seconds; the time of the call when not given.
    pub timestamp: Option<i64>,
    pub unit: Unit,
    pub resolution: i64,
    pub sample: Sample,
}

impl Checked for PutMetricData {
    type Raw = RawPut;

    fn check(raw: RawPut, _: Protocol) -> Result<Self, Error> {
        let namespace = namespace(raw.namespace)?;
        if namespace.starts_with("AWS/") {
            return Err(Error::invalid_value(
                "Namespace",
                &namespace,
                "Namespaces beginning with AWS/ are reserved for metrics Berth itself publishes.",
            ));
        }
        let raw_data: Vec<RawDatum> = raw
            .metric_data
            .into_iter()
            .chain(
                raw.entity_metric_data
                    .into_iter()
                    .flat_map(|e| e.metric_data),
            )
            .collect();
        if raw_data.is_empty() {
            return Err(Error::missing("MetricData"));
        }
        if raw_data.len() > MAX_METRIC_DATA {
            return Err(Error::too_many("MetricData", MAX_METRIC_DATA));
        }
        let data = raw_data
            .into_iter()
            .enumerate()
            .map(|(i, raw)| datum(raw, &namespace, &format!("MetricData.member.{}", i + 1)))
            .collect::<Result<_, _>>()?;
        Ok(PutMetricData { namespace, data })
    }
}

fn datum(raw: RawDatum, namespace: &str, at: &str) -> Result<Datum, Error> {
    let name = metric_name(raw.metric_name, &format!("{at}.MetricName"))?;
    let dims = dimensions(raw.dimensions, &format!("{at}.Dimensions"))?;
    let given = [
        (raw.value.is_some(), "Value"),
        (raw.statistic_values.is_some(), "StatisticValues"),
        (!raw.values.is_empty(), "Values"),
    ];
    let named: Vec<String> = given
        .iter()
        .filter(|(is, _)| *is)
        .map(|(_, name)| format!("{at}.{name}"))
        .collect();
    if named.len() > 1 {
        return Err(Error::combination(format!(
            "The parameters {} are mutually exclusive and you have specified more than one.",
            named.join(" and ")
        )));
    }
    if !raw.counts.is_empty() && raw.values.is_empty() {
        return Err(Error::combination(format!(
            "The parameter {at}.Counts must be given with {at}.Values."
        )));
    }
    let sample = if let Some(v) = raw.value {
        Sample::Values(vec![(value(v, &format!("{at}.Value"))?, 1.0)])
    } else if let Some(set) = raw.statistic_values {
        statistic_set(set, &format!("{at}.StatisticValues"))?
    } else if !raw.values.is_empty() {
        if raw.values.len() > MAX_VALUES {
            return Err(Error::too_many(&format!("{at}.Values"), MAX_VALUES));
        }
        if !raw.counts.is_empty() && raw.counts.len() != raw.values.len() {
            return Err(Error::invalid(format!(
                "The parameters {at}.Values and {at}.Counts must be of the same size."
            )));
        }
        let mut pairs = Vec::with_capacity(raw.values.len());
        for (i, v) in raw.values.iter().enumerate() {
            let v = value(*v, &format!("{at}.Values.member.{}", i + 1))?;
            let count = raw.counts.get(i).copied().unwrap_or(1.0);
            if !count.is_finite() || count < 0.0 {
                return Err(Error::invalid_value(
                    &format!("{at}.Counts.member.{}", i + 1),
                    count,
                    "Counts must be zero or more.",
                ));
            }
            pairs.push((v, count));
        }
        Sample::Values(pairs)
    } else {
        return Err(Error::combination(format!(
            "At least one of the parameters {at}.Value, {at}.StatisticValues or {at}.Values must be specified."
        )));
    };
    let resolution = match raw.storage_resolution {
        None | Some(60) => 60,
        Some(1) => 1,
        Some(other) => {
            return Err(Error::invalid_value(
                &format!("{at}.StorageResolution"),
                other,
                "The storage resolution must be 1 (high resolution) or 60 seconds.",
            ))
        }
    };
    Ok(Datum {
        at: at.to_string(),
        series: SeriesKey::new(namespace, name, dims),
        timestamp: raw.timestamp.map(|t| t.floor() as i64),
        unit: unit(raw.unit, &format!("{at}.Unit"))?.unwrap_or(Unit::None),
        resolution,
        sample,
    })
}

fn statistic_set(raw: RawStatisticSet, at: &str) -> Result<Sample, Error> {
    let member = |v: Option<f64>, name: &str| -> Result<f64, Error> {
        let here = format!("{at}.{name}");
        value(v.ok_or_else(|| Error::missing(&here))?, &here)
    };
    let count = member(raw.sample_count, "SampleCount")?;
    let sum = member(raw.sum, "Sum")?;
    let min = member(raw.minimum, "Minimum")?;
    let max = member(raw.maximum, "Maximum")?;
    if count <= 0.0 {
        return Err(Error::invalid_value(
            &format!("{at}.SampleCount"),
            count,
            "The sample count must be greater than zero.",
        ));
    }
    if min > max {
        return Err(Error::combination(format!(
            "The parameter {at}.Minimum must not be greater than {at}.Maximum."
        )));
    }
    Ok(Sample::Set {
        count,
        sum,
        min,
        max,
    })
}

// GetMetricStatistics

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawStatistics {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    dimensions: Vec<RawDimension>,
    #[serde(default, deserialize_with = "lenient::time")]
    start_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::time")]
    end_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::i64")]
    period: Option<i64>,
    #[serde(default, deserialize_with = "lenient::list")]
    statistics: Vec<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    extended_statistics: Vec<String>,
    unit: Option<String>,
}

pub struct GetMetricStatistics {
    pub protocol: Protocol,
    pub series: SeriesKey,
    pub start: i64,
    pub end: i64,
    pub period: i64,
    pub statistics: Vec<Statistic>,
    /// Percentiles with the names they were asked by.
    pub extended: Vec<(String, Statistic)>,
    pub unit: Option<Unit>,
}

impl Checked for GetMetricStatistics {
    type Raw = RawStatistics;

    fn check(raw: RawStatistics, protocol: Protocol) -> Result<Self, Error> {
        let namespace = namespace(raw.namespace)?;
        let name = metric_name(raw.metric_name, "MetricName")?;
        let dims = dimensions(raw.dimensions, "Dimensions")?;
        let (start, end) = time_range(raw.start_time, raw.end_time)?;
        let period = period(
            raw.period.ok_or_else(|| Error::missing("Period"))?,
            "Period",
        )?;
        match (
            raw.statistics.is_empty(),
            raw.extended_statistics.is_empty(),
        ) {
            (true, true) => {
                return Err(Error::missing("Statistics or ExtendedStatistics"));
            }
            (false, false) => {
                return Err(Error::combination(
                    "Must specify either Statistics or ExtendedStatistics, but not both.",
                ))
            }
            _ => {}
        }
        if raw.statistics.len() > 5 {
            return Err(Error::too_many("Statistics", 5));
        }
        if raw.extended_statistics.len() > 10 {
            return Err(Error::too_many("ExtendedStatistics", 10));
        }
        let statistics = raw
            .statistics
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Statistic::simple(s).ok_or_else(|| {
                    Error::invalid(format!(
                        "The parameter Statistics.member.{} must be a value in the set \
                         [ Average, Sum, SampleCount, Maximum, Minimum ].",
                        i + 1
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let extended = raw
            .extended_statistics
            .into_iter()
            .enumerate()
            .map(|(i, s)| match Statistic::percentile(&s) {
                Some(statistic) => Ok((s, statistic)),
                None => Err(Error::invalid_value(
                    &format!("ExtendedStatistics.member.{}", i + 1),
                    &s,
                    "Berth answers percentiles: p0 to p100 with up to two decimals (p90, p99.9).",
                )),
            })
            .collect::<Result<_, _>>()?;
        let periods = (end - start + period - 1) / period;
        if periods > MAX_STATISTICS_DATAPOINTS {
            return Err(Error::combination(format!(
                "You have requested up to {periods} datapoints, which exceeds the limit of \
                 {MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by \
                 increasing Period, or decreasing the time range."
            )));
        }
        Ok(GetMetricStatistics {
            protocol,
            series: SeriesKey::new(namespace, name, dims),
            start,
            end,
            period,
            statistics,
            extended,
            unit: unit(raw.unit, "Unit")?,
        })
    }
}

// GetMetricData

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawData {
    #[serde(default, deserialize_with = "lenient::list")]
    metric_data_queries: Vec<RawQuery>,
    #[serde(default, deserialize_with = "lenient::time")]
    start_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient::time")]
    end_time: Option<f64>,
    next_token: Option<String>,
    scan_by: Option<String>,
    #[serde(default, deserialize_with = "lenient::i64")]
    max_datapoints: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawQuery {
    id: Option<String>,
    metric_stat: Option<RawMetricStat>,
    expression: Option<String>,
    label: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    return_data: Option<bool>,
    #[serde(default, deserialize_with = "lenient::i64")]
    period: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawMetricStat {
    metric: Option<RawMetric>,
    #[serde(default, deserialize_with = "lenient::i64")]
    period: Option<i64>,
    stat: Option<String>,
    unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawMetric {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    dimensions: Vec<RawDimension>,
}

pub struct GetMetricData {
    pub protocol: Protocol,
    pub queries: Vec<Query>,
    pub start: i64,
    pub end: i64,
    /// Datapoints already answered on earlier pages.
    pub skip: usize,
    pub ascending: bool,
    pub max_datapoints: usize,
}

pub struct Query {
    pub id: String,
    pub label: Option<String>,
    pub return_data: bool,
    pub kind: QueryKind,
}

pub enum QueryKind {
    Stat {
        series: SeriesKey,
        period: i64,
        stat: Statistic,
        unit: Option<Unit>,
    },
    Expression {
        expr: Expr,
        period: Option<i64>,
    },
}

fn is_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Checked for GetMetricData {
    type Raw = RawData;

    fn check(raw: RawData, protocol: Protocol) -> Result<Self, Error> {
        if raw.metric_data_queries.is_empty() {
            return Err(Error::missing("MetricDataQueries"));
        }
        if raw.metric_data_queries.len() > MAX_QUERIES {
            return Err(Error::too_many("MetricDataQueries", MAX_QUERIES));
        }
        let (start, end) = time_range(raw.start_time, raw.end_time)?;
        let mut queries: Vec<Query> = Vec::with_capacity(raw.metric_data_queries.len());
        for (i, raw) in raw.metric_data_queries.into_iter().enumerate() {
            let at = format!("MetricDataQueries.member.{}", i + 1);
            let query = query(raw, &at)?;
            if queries.iter().any(|q| q.id == query.id) {
                return Err(Error::new(
                    "ValidationError",
                    format!(
                        "The Id {} is used by more than one query; ids must be unique.",
                        query.id
                    ),
                ));
            }
            queries.push(query);
        }
        if !queries.iter().any(|q| q.return_data) {
            return Err(Error::new(
                "ValidationError",
                "At least one query must have ReturnData set to true.",
            ));
        }
        let ascending = ascending(raw.scan_by.as_deref())?;
        let skip = offset(raw.next_token)?;
        let max_datapoints = match raw.max_datapoints {
            None => 100_800,
            Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(n) => {
                return Err(Error::invalid_value(
                    "MaxDatapoints",
                    n,
                    "It must be at least 1.",
                ))
            }
        };
        Ok(GetMetricData {
            protocol,
            queries,
            start,
            end,
            skip,
            ascending,
            max_datapoints,
        })
    }
}

fn query(raw: RawQuery, at: &str) -> Result<Query, Error> {
    let id = raw.id.ok_or_else(|| Error::missing(&format!("{at}.Id")))?;
    if !is_id(&id) || id.len() > 255 {
        return Err(Error::invalid_value(
            &format!("{at}.Id"),
            &id,
            "An id starts with a lowercase letter and holds only letters, digits and underscores.",
        ));
    }
    let kind = match (raw.metric_stat, raw.expression) {
        (Some(stat), None) => {
            let here = format!("{at}.MetricStat");
            let metric = stat
                .metric
                .ok_or_else(|| Error::missing(&format!("{here}.Metric")))?;
            let namespace = metric
                .namespace
                .ok_or_else(|| Error::missing(&format!("{here}.Metric.Namespace")))?;
            check_length(&format!("{here}.Metric.Namespace"), &namespace, 255)?;
            let name = metric_name(metric.metric_name, &format!("{here}.Metric.MetricName"))?;
            let dims = dimensions(metric.dimensions, &format!("{here}.Metric.Dimensions"))?;
            let period = period(
                stat.period
                    .ok_or_else(|| Error::missing(&format!("{here}.Period")))?,
                &format!("{here}.Period"),
            )?;
            let stat_name = stat
                .stat
                .ok_or_else(|| Error::missing(&format!("{here}.Stat")))?;
            let statistic = Statistic::parse(&stat_name).ok_or_else(|| {
                Error::invalid_value(
                    &format!("{here}.Stat"),
                    &stat_name,
                    "Berth answers SampleCount, Average, Sum, Minimum, Maximum and percentiles (p99, p99.9).",
                )
            })?;
            QueryKind::Stat {
                series: SeriesKey::new(namespace, name, dims),
                period,
                stat: statistic,
                unit: unit(stat.unit, &format!("{here}.Unit"))?,
            }
        }
        (None, Some(text)) => {
            if text.is_empty() || text.len() > 2048 {
                return Err(Error::invalid_value(
                    &format!("{at}.Expression"),
                    &text,
                    "An expression is 1 to 2048 characters long.",
                ));
            }
            let expr = expr::parse(&text).map_err(|e| {
                Error::new("ValidationError", format!("Error in expression {id}: {e}"))
            })?;
            let period = raw
                .period
                .map(|p| period(p, &format!("{at}.Period")))
                .transpose()?;
            QueryKind::Expression { expr, period }
        }
        (Some(_), Some(_)) | (None, None) => {
            return Err(Error::combination(format!(
                "The parameter {at} must have exactly one of MetricStat or Expression."
            )))
        }
    };
    Ok(Query {
        id,
        label: raw.label,
        return_data: raw.return_data.unwrap_or(true),
        kind,
    })
}

// ListMetrics

/// The token of the ListMetrics page after `key`.
pub fn list_token(key: &SeriesKey) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_string(&key.order()).unwrap_or_default())
}

/// The series a ListMetrics token stands for.
fn decode_list_token(token: &str) -> Result<SeriesKey, Error> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<(String, String, String)>(&bytes).ok())
        .and_then(|(namespace, name, dimensions)| {
            SeriesKey::from_text(namespace, name, &dimensions).ok()
        })
        .ok_or_else(|| Error::invalid("The NextToken is not one ListMetrics issued."))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RawList {
    namespace: Option<String>,
    metric_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    dimensions: Vec<RawDimension>,
    next_token: Option<String>,
    recently_active: Option<String>,
}

pub struct ListMetrics {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub dimensions: Vec<(String, Option<String>)>,
    pub recently_active: bool,
    pub after: Option<SeriesKey>,
}

impl Checked for ListMetrics {
    type Raw = RawList;

    fn check(raw: RawList, _: Protocol) -> Result<Self, Error> {
        if let Some(namespace) = &raw.namespace {
            check_length("Namespace", namespace, 255)?;
        }
        if let Some(name) = &raw.metric_name {
            check_length("MetricName", name, 255)?;
        }
        if raw.dimensions.len() > MAX_DIMENSION_FILTERS {
            return Err(Error::too_many("Dimensions", MAX_DIMENSION_FILTERS));
        }
        let dimensions = raw
            .dimensions
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let at = format!("Dimensions.member.{}", i + 1);
                let name = d
                    .name
                    .ok_or_else(|| Error::missing(&format!("{at}.Name")))?;
                check_length(&format!("{at}.Name"), &name, 255)?;
                Ok((name, d.value))
            })
            .collect::<Result<_, Error>>()?;
        let recently_active = match raw.recently_active.as_deref() {
            None => false,
            Some("PT3H") => true,
            Some(other) => {
                return Err(Error::invalid_value(
                    "RecentlyActive",
                    other,
                    "The only value it takes is PT3H.",
                ))
            }
        };
        let after = raw
            .next_token
            .map(|token| decode_list_token(&token))
            .transpose()?;
        Ok(ListMetrics {
            namespace: raw.namespace,
            name: raw.metric_name,
            dimensions,
            recently_active,
            after,
        })
    }
}

/// Whether `ScanBy` asks for the oldest first (the default is the newest first).
pub(super) fn ascending(scan_by: Option<&str>) -> Result<bool, Error> {
    match scan_by {
        None | Some("TimestampDescending") => Ok(false),
        Some("TimestampAscending") => Ok(true),
        Some(other) => Err(Error::invalid_value(
            "ScanBy",
            other,
            "It must be TimestampDescending or TimestampAscending.",
        )),
    }
}

fn invalid_token() -> Error {
    Error::new(
        "InvalidNextToken",
        "The NextToken was not issued by this API.",
    )
}

/// Where GetMetricData's answer goes on: its datapoints computed again, from what its
/// `NextToken` says, or the first.
pub(super) fn offset(token: Option<String>) -> Result<usize, Error> {
    match token {
        None => Ok(0),
        Some(token) => berth_aws::paging::decode_token(&token).ok_or_else(invalid_token),
    }
}

/// The page of `items` after the item `token` names, in the order of `key` (distinct per
/// item), at most `size`, and the token of the next (see `berth_aws::paging::keyed_page`).
pub(super) fn page<T, K: Ord + Serialize + DeserializeOwned>(
    items: Vec<T>,
    token: Option<&str>,
    size: usize,
    key: impl Fn(&T) -> K,
) -> Result<(Vec<T>, Option<String>), Error> {
    let after = token
        .map(|token| berth_aws::paging::decode_key::<K>(token).ok_or_else(invalid_token))
        .transpose()?;
    let (page, next) = berth_aws::paging::keyed_page(items, after.as_ref(), size, key);
    Ok((page, next.map(|key| berth_aws::paging::encode_key(&key))))
}
