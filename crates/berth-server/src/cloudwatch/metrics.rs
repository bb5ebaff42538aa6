//! The handlers: datapoints into the metric store in one batch, statistics per period, metric
//! data with metric math, and the listing of series.

use super::error::Error;
use super::requests::{
    list_token, GetMetricData, GetMetricStatistics, ListMetrics, PutMetricData, Query, QueryKind,
};
use crate::call::Call;
use berth_metrics::aggregate::align;
use berth_metrics::expr::{self, Expr, Grid, Inputs, Series};
use berth_metrics::store::{self, Datapoint, ListFilter, SeriesKey, StatisticsQuery};
use berth_metrics::{tier, Statistic, Unit};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

const TWO_WEEKS: i64 = 14 * 24 * 3600;
const TWO_HOURS: i64 = 2 * 3600;
const RECENTLY: i64 = 3 * 3600;
const LIST_PAGE: usize = 500;

pub fn put(call: &Call<'_>, request: &PutMetricData) -> Result<Value, Error> {
    let now = call.now() as i64;
    let mut points = Vec::with_capacity(request.data.len());
    for datum in &request.data {
        let time = datum.timestamp.unwrap_or(now);
        if time < now - TWO_WEEKS {
            return Err(Error::invalid(format!(
                "The parameter {}.Timestamp must specify a time no more than two weeks in the past.",
                datum.at
            )));
        }
        if time > now + TWO_HOURS {
            return Err(Error::invalid(format!(
                "The parameter {}.Timestamp must specify a time no more than two hours in the future.",
                datum.at
            )));
        }
        points.push(Datapoint {
            series: datum.series.clone(),
            time,
            unit: datum.unit,
            resolution: datum.resolution,
            sample: datum.sample.clone(),
        });
    }
    tracing::debug!(namespace = %request.namespace, datapoints = points.len(), "metric data put");
    call.metrics().put(&points, now)?;
    Ok(json!({}))
}

pub fn statistics(call: &Call<'_>, request: &GetMetricStatistics) -> Result<Value, Error> {
    let now = call.now() as i64;
    let periods = store::statistics(
        call.metrics(),
        &StatisticsQuery {
            series: &request.series,
            start: request.start,
            end: request.end,
            period: request.period,
            unit: request.unit,
        },
        now,
    )?;
    let protocol = request.protocol;
    let datapoints: Vec<Value> = periods
        .iter()
        .map(|p| {
            let mut point = Map::new();
            point.insert("Timestamp".into(), protocol.time(p.start));
            for statistic in &request.statistics {
                if let Some(v) = p.aggregate.statistic(*statistic) {
                    point.insert(statistic.to_string(), json!(v));
                }
            }
            if !request.extended.is_empty() {
                let extended: Map<String, Value> = request
                    .extended
                    .iter()
                    .filter_map(|(name, s)| Some((name.clone(), json!(p.aggregate.statistic(*s)?))))
                    .collect();
                if !extended.is_empty() {
                    point.insert("ExtendedStatistics".into(), protocol.map(extended));
                }
            }
            point.insert("Unit".into(), json!(p.unit.name()));
            Value::Object(point)
        })
        .collect();
    Ok(json!({"Label": request.series.name, "Datapoints": datapoints}))
}

/// A query's periods: from its start rounded as CloudWatch rounds it.
fn grid(start: i64, end: i64, period: i64, now: i64) -> Grid {
    let origin = tier::plan(period, start, now)
        .map(|plan| plan.origin)
        .unwrap_or_else(|| align(start, period.min(60)));
    Grid {
        origin,
        end,
        period,
    }
}

/// One metric stat's series: the statistic of each period, every unit's data together
/// unless the query names one.
fn stat_series(
    call: &Call<'_>,
    request: &GetMetricData,
    series: &SeriesKey,
    period: i64,
    stat: Statistic,
    unit: Option<Unit>,
) -> Result<Series, Error> {
    let now = call.now() as i64;
    let merged = store::statistics_by_start(
        call.metrics(),
        &StatisticsQuery {
            series,
            start: request.start,
            end: request.end,
            period,
            unit,
        },
        now,
    )?;
    Ok(merged
        .into_iter()
        .filter_map(|(t, a)| Some((t, a.statistic(stat)?)))
        .collect())
}

struct Evaluated<'a> {
    /// Every query's series so far, by id.
    series: HashMap<&'a str, Series>,
    /// Metric stats' labels and series, in the request's order (`METRICS()`).
    metrics: Vec<(String, Series)>,
    grid: Grid,
}

impl Inputs for Evaluated<'_> {
    fn series(&self, id: &str) -> Option<Series> {
        self.series.get(id).cloned()
    }

    fn metrics(&self) -> Vec<(String, Series)> {
        self.metrics.clone()
    }

    fn grid(&self) -> Grid {
        self.grid
    }
}

fn label(query: &Query) -> String {
    match (&query.label, &query.kind) {
        (Some(label), _) => label.clone(),
        (None, QueryKind::Stat { series, .. }) => series.name.clone(),
        (None, QueryKind::Expression { .. }) => query.id.clone(),
    }
}

fn validation(message: String) -> Error {
    Error::new("ValidationError", message)
}

/// Expressions in an order where each comes after those it names; an error for a name that
/// is no query's, or a cycle.
fn expression_order(queries: &[Query]) -> Result<Vec<usize>, Error> {
    let index: HashMap<&str, usize> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();
    let mut order = Vec::new();
    let mut state = vec![0u8; queries.len()]; // 0 new, 1 on the path, 2 done
    fn visit(
        i: usize,
        queries: &[Query],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        order: &mut Vec<usize>,
    ) -> Result<(), Error> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                return Err(validation(format!(
                    "Circular dependency: the expression {} depends on itself.",
                    queries[i].id
                )))
            }
            _ => {}
        }
        let QueryKind::Expression { expr, .. } = &queries[i].kind else {
            state[i] = 2;
            return Ok(());
        };
        state[i] = 1;
        for id in expr.references().0 {
            let Some(&j) = index.get(id) else {
                return Err(validation(format!(
                    "Error in expression {}: {id} names no query of this request.",
                    queries[i].id
                )));
            };
            visit(j, queries, index, state, order)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }
    for i in 0..queries.len() {
        visit(i, queries, &index, &mut state, &mut order)?;
    }
    Ok(order)
}

fn evaluate(expr: &Expr, id: &str, inputs: &Evaluated<'_>) -> Result<Series, Error> {
    let problem = |e: expr::ExprError| validation(format!("Error in expression {id}: {e}"));
    match expr::evaluate(expr, inputs).map_err(problem)? {
        expr::Value::Series(series) => Ok(series),
        expr::Value::Scalar(v) if v.is_finite() => {
            Ok(inputs.grid.starts().map(|t| (t, v)).collect())
        }
        expr::Value::Scalar(_) => Ok(Series::new()),
        expr::Value::List(mut list) if list.len() == 1 => Ok(list.remove(0)),
        expr::Value::List(list) => Err(validation(format!(
            "Error in expression {id}: it gives {} time series where one is needed; \
             combine them with SUM, AVG, MIN or MAX.",
            list.len()
        ))),
    }
}

pub fn data(call: &Call<'_>, request: &GetMetricData) -> Result<Value, Error> {
    let now = call.now() as i64;
    let queries = &request.queries;
    let default_period = queries
        .iter()
        .filter_map(|q| match q.kind {
            QueryKind::Stat { period, .. } => Some(period),
            QueryKind::Expression { .. } => None,
        })
        .min()
        .unwrap_or(60);
    let mut inputs = Evaluated {
        series: HashMap::new(),
        metrics: Vec::new(),
        grid: grid(request.start, request.end, default_period, now),
    };
    for query in queries {
        if let QueryKind::Stat {
            series,
            period,
            stat,
            unit,
        } = &query.kind
        {
            let values = stat_series(call, request, series, *period, *stat, *unit)?;
            inputs.metrics.push((label(query), values.clone()));
            inputs.series.insert(&query.id, values);
        }
    }
    for i in expression_order(queries)? {
        let QueryKind::Expression { expr, period } = &queries[i].kind else {
            continue;
        };
        inputs.grid = grid(
            request.start,
            request.end,
            period.unwrap_or(default_period),
            now,
        );
        let values = evaluate(expr, &queries[i].id, &inputs)?;
        inputs.series.insert(&queries[i].id, values);
    }
    let mut skip = request.skip;
    let mut room = request.max_datapoints;
    let mut more = false;
    let mut results = Vec::new();
    for query in queries.iter().filter(|q| q.return_data) {
        let series = inputs
            .series
            .get(query.id.as_str())
            .cloned()
            .unwrap_or_default();
        let mut points: Vec<(i64, f64)> = series
            .into_iter()
            .filter(|(t, _)| *t < request.end)
            .collect();
        if !request.ascending {
            points.reverse();
        }
        let skipped = skip.min(points.len());
        skip -= skipped;
        let page: Vec<(i64, f64)> = points[skipped..].iter().copied().take(room).collect();
        room -= page.len();
        let complete = skipped + page.len() == points.len();
        more |= !complete;
        results.push(json!({
            "Id": query.id,
            "Label": label(query),
            "Timestamps": page.iter().map(|(t, _)| request.protocol.time(*t)).collect::<Vec<_>>(),
            "Values": page.iter().map(|(_, v)| json!(v)).collect::<Vec<_>>(),
            "StatusCode": if complete { "Complete" } else { "PartialData" },
            "Messages": [],
        }));
    }
    let next =
        more.then(|| berth_aws::paging::encode_token(request.skip + request.max_datapoints - room));
    Ok(json!({"MetricDataResults": results, "NextToken": next, "Messages": []}))
}

pub fn list(call: &Call<'_>, request: &ListMetrics) -> Result<Value, Error> {
    let now = call.now() as i64;
    let filter = ListFilter {
        namespace: request.namespace.clone(),
        name: request.name.clone(),
        dimensions: request.dimensions.clone(),
        active_since: now
            - if request.recently_active {
                RECENTLY
            } else {
                store::LISTED_FOR
            },
    };
    let mut found = call
        .metrics()
        .list(&filter, request.after.as_ref(), LIST_PAGE + 1)?;
    let next = (found.len() > LIST_PAGE).then(|| {
        found.truncate(LIST_PAGE);
        found.last().map(list_token)
    });
    let metrics: Vec<Value> = found
        .iter()
        .map(|key| {
            json!({
                "Namespace": key.namespace,
                "MetricName": key.name,
                "Dimensions": key.dimensions().iter()
                    .map(|(n, v)| json!({"Name": n, "Value": v}))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"Metrics": metrics, "NextToken": next.flatten()}))
}
