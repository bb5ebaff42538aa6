//! StartLiveTail: events as they arrive, answered as an `application/vnd.amazon.eventstream`
//! over plain HTTP/1.1. The first message is `initial-response` (`{}`, which botocore
//! requires), then `sessionStart`, then a `sessionUpdate` every second, empty when nothing
//! arrived, with at most [`MAX_PER_UPDATE`] events (`sampled` when there were more). The
//! session ends when the client goes away, or after three hours with a
//! `SessionTimeoutException`, as on AWS.
//!
//! Each second the session reads, per stream it follows, the events after the last one it
//! sent: arrival order, so an event that arrives late with an old timestamp is still shown.

use super::error::Error;
use super::requests::{self as r, group_of_identifier};
use crate::call::Call;
use crate::registry::Output;
use berth_aws::eventstream;
use berth_logs::filter::Pattern;
use berth_logs::store::{LogError, LogStore, Position, StreamOrder};
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub const MAX_PER_UPDATE: usize = 500;
const UPDATE_EVERY: Duration = Duration::from_secs(1);
const SESSION_LENGTH: Duration = Duration::from_secs(3 * 3600);

/// What a session follows, and where each stream it follows stands.
struct Session {
    /// Each group's name, with the identifier the client named it by.
    groups: Vec<(String, String)>,
    names: Option<Vec<String>>,
    prefixes: Option<Vec<String>>,
    pattern: Pattern,
    /// The last event sent (or there at the start) per group and stream.
    sent: HashMap<(usize, String), u64>,
}

impl Session {
    /// The streams followed now, by group index.
    fn streams(&self, logs: &dyn LogStore) -> Result<Vec<(usize, String)>, LogError> {
        let mut found = Vec::new();
        for (index, (group, _)) in self.groups.iter().enumerate() {
            let prefixes: Vec<&str> = match &self.prefixes {
                Some(prefixes) => prefixes.iter().map(String::as_str).collect(),
                None => vec![""],
            };
            for prefix in prefixes {
                for stream in
                    logs.streams(group, prefix, StreamOrder::Name, false, None, usize::MAX)?
                {
                    let named = self
                        .names
                        .as_ref()
                        .is_none_or(|names| names.contains(&stream.name));
                    if named {
                        found.push((index, stream.name));
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The events that arrived since the last update, oldest first, and whether there were
    /// more than one update carries.
    fn update(&mut self, logs: &dyn LogStore) -> Result<(Vec<Value>, bool), LogError> {
        let mut events = Vec::new();
        for (index, stream) in self.streams(logs)? {
            let (group, identifier) = &self.groups[index];
            let after = self
                .sent
                .get(&(index, stream.clone()))
                .copied()
                .unwrap_or(0);
            let page = logs.read(
                group,
                &stream,
                (None, None),
                Position::After(after),
                MAX_PER_UPDATE + 1,
            )?;
            if let Some(last) = page.last_seq {
                self.sent.insert((index, stream.clone()), last);
            }
            events.extend(
                page.events
                    .into_iter()
                    .filter(|e| self.pattern.matches(&e.message))
                    .map(|e| {
                        (
                            e.timestamp,
                            json!({
                                "logStreamName": stream,
                                "logGroupIdentifier": identifier,
                                "message": e.message,
                                "timestamp": e.timestamp,
                                "ingestionTime": e.ingestion_time,
                            }),
                        )
                    }),
            );
        }
        events.sort_by_key(|(timestamp, _)| *timestamp);
        let sampled = events.len() > MAX_PER_UPDATE;
        // Sampled as AWS samples: the update carries the newest of them.
        let skip = events.len().saturating_sub(MAX_PER_UPDATE);
        Ok((
            events.into_iter().skip(skip).map(|(_, e)| e).collect(),
            sampled,
        ))
    }
}

pub fn start(call: &Call<'_>, request: &r::StartLiveTail) -> Result<Output, Error> {
    let logs = call.logs_shared();
    let mut groups = Vec::new();
    for identifier in &request.log_group_identifiers {
        let name = group_of_identifier(identifier).to_string();
        if logs.group(&name)?.is_none() {
            return Err(Error::group_not_found());
        }
        groups.push((name, identifier.clone()));
    }
    let pattern = Pattern::parse(&request.log_event_filter_pattern)
        .map_err(|e| Error::invalid(format!("Invalid filter pattern: {e}")))?;
    let mut session = Session {
        groups,
        names: request.log_stream_names.clone(),
        prefixes: request.log_stream_name_prefixes.clone(),
        pattern,
        sent: HashMap::new(),
    };
    // Only what arrives from now on is shown.
    for (index, stream) in session.streams(logs.as_ref())? {
        let group = &session.groups[index].0;
        let newest = logs.read(group, &stream, (None, None), Position::Tail, 1)?;
        session
            .sent
            .insert((index, stream), newest.last_seq.unwrap_or(0));
    }
    let started = json!({
        "requestId": call.ids().uuid(),
        "sessionId": call.ids().uuid(),
        "logGroupIdentifiers": request.log_group_identifiers,
        "logStreamNames": request.log_stream_names,
        "logStreamNamePrefixes": request.log_stream_name_prefixes,
        "logEventFilterPattern": request.log_event_filter_pattern,
    });
    let (sender, receiver) = mpsc::channel(16);
    for message in [
        eventstream::event("initial-response", b"{}"),
        eventstream::event("sessionStart", started.to_string().as_bytes()),
    ] {
        // The channel is new and has room for both.
        let _ = sender.try_send(Bytes::from(message));
    }
    tokio::runtime::Handle::current().spawn(follow(logs, session, sender));
    Ok(Output::Events(receiver))
}

/// Sends an update every second until the client goes away or the session's time is up.
async fn follow(logs: Arc<dyn LogStore>, mut session: Session, sender: mpsc::Sender<Bytes>) {
    let ends = Instant::now() + SESSION_LENGTH;
    loop {
        tokio::select! {
            () = tokio::time::sleep(UPDATE_EVERY) => {}
            () = sender.closed() => return,
        }
        if Instant::now() >= ends {
            let timeout = eventstream::exception(
                "SessionTimeoutException",
                br#"{"message":"Live Tail sessions end after three hours"}"#,
            );
            let _ = sender.send(Bytes::from(timeout)).await;
            return;
        }
        let store = Arc::clone(&logs);
        let read = tokio::task::spawn_blocking(move || {
            let update = session.update(store.as_ref());
            (session, update)
        })
        .await;
        let message = match read {
            Ok((back, Ok((events, sampled)))) => {
                session = back;
                let update = json!({
                    "sessionMetadata": {"sampled": sampled},
                    "sessionResults": events,
                });
                eventstream::event("sessionUpdate", update.to_string().as_bytes())
            }
            Ok((_, Err(e))) => {
                tracing::warn!(error = %e, "live tail failed");
                let failure = json!({"message": format!("reading the log store failed: {e}")});
                let failure = eventstream::exception(
                    "SessionStreamingException",
                    failure.to_string().as_bytes(),
                );
                let _ = sender.send(Bytes::from(failure)).await;
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "live tail panicked");
                return;
            }
        };
        if sender.send(Bytes::from(message)).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_logs::store::{MemoryLogStore, NewEvent};

    fn put(logs: &dyn LogStore, stream: &str, messages: &[&str]) {
        let events: Vec<NewEvent> = messages
            .iter()
            .enumerate()
            .map(|(n, m)| NewEvent {
                timestamp: n as i64,
                message: m.to_string(),
            })
            .collect();
        logs.append("g", stream, &events, 0).unwrap();
    }

    fn messages(events: &[Value]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn an_update_carries_what_arrived_since_the_last_and_samples_above_the_cap() {
        let logs = MemoryLogStore::default();
        logs.create_group("g", 0).unwrap();
        logs.create_stream("g", "a", 0).unwrap();
        put(&logs, "a", &["ERROR before"]);
        let mut session = Session {
            groups: vec![("g".into(), "g".into())],
            names: None,
            prefixes: None,
            pattern: Pattern::parse("ERROR").unwrap(),
            sent: HashMap::from([((0, "a".to_string()), 1)]),
        };
        assert_eq!(session.update(&logs).unwrap(), (vec![], false));
        put(&logs, "a", &["INFO fine", "ERROR one"]);
        logs.create_stream("g", "b", 0).unwrap();
        put(&logs, "b", &["ERROR two"]);
        let (events, sampled) = session.update(&logs).unwrap();
        // Oldest first by timestamp: "ERROR two" was written at 0, "ERROR one" at 1.
        assert_eq!(messages(&events), ["ERROR two", "ERROR one"]);
        assert!(!sampled);
        assert_eq!(session.update(&logs).unwrap().0, Vec::<Value>::new());
        let flood: Vec<String> = (0..MAX_PER_UPDATE + 10)
            .map(|n| format!("ERROR {n}"))
            .collect();
        let flood: Vec<&str> = flood.iter().map(String::as_str).collect();
        put(&logs, "b", &flood);
        let (events, sampled) = session.update(&logs).unwrap();
        assert!(sampled);
        assert_eq!(events.len(), MAX_PER_UPDATE);
    }

    #[test]
    fn a_session_follows_only_the_streams_it_names() {
        let logs = MemoryLogStore::default();
        logs.create_group("g", 0).unwrap();
        for stream in ["web/1", "web/2", "worker/1"] {
            logs.create_stream("g", stream, 0).unwrap();
            put(&logs, stream, &[stream]);
        }
        let session = |names: Option<Vec<String>>, prefixes: Option<Vec<String>>| Session {
            groups: vec![("g".into(), "g".into())],
            names,
            prefixes,
            pattern: Pattern::parse("").unwrap(),
            sent: HashMap::new(),
        };
        let mut by_prefix = session(None, Some(vec!["web/".into()]));
        assert_eq!(
            messages(&by_prefix.update(&logs).unwrap().0),
            ["web/1", "web/2"]
        );
        let mut by_name = session(Some(vec!["worker/1".into()]), None);
        assert_eq!(messages(&by_name.update(&logs).unwrap().0), ["worker/1"]);
    }
}
