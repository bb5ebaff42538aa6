//! The log store's fake: everything in maps behind one lock, obviously right rather than
//! fast, for handler tests and as the reference the conformance suite holds others to. Its
//! segments are only a way of counting: each group's events by [`window_of`] their timestamp,
//! so that retention drops the same events as in a store of files.

use super::retention::{segments_to_drop, window_of, Held};
use super::{
    event_id, uncaptured, Captured, CapturedStream, Cursor, Event, FilterPage, FilterQuery,
    GroupInfo, LogError, LogStore, Millis, NewEvent, Position, ReadPage, StreamCursor, StreamInfo,
    StreamOrder, SEARCH_BUDGET,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
pub struct MemoryLogStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next_stream: u64,
    groups: BTreeMap<String, Group>,
}

struct Group {
    created: Millis,
    retention_days: Option<u32>,
    tags: BTreeMap<String, String>,
    streams: BTreeMap<String, Stream>,
}

struct Stream {
    id: u64,
    created: Millis,
    last_seq: u64,
    last_ingestion: Option<Millis>,
    captured_through: Option<u64>,
    events: Vec<Event>,
}

impl Stream {
    fn new(id: u64, now: Millis) -> Stream {
        Stream {
            id,
            created: now,
            last_seq: 0,
            last_ingestion: None,
            captured_through: None,
            events: Vec::new(),
        }
    }

    /// Appends `events` in order, whichever way they came in, so that every event gets the
    /// same `seq` and ingestion time rules; the `seq`s they took.
    fn push<'e>(
        &mut self,
        name: &str,
        events: impl IntoIterator<Item = &'e NewEvent>,
        now: Millis,
    ) -> RangeInclusive<u64> {
        let first = self.last_seq + 1;
        for event in events {
            self.last_seq += 1;
            self.events.push(Event {
                stream: name.to_string(),
                event_id: event_id(self.id, self.last_seq),
                seq: self.last_seq,
                timestamp: event.timestamp,
                ingestion_time: now,
                message: event.message.clone(),
            });
        }
        if self.last_seq >= first {
            self.last_ingestion = Some(now);
        }
        first..=self.last_seq
    }

    fn info(&self, name: &str) -> StreamInfo {
        StreamInfo {
            name: name.to_string(),
            created: self.created,
            first_event: self.events.iter().map(|e| e.timestamp).min(),
            last_event: self.events.iter().map(|e| e.timestamp).max(),
            last_ingestion: self.last_ingestion,
            stored_bytes: self.events.iter().map(|e| e.message.len() as u64).sum(),
        }
    }
}

impl Group {
    fn new(now: Millis) -> Group {
        Group {
            created: now,
            retention_days: None,
            tags: BTreeMap::new(),
            streams: BTreeMap::new(),
        }
    }

    fn info(&self, name: &str) -> GroupInfo {
        GroupInfo {
            name: name.to_string(),
            created: self.created,
            retention_days: self.retention_days,
            stored_bytes: self
                .streams
                .iter()
                .map(|(n, s)| s.info(n).stored_bytes)
                .sum(),
            tags: self.tags.clone(),
        }
    }
}

fn in_range(timestamp: Millis, (start, end): (Option<Millis>, Option<Millis>)) -> bool {
    start.is_none_or(|s| timestamp >= s) && end.is_none_or(|e| timestamp < e)
}

impl MemoryLogStore {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn group_mut<'s>(state: &'s mut State, name: &str) -> Result<&'s mut Group, LogError> {
    state
        .groups
        .get_mut(name)
        .ok_or_else(|| LogError::GroupNotFound(name.to_string()))
}

fn stream_mut<'s>(
    state: &'s mut State,
    group: &str,
    stream: &str,
) -> Result<&'s mut Stream, LogError> {
    group_mut(state, group)?
        .streams
        .get_mut(stream)
        .ok_or_else(|| LogError::StreamNotFound {
            group: group.to_string(),
            stream: stream.to_string(),
        })
}

/// Adds an empty stream, numbered after every stream the store has had.
fn add_stream(state: &mut State, group: &str, stream: &str, now: Millis) -> Result<(), LogError> {
    let id = state.next_stream + 1;
    let streams = &mut group_mut(state, group)?.streams;
    if streams.contains_key(stream) {
        return Err(LogError::StreamExists {
            group: group.to_string(),
            stream: stream.to_string(),
        });
    }
    streams.insert(stream.to_string(), Stream::new(id, now));
    state.next_stream = id;
    Ok(())
}

impl LogStore for MemoryLogStore {
    fn create_group(&self, name: &str, now: Millis) -> Result<(), LogError> {
        let mut state = self.state();
        if state.groups.contains_key(name) {
            return Err(LogError::GroupExists(name.to_string()));
        }
        state.groups.insert(name.to_string(), Group::new(now));
        Ok(())
    }

    fn delete_group(&self, name: &str) -> Result<(), LogError> {
        self.state()
            .groups
            .remove(name)
            .map(drop)
            .ok_or_else(|| LogError::GroupNotFound(name.to_string()))
    }

    fn group(&self, name: &str) -> Result<Option<GroupInfo>, LogError> {
        Ok(self.state().groups.get(name).map(|g| g.info(name)))
    }

    fn groups(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GroupInfo>, LogError> {
        Ok(self
            .state()
            .groups
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .filter(|(name, _)| after.is_none_or(|a| name.as_str() > a))
            .take(limit)
            .map(|(name, g)| g.info(name))
            .collect())
    }

    fn set_retention(&self, group: &str, days: Option<u32>) -> Result<(), LogError> {
        group_mut(&mut self.state(), group)?.retention_days = days;
        Ok(())
    }

    fn tag_group(
        &self,
        group: &str,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<(), LogError> {
        let mut state = self.state();
        let group = group_mut(&mut state, group)?;
        group.tags.extend(add.clone());
        for key in remove {
            group.tags.remove(key);
        }
        Ok(())
    }

    fn create_stream(&self, group: &str, stream: &str, now: Millis) -> Result<(), LogError> {
        add_stream(&mut self.state(), group, stream, now)
    }

    fn delete_stream(&self, group: &str, stream: &str) -> Result<(), LogError> {
        group_mut(&mut self.state(), group)?
            .streams
            .remove(stream)
            .map(drop)
            .ok_or_else(|| LogError::StreamNotFound {
                group: group.to_string(),
                stream: stream.to_string(),
            })
    }

    fn streams(
        &self,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        descending: bool,
        after: Option<&StreamCursor>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, LogError> {
        let mut state = self.state();
        let group = group_mut(&mut state, group)?;
        let mut found: Vec<StreamInfo> = group
            .streams
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, s)| s.info(name))
            .collect();
        found.sort_by_key(|s| order.key(s));
        if descending {
            found.reverse();
        }
        let follows = |s: &StreamInfo| {
            after.is_none_or(|after| {
                let key = order.key(s);
                if descending {
                    key < *after
                } else {
                    key > *after
                }
            })
        };
        Ok(found.into_iter().filter(follows).take(limit).collect())
    }

    fn append(
        &self,
        group: &str,
        stream: &str,
        events: &[NewEvent],
        now: Millis,
    ) -> Result<RangeInclusive<u64>, LogError> {
        let mut state = self.state();
        Ok(stream_mut(&mut state, group, stream)?.push(stream, events, now))
    }

    fn append_captured(
        &self,
        streams: &[CapturedStream<'_>],
        now: Millis,
    ) -> Result<Vec<Captured>, LogError> {
        let mut state = self.state();
        Ok(streams
            .iter()
            .map(|captured| capture(&mut state, captured, now))
            .collect())
    }

    fn read(
        &self,
        group: &str,
        stream: &str,
        range: (Option<Millis>, Option<Millis>),
        from: Position,
        limit: usize,
    ) -> Result<ReadPage, LogError> {
        let mut state = self.state();
        let target = stream_mut(&mut state, group, stream)?;
        let selected = target
            .events
            .iter()
            .filter(|e| in_range(e.timestamp, range));
        let mut events: Vec<Event> = match from {
            Position::Head => selected.take(limit).cloned().collect(),
            Position::After(seq) => selected
                .filter(|e| e.seq > seq)
                .take(limit)
                .cloned()
                .collect(),
            Position::Tail => selected.rev().take(limit).cloned().collect(),
            Position::Before(seq) => selected
                .rev()
                .filter(|e| e.seq < seq)
                .take(limit)
                .cloned()
                .collect(),
        };
        if matches!(from, Position::Tail | Position::Before(_)) {
            events.reverse();
        }
        Ok(ReadPage::of(events))
    }

    fn filter(
        &self,
        query: &FilterQuery<'_>,
        matches: &(dyn Fn(&str) -> bool + Sync),
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<FilterPage, LogError> {
        let after = cursor.map(Cursor::decode).transpose()?;
        let mut state = self.state();
        let group = group_mut(&mut state, query.group)?;
        let mut candidates: Vec<(Cursor, &Event)> = group
            .streams
            .iter()
            .filter(|(name, _)| query.streams.is_empty() || query.streams.contains(name))
            .filter(|(name, _)| query.prefix.is_none_or(|p| name.starts_with(p)))
            .flat_map(|(_, s)| {
                s.events.iter().map(|e| {
                    let at = Cursor {
                        timestamp: e.timestamp,
                        stream: s.id,
                        seq: e.seq,
                    };
                    (at, e)
                })
            })
            .filter(|(_, e)| in_range(e.timestamp, (query.start, query.end)))
            .filter(|(_, e)| {
                query
                    .contains
                    .iter()
                    .all(|t| e.message.contains(t.as_str()))
            })
            .filter(|(at, _)| after.is_none_or(|a| *at > a))
            .collect();
        candidates.sort_by_key(|(at, _)| *at);
        let mut page = FilterPage::default();
        for (looked, (at, event)) in candidates.iter().enumerate() {
            if looked == SEARCH_BUDGET {
                // The next call goes on after the last event looked at.
                page.next = Some(candidates[looked - 1].0.encode());
                return Ok(page);
            }
            if matches(&event.message) {
                page.events.push((*event).clone());
                if page.events.len() == limit {
                    let more = looked + 1 < candidates.len();
                    page.next = more.then(|| at.encode());
                    return Ok(page);
                }
            }
        }
        Ok(page)
    }

    fn enforce_retention(&self, now: Millis, max_bytes: u64) -> Result<u64, LogError> {
        let mut state = self.state();
        let mut sizes: BTreeMap<(&str, Millis), u64> = BTreeMap::new();
        for (name, group) in &state.groups {
            for event in group.streams.values().flat_map(|s| &s.events) {
                *sizes
                    .entry((name.as_str(), window_of(event.timestamp)))
                    .or_default() += event.message.len() as u64;
            }
        }
        let held: Vec<Held<'_>> = sizes
            .iter()
            .map(|(&(group, window), &bytes)| Held {
                group,
                window,
                bytes,
                retention_days: state.groups[group].retention_days,
            })
            .collect();
        let gone: BTreeSet<(String, Millis)> = segments_to_drop(&held, now, max_bytes)
            .into_iter()
            .map(|i| (held[i].group.to_string(), held[i].window))
            .collect();
        let mut dropped = 0;
        for (name, group) in state.groups.iter_mut() {
            for stream in group.streams.values_mut() {
                stream.events.retain(|e| {
                    let keep = !gone.contains(&(name.clone(), window_of(e.timestamp)));
                    if !keep {
                        dropped += e.message.len() as u64;
                    }
                    keep
                });
            }
        }
        Ok(dropped)
    }
}

/// One entry of a captured append.
fn capture(state: &mut State, captured: &CapturedStream<'_>, now: Millis) -> Captured {
    let CapturedStream {
        group,
        stream,
        create_group,
        events,
    } = *captured;
    if create_group && !state.groups.contains_key(group) {
        state.groups.insert(group.to_string(), Group::new(now));
    }
    if !group_mut(state, group)?.streams.contains_key(stream) {
        add_stream(state, group, stream, now)?;
    }
    let target = stream_mut(state, group, stream)?;
    let (fresh, through) = uncaptured(target.captured_through, events);
    target.push(stream, fresh.into_iter().map(|c| &c.event), now);
    target.captured_through = through;
    Ok(through)
}
