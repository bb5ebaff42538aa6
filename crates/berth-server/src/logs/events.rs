//! Log events: written by PutLogEvents (and by agents, through the same store), read one
//! stream at a time with GetLogEvents' forward and backward tokens, and searched across
//! streams with FilterLogEvents and a filter pattern.

use super::error::Error;
use super::requests as r;
use super::{decode_token, encode_token, millis};
use crate::call::Call;
use berth_logs::filter::Pattern;
use berth_logs::store::{Event, FilterQuery, Millis, NewEvent, Position};
use serde_json::{json, Value};

const HOUR: Millis = 3600 * 1000;
const DAY: Millis = 24 * HOUR;
/// How far ahead of the server's clock an event may be, and how far behind, as on AWS.
const TOO_NEW: Millis = 2 * HOUR;
const TOO_OLD: Millis = 14 * DAY;

/// Which events of a chronological batch are kept: those neither too new, too old nor past
/// the group's retention. Indexes as `rejectedLogEventsInfo` gives them (start inclusive,
/// ends exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    pub from: usize,
    pub to: usize,
    pub too_old_end: usize,
    pub expired_end: usize,
    pub too_new_start: usize,
}

pub fn accepted(timestamps: &[Millis], now: Millis, retention_days: Option<u32>) -> Accepted {
    let first_at_or_after =
        |bound: Millis| timestamps.partition_point(|timestamp| *timestamp < bound);
    let too_old_end = first_at_or_after(now - TOO_OLD);
    let expired_end =
        retention_days.map_or(0, |days| first_at_or_after(now - Millis::from(days) * DAY));
    let too_new_start = timestamps.partition_point(|timestamp| *timestamp <= now + TOO_NEW);
    let from = too_old_end.max(expired_end).min(too_new_start);
    Accepted {
        from,
        to: too_new_start,
        too_old_end,
        expired_end,
        too_new_start,
    }
}

pub fn put(call: &Call<'_>, request: &r::PutLogEvents) -> Result<Value, Error> {
    let logs = call.logs();
    let now = millis(call.now());
    let group = logs
        .group(&request.log_group_name)?
        .ok_or_else(Error::group_not_found)?;
    let timestamps: Vec<Millis> = request.log_events.iter().map(|e| e.timestamp).collect();
    let kept = accepted(&timestamps, now, group.retention_days);
    let events: Vec<NewEvent> = request.log_events[kept.from..kept.to]
        .iter()
        .map(|e| NewEvent {
            timestamp: e.timestamp,
            message: e.message.clone(),
        })
        .collect();
    if !events.is_empty() {
        logs.append(
            &request.log_group_name,
            &request.log_stream_name,
            &events,
            now,
        )?;
    }
    let mut rejected = json!({});
    if kept.too_new_start < timestamps.len() {
        rejected["tooNewLogEventStartIndex"] = json!(kept.too_new_start);
    }
    if kept.too_old_end > 0 {
        rejected["tooOldLogEventEndIndex"] = json!(kept.too_old_end);
    }
    if kept.expired_end > 0 {
        rejected["expiredLogEventEndIndex"] = json!(kept.expired_end);
    }
    let mut answer = json!({});
    if rejected.as_object().is_some_and(|r| !r.is_empty()) {
        answer["rejectedLogEventsInfo"] = rejected;
    }
    Ok(answer)
}

/// A GetLogEvents token: `f/<seq>` reads on after an event, `b/<seq>` back before one.
fn position(token: &str) -> Result<Position, Error> {
    let seq = |digits: &str| digits.parse::<u64>().map_err(|_| Error::invalid_token());
    match token.split_at_checked(2) {
        Some(("f/", digits)) => Ok(Position::After(seq(digits)?)),
        Some(("b/", digits)) => Ok(Position::Before(seq(digits)?)),
        _ => Err(Error::invalid_token()),
    }
}

fn forward(seq: u64) -> String {
    format!("f/{seq:020}")
}

fn backward(seq: u64) -> String {
    format!("b/{seq:020}")
}

/// The tokens after a page: around its events, or, for a page with none, where the reader
/// stands (so that at the end of a stream the same token comes back, as on AWS).
fn tokens(from: Position, first: Option<u64>, last: Option<u64>) -> (String, String) {
    match (first, last) {
        (Some(first), Some(last)) => (forward(last), backward(first)),
        _ => match from {
            Position::After(seq) => (forward(seq), backward(seq + 1)),
            Position::Before(seq) => (forward(seq.saturating_sub(1)), backward(seq)),
            Position::Head | Position::Tail => (forward(0), backward(0)),
        },
    }
}

pub fn get(call: &Call<'_>, request: &r::GetLogEvents) -> Result<Value, Error> {
    let group = request.group.name()?;
    let from = match &request.next_token {
        Some(token) => position(token)?,
        None if request.start_from_head => Position::Head,
        None => Position::Tail,
    };
    let limit = request.limit.map_or(10_000, |l| l as usize);
    let page = call.logs().read(
        group,
        &request.log_stream_name,
        (request.start_time, request.end_time),
        from,
        limit,
    )?;
    let (next_forward, next_backward) = tokens(from, page.first_seq, page.last_seq);
    let events: Vec<Value> = page
        .events
        .iter()
        .map(|e| json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}))
        .collect();
    Ok(json!({
        "events": events,
        "nextForwardToken": next_forward,
        "nextBackwardToken": next_backward,
    }))
}

fn render_found(event: &Event) -> Value {
    json!({
        "logStreamName": event.stream,
        "timestamp": event.timestamp,
        "message": event.message,
        "ingestionTime": event.ingestion_time,
        "eventId": event.event_id,
    })
}

pub fn filter(call: &Call<'_>, request: &r::FilterLogEvents) -> Result<Value, Error> {
    let group = request.group.name()?;
    let pattern = Pattern::parse(&request.filter_pattern)
        .map_err(|e| Error::invalid(format!("Invalid filter pattern: {e}")))?;
    let cursor = match &request.next_token {
        Some(token) => Some(decode_token(token)?),
        None => None,
    };
    let limit = request.limit.map_or(10_000, |l| l as usize);
    // FilterLogEvents includes events at endTime (GetLogEvents does not); the store's ranges
    // end before their end.
    let end = request.end_time.map(|end| end.saturating_add(1));
    let required = pattern.required_terms();
    let query = FilterQuery {
        group,
        streams: &request.log_stream_names,
        prefix: request.log_stream_name_prefix.as_deref(),
        start: request.start_time,
        end,
        contains: &required,
    };
    let page = call.logs().filter(
        &query,
        &|message| pattern.matches(message),
        cursor.as_deref(),
        limit,
    )?;
    let mut answer = json!({
        "events": page.events.iter().map(render_found).collect::<Vec<_>>(),
        "searchedLogStreams": [],
    });
    if let Some(next) = page.next {
        answer["nextToken"] = json!(encode_token(&next));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_700_000_000_000;

    #[test]
    fn a_batch_keeps_what_is_neither_too_old_expired_nor_too_new() {
        let all = accepted(&[NOW - DAY, NOW, NOW + HOUR], NOW, None);
        assert_eq!((all.from, all.to), (0, 3));
        let timestamps = [
            NOW - 15 * DAY,
            NOW - 8 * DAY,
            NOW - DAY,
            NOW,
            NOW + 3 * HOUR,
        ];
        let kept = accepted(&timestamps, NOW, Some(7));
        assert_eq!(
            kept,
            Accepted {
                from: 2,
                to: 4,
                too_old_end: 1,
                expired_end: 2,
                too_new_start: 4
            }
        );
        let none = accepted(&[NOW + 3 * HOUR], NOW, None);
        assert_eq!((none.from, none.to), (0, 0));
        let old = accepted(&[NOW - 20 * DAY], NOW, None);
        assert_eq!((old.from, old.to), (1, 1));
    }

    #[test]
    fn tokens_name_where_the_reader_stands() {
        assert_eq!(position(&forward(7)).unwrap(), Position::After(7));
        assert_eq!(position(&backward(3)).unwrap(), Position::Before(3));
        for bad in ["", "f/", "x/1", "f/-1", "b/1.5"] {
            assert!(position(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            tokens(Position::Head, Some(1), Some(5)),
            (forward(5), backward(1))
        );
        // At the end of the stream the same forward token comes back.
        assert_eq!(tokens(Position::After(5), None, None).0, forward(5));
        assert_eq!(tokens(Position::Before(1), None, None).1, backward(1));
    }
}
