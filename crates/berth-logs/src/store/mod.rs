//! The log store: log groups with retention and tags, their streams, each stream's events in
//! arrival order, and how far an agent's capture of a container's output into a stream has
//! reached, so that a resend adds nothing twice. Behind [`LogStore`] so that a shared
//! implementation (for a control plane of several servers) can follow the embedded one
//! without changing callers; [`MemoryLogStore`] is the fake, [`SegmentedLogStore`] the
//! embedded default (SQLite files by group and day), and [`conformance`] the suite both pass.
//! Both drop old events by whole segments, as [`retention`] works out.

pub mod conformance;
mod memory;
pub mod retention;
mod segmented;
mod trigrams;

pub use memory::MemoryLogStore;
pub use segmented::SegmentedLogStore;

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// Epoch milliseconds, as CloudWatch Logs counts time.
pub type Millis = i64;

pub const DAY: Millis = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    pub created: Millis,
    pub retention_days: Option<u32>,
    pub stored_bytes: u64,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    pub created: Millis,
    pub first_event: Option<Millis>,
    pub last_event: Option<Millis>,
    pub last_ingestion: Option<Millis>,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub timestamp: Millis,
    pub message: String,
}

/// An event read from a container's output, with its place in what the container's runtime
/// kept (increasing line by line within one stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedEvent {
    pub position: u64,
    pub event: NewEvent,
}

/// What an agent captured from one container for one stream: [`LogStore::append_captured`]
/// takes a shipment of these.
#[derive(Debug, Clone, Copy)]
pub struct CapturedStream<'a> {
    pub group: &'a str,
    pub stream: &'a str,
    /// Whether a missing group is made (as the awslogs driver's `awslogs-create-group` asks).
    pub create_group: bool,
    pub events: &'a [CapturedEvent],
}

/// A stream's captured position after a captured append (`None` while nothing was ever
/// captured into it), or why its events were not kept.
pub type Captured = Result<Option<u64>, LogError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub stream: String,
    /// Unique in its group and the same on every read, so that a follower (`aws logs tail
    /// --follow`) can tell what it has seen.
    pub event_id: String,
    /// The event's place in its stream, from 1, in arrival order.
    pub seq: u64,
    pub timestamp: Millis,
    pub ingestion_time: Millis,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamOrder {
    Name,
    LastEventTime,
}

impl StreamOrder {
    /// What a stream sorts by in this order: its last event's time (streams without events
    /// first) then its name, or its name alone.
    pub fn key(self, stream: &StreamInfo) -> StreamCursor {
        StreamCursor {
            last_event: match self {
                StreamOrder::Name => 0,
                StreamOrder::LastEventTime => stream.last_event.unwrap_or(-1),
            },
            name: stream.name.clone(),
        }
    }
}

/// Where a listing of streams goes on: after the stream that sorts at this key (see
/// [`StreamOrder::key`]), wherever the streams now are, so that a stream created or
/// deleted between two pages makes none of the others skipped or repeated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamCursor {
    /// The last event's time in `LastEventTime` order (-1: none yet); 0 in `Name` order.
    pub last_event: Millis,
    pub name: String,
}

/// Where a read of one stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Forward from the first event.
    Head,
    /// The newest events (the page still ascends).
    Tail,
    /// Forward from the event after this one.
    After(u64),
    /// The events just before this one.
    Before(u64),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadPage {
    /// Ascending by `seq`.
    pub events: Vec<Event>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

impl ReadPage {
    /// A page of events already ascending by `seq`.
    pub fn of(events: Vec<Event>) -> ReadPage {
        ReadPage {
            first_seq: events.first().map(|e| e.seq),
            last_seq: events.last().map(|e| e.seq),
            events,
        }
    }
}

/// Which events of a group a search looks at: the streams named (all when none), or those
/// whose names start with `prefix`, with timestamps in `[start, end)`.
#[derive(Debug, Clone, Default)]
pub struct FilterQuery<'a> {
    pub group: &'a str,
    pub streams: &'a [String],
    pub prefix: Option<&'a str>,
    pub start: Option<Millis>,
    pub end: Option<Millis>,
    /// Text every wanted event contains (a filter pattern's required terms): the store skips
    /// other events without asking the matcher, where it can cheaply.
    pub contains: &'a [String],
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterPage {
    /// Ascending by timestamp, then stream, then arrival.
    pub events: Vec<Event>,
    /// Where the next page starts; `None` when nothing is left. A page may be short, or
    /// empty, with a cursor still to follow: a search looks at a bounded number of events
    /// per call.
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log group {0} does not exist")]
    GroupNotFound(String),
    #[error("log group {0} already exists")]
    GroupExists(String),
    #[error("log stream {stream} does not exist in log group {group}")]
    StreamNotFound { group: String, stream: String },
    #[error("log stream {stream} already exists in log group {group}")]
    StreamExists { group: String, stream: String },
    #[error("the paging cursor was not made by this store")]
    BadCursor,
    #[error("log store directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("log store at {path}: {source}")]
    Storage {
        path: String,
        source: rusqlite::Error,
    },
}

/// Where a search resumes: after the event with this timestamp, stream and place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Cursor {
    pub timestamp: Millis,
    pub stream: u64,
    pub seq: u64,
}

impl Cursor {
    pub(crate) fn encode(self) -> String {
        format!("{}:{}:{}", self.timestamp, self.stream, self.seq)
    }

    pub(crate) fn decode(text: &str) -> Result<Cursor, LogError> {
        let mut parts = text.split(':');
        let mut next = || parts.next().ok_or(LogError::BadCursor);
        let cursor = Cursor {
            timestamp: next()?.parse().map_err(|_| LogError::BadCursor)?,
            stream: next()?.parse().map_err(|_| LogError::BadCursor)?,
            seq: next()?.parse().map_err(|_| LogError::BadCursor)?,
        };
        Ok(cursor)
    }
}

/// An event's id: its stream's store-wide number and its place in the stream.
pub(crate) fn event_id(stream: u64, seq: u64) -> String {
    format!("{stream:010}{seq:020}")
}

/// The events of `events` past `through` and past every event accepted before them, and the
/// captured position after them: the one rule of [`LogStore::append_captured`] for every store.
pub(crate) fn uncaptured(
    mut through: Option<u64>,
    events: &[CapturedEvent],
) -> (Vec<&CapturedEvent>, Option<u64>) {
    let fresh = events
        .iter()
        .filter(|captured| {
            let fresh = through.is_none_or(|t| captured.position > t);
            if fresh {
                through = Some(captured.position);
            }
            fresh
        })
        .collect();
    (fresh, through)
}

/// How many events a search reads in one call before it answers with what it found: the
/// events it hands its matcher, or, in a store that can rule out blocks of events unread,
/// the events of the blocks it could not rule out (skipped ones cost only their check).
pub const SEARCH_BUDGET: usize = 100_000;

pub trait LogStore: Send + Sync + 'static {
    fn create_group(&self, name: &str, now: Millis) -> Result<(), LogError>;
    /// Deletes the group with its streams and events.
    fn delete_group(&self, name: &str) -> Result<(), LogError>;
    fn group(&self, name: &str) -> Result<Option<GroupInfo>, LogError>;
    /// Groups by name whose names start with `prefix` and come after `after`.
    fn groups(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GroupInfo>, LogError>;
    fn set_retention(&self, group: &str, days: Option<u32>) -> Result<(), LogError>;
    fn tag_group(
        &self,
        group: &str,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<(), LogError>;
    fn create_stream(&self, group: &str, stream: &str, now: Millis) -> Result<(), LogError>;
    fn delete_stream(&self, group: &str, stream: &str) -> Result<(), LogError>;
    /// Streams whose names start with `prefix`, in `order`, those that sort after `after`
    /// (before it when `descending`), at most `limit`.
    fn streams(
        &self,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        descending: bool,
        after: Option<&StreamCursor>,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, LogError>;
    /// Appends events in the order given; durable when it returns. The `seq`s they took.
    fn append(
        &self,
        group: &str,
        stream: &str,
        events: &[NewEvent],
        now: Millis,
    ) -> Result<RangeInclusive<u64>, LogError>;
    /// Appends what agents captured from containers, each entry to `stream` of `group`: only
    /// events whose `position` is past the stream's captured position go in, in the order
    /// given, and the stream then remembers the last one's position, durably with the
    /// events, so a resend adds nothing twice. Creates a missing stream, and a missing group
    /// when `create_group` (as the awslogs driver does). Answers each entry in order with the
    /// stream's captured position after the append (`None` while nothing was ever captured
    /// into it), or `GroupNotFound` for an entry whose group is missing: the other entries are
    /// kept all the same. An entry without events only asks where its stream is (still
    /// creating the stream). A stream named twice takes its entries in order. The outer error
    /// is the store failing: what it kept then is kept, and a resend adds only the rest.
    fn append_captured(
        &self,
        streams: &[CapturedStream<'_>],
        now: Millis,
    ) -> Result<Vec<Captured>, LogError>;
    /// One stream's events with timestamps in `[start, end)`, from `from`, at most `limit`.
    fn read(
        &self,
        group: &str,
        stream: &str,
        range: (Option<Millis>, Option<Millis>),
        from: Position,
        limit: usize,
    ) -> Result<ReadPage, LogError>;
    /// The events `query` selects for which `matches(message)` holds, resuming after
    /// `cursor`, at most `limit`.
    fn filter(
        &self,
        query: &FilterQuery<'_>,
        matches: &(dyn Fn(&str) -> bool + Sync),
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<FilterPage, LogError>;
    /// Drops the segments [`retention::segments_to_drop`] picks: those past their group's
    /// retention, then the oldest while more than `max_bytes` of messages are kept. Returns
    /// how many bytes of messages went.
    fn enforce_retention(&self, now: Millis, max_bytes: u64) -> Result<u64, LogError>;
}
