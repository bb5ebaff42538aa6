//! The embedded log store: SQLite files of its own under `DATA_DIR/logs`, never the state
//! store's. Events live in segments, one file per group and UTC day of their timestamps
//! (`segments/<group number>/<YYYY-MM-DD>.db`, see [`SEGMENT_WINDOW`](super::retention::SEGMENT_WINDOW) for why a day), each
//! with its events, their search blocks ([`search`] says how searches use them) and a head
//! per stream. A small catalog (`catalog.db`) keeps groups, streams (their totals and
//! captured positions), and which segments each stream has events in, with a copy of each
//! head. Retention and the size cap drop whole segments: a row of the catalog and a file.
//!
//! # Writes
//!
//! An append splits each stream's events into runs of one window and commits, per round of
//! runs, one transaction per segment touched (usually one round: a shipment of many streams'
//! output is one commit per segment, most often today's), then one catalog transaction with
//! the new heads. All in WAL mode, each commit on disk before it returns. A crash between a
//! segment's commit and the catalog's leaves the catalog behind the segment, never ahead:
//! every segment written since the store was opened is marked in the catalog (durably,
//! before its first write) as to be checked, and opening the store copies those segments'
//! heads into the catalog, where a head whose last `seq` is past its stream's brings the
//! stream's last `seq` and captured position along. Runs of one stream commit in order, so
//! what a crash keeps of an append is a prefix of it, and the captured position kept with it
//! is that prefix's.
//!
//! Group and stream numbers are never reused, so files and rows a crash left of a deleted
//! group or stream are never mistaken for a new one's; opening the store removes files the
//! catalog does not know.
//!
//! A store made before segments (one database, `logs.db`) is moved into segments when first
//! opened, with every event's `seq`, id and ingestion time kept ([`legacy`]).

mod legacy;
mod search;
mod segment;
#[cfg(test)]
mod tests;

use super::retention::{segments_to_drop, window_of, Held};
use super::trigrams::Probe;
use super::{
    event_id, uncaptured, Captured, CapturedStream, Cursor, Event, FilterPage, FilterQuery,
    GroupInfo, LogError, LogStore, Millis, NewEvent, Position, ReadPage, StreamCursor, StreamInfo,
    StreamOrder, SEARCH_BUDGET,
};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, Transaction};
use search::{Search, Step};
use segment::{Entry, Head};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const CATALOG: &str = "
    CREATE TABLE IF NOT EXISTS groups (
        id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL, retention_days INTEGER, tags TEXT NOT NULL DEFAULT '{}');
    CREATE TABLE IF NOT EXISTS streams (
        id INTEGER PRIMARY KEY AUTOINCREMENT, group_id INTEGER NOT NULL, name TEXT NOT NULL,
        created INTEGER NOT NULL, first_event INTEGER, last_event INTEGER,
        last_ingestion INTEGER, last_seq INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0, captured_through INTEGER,
        UNIQUE (group_id, name));
    CREATE TABLE IF NOT EXISTS segments (
        id INTEGER PRIMARY KEY AUTOINCREMENT, group_id INTEGER NOT NULL,
        window_start INTEGER NOT NULL, bytes INTEGER NOT NULL DEFAULT 0,
        unchecked INTEGER NOT NULL DEFAULT 1, UNIQUE (group_id, window_start));
    CREATE TABLE IF NOT EXISTS stream_segments (
        stream_id INTEGER NOT NULL, segment_id INTEGER NOT NULL,
        min_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL, events INTEGER NOT NULL,
        bytes INTEGER NOT NULL, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,
        last_ingestion INTEGER NOT NULL, captured_through INTEGER,
        PRIMARY KEY (stream_id, segment_id)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS stream_segments_by_segment ON stream_segments (segment_id);
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// Sizes that bound the work of appends and searches.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// A block is sealed when it has this many events,
    block_events: u64,
    /// or this many bytes of messages (or when its filter is full).
    block_bytes: u64,
    /// The events a search call reads, at most, from blocks it could not rule out (or, for a
    /// search no filter can help, walks through time indexes): [`SEARCH_BUDGET`].
    search_events: u64,
    /// The bytes of messages a search call reads from blocks, at most.
    search_bytes: u64,
    /// The filters a search call checks, at most.
    filter_checks: usize,
    /// A block with more events than this is read through its stream's time index when a
    /// search wants only a small part of its time range.
    read_by_time_above: u64,
    /// Segment files kept open at most (each a connection with its page cache): the ones
    /// used last stay, for today's segments take nearly every write.
    open_segments: usize,
}

const TUNING: Tuning = Tuning {
    block_events: 4096,
    block_bytes: 1 << 20,
    search_events: SEARCH_BUDGET as u64,
    search_bytes: 64 << 20,
    filter_checks: 4096,
    read_by_time_above: 64,
    open_segments: 32,
};

pub struct SegmentedLogStore {
    dir: PathBuf,
    inner: Mutex<Inner>,
    tuning: Tuning,
}

/// A segment as the catalog names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SegmentRef {
    id: i64,
    group: i64,
    window: Millis,
}

struct Inner {
    catalog: Connection,
    /// Open segment files, the one used last at the end.
    open: Vec<(i64, Connection)>,
    /// Segments marked in the catalog as to be checked at the next opening, since this
    /// store was opened, by group and window: writes to them need no catalog lookup.
    marked: HashMap<(i64, Millis), SegmentRef>,
}

/// A stream as the catalog has it.
#[derive(Debug, Clone, Copy)]
struct StreamRow {
    id: u64,
    group: i64,
    last_seq: u64,
    captured_through: Option<u64>,
}

/// One stream's part of an append: its new events, ascending by `seq`.
struct StreamWrite<'e> {
    stream: u64,
    group: i64,
    entries: Vec<Entry<'e>>,
    /// The stream's captured position before the append.
    captured_through: Option<u64>,
}

impl SegmentedLogStore {
    /// Opens (or creates) the store in `dir`, bringing a store from before segments over.
    pub fn open(dir: &Path) -> Result<SegmentedLogStore, LogError> {
        SegmentedLogStore::open_tuned(dir, TUNING)
    }

    fn open_tuned(dir: &Path, tuning: Tuning) -> Result<SegmentedLogStore, LogError> {
        std::fs::create_dir_all(dir).map_err(|source| LogError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        let catalog_path = dir.join("catalog.db");
        let fault = |source| LogError::Storage {
            path: catalog_path.display().to_string(),
            source,
        };
        let store = SegmentedLogStore {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                catalog: open_catalog(&catalog_path).map_err(fault)?,
                open: Vec::new(),
                marked: HashMap::new(),
            }),
            tuning,
        };
        legacy::bring_over(&store)?;
        store.check_marked_segments()?;
        store.remove_unknown_files()?;
        Ok(store)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn catalog_fault(&self) -> impl Fn(rusqlite::Error) -> LogError + '_ {
        move |source| LogError::Storage {
            path: self.dir.join("catalog.db").display().to_string(),
            source,
        }
    }

    fn segments_dir(&self) -> PathBuf {
        self.dir.join("segments")
    }

    fn segment_path(&self, segment: SegmentRef) -> PathBuf {
        self.segments_dir()
            .join(segment.group.to_string())
            .join(segment::file_name(segment.window))
    }

    fn segment_fault(&self, segment: SegmentRef) -> impl Fn(rusqlite::Error) -> LogError + '_ {
        move |source| LogError::Storage {
            path: self.segment_path(segment).display().to_string(),
            source,
        }
    }

    /// The segment's open file, opened (and created) when it is not.
    fn segment<'i>(
        &self,
        inner: &'i mut Inner,
        segment: SegmentRef,
    ) -> Result<&'i mut Connection, LogError> {
        match inner.open.iter().position(|(id, _)| *id == segment.id) {
            Some(at) => {
                let used = inner.open.remove(at);
                inner.open.push(used);
            }
            None => {
                let path = self.segment_path(segment);
                let parent = path.parent().expect("a segment file has a directory");
                std::fs::create_dir_all(parent).map_err(|source| LogError::Directory {
                    path: parent.display().to_string(),
                    source,
                })?;
                let connection = segment::open(&path).map_err(self.segment_fault(segment))?;
                if inner.open.len() >= self.tuning.open_segments {
                    inner.open.remove(0);
                }
                inner.open.push((segment.id, connection));
            }
        }
        Ok(&mut inner.open.last_mut().expect("pushed above").1)
    }

    /// Closes the segments' files and removes them.
    fn remove_segments(&self, inner: &mut Inner, gone: &[SegmentRef]) -> Result<(), LogError> {
        let ids: HashSet<i64> = gone.iter().map(|s| s.id).collect();
        inner.open.retain(|(id, _)| !ids.contains(id));
        for segment in gone {
            inner.marked.remove(&(segment.group, segment.window));
            remove_database(&self.segment_path(*segment))?;
        }
        Ok(())
    }

    /// Copies the heads of every segment written since the store was last opened into the
    /// catalog: what a crash between a segment's commit and the catalog's left behind.
    fn check_marked_segments(&self) -> Result<(), LogError> {
        let mut inner = self.inner();
        let fault = self.catalog_fault();
        let marked: Vec<SegmentRef> = {
            let mut statement = inner
                .catalog
                .prepare("SELECT id, group_id, window_start FROM segments WHERE unchecked = 1")
                .map_err(&fault)?;
            let rows = statement.query_map([], segment_ref).map_err(&fault)?;
            rows.collect::<Result<_, _>>().map_err(&fault)?
        };
        for segment in marked {
            let heads = if self.segment_path(segment).exists() {
                let connection = self.segment(&mut inner, segment)?;
                segment::heads(connection).map_err(self.segment_fault(segment))?
            } else {
                Vec::new()
            };
            let tx = inner.catalog.transaction().map_err(&fault)?;
            for (stream, head) in heads {
                record_head(&tx, stream, segment.id, &head).map_err(&fault)?;
            }
            tx.execute(
                "UPDATE segments SET unchecked = 0 WHERE id = ?1",
                [segment.id],
            )
            .map_err(&fault)?;
            tx.commit().map_err(&fault)?;
        }
        inner.open.clear();
        Ok(())
    }

    /// Removes segment files, and directories of groups, the catalog does not have: what a
    /// crash left of a deletion or of a drop by retention.
    fn remove_unknown_files(&self) -> Result<(), LogError> {
        let inner = self.inner();
        let fault = self.catalog_fault();
        let mut known: HashMap<String, HashSet<String>> = HashMap::new();
        {
            let mut statement = inner
                .catalog
                .prepare("SELECT id FROM groups")
                .map_err(&fault)?;
            let groups = statement
                .query_map([], |row| row.get::<_, i64>(0))
                .map_err(&fault)?;
            for group in groups {
                known.insert(group.map_err(&fault)?.to_string(), HashSet::new());
            }
            let mut statement = inner
                .catalog
                .prepare("SELECT group_id, window_start FROM segments")
                .map_err(&fault)?;
            let segments = statement
                .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
                .map_err(&fault)?;
            for segment in segments {
                let (group, window) = segment.map_err(&fault)?;
                if let Some(files) = known.get_mut(&group.to_string()) {
                    files.insert(segment::file_name(window));
                }
            }
        }
        let root = self.segments_dir();
        let directory = |path: &Path| {
            let path = path.display().to_string();
            move |source| LogError::Directory { path, source }
        };
        let groups = match std::fs::read_dir(&root) {
            Ok(groups) => groups,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(directory(&root)(e)),
        };
        for group in groups {
            let group = group.map_err(directory(&root))?;
            let name = group.file_name().to_string_lossy().into_owned();
            let Some(files) = known.get(&name) else {
                std::fs::remove_dir_all(group.path()).map_err(directory(&group.path()))?;
                continue;
            };
            for file in std::fs::read_dir(group.path()).map_err(directory(&group.path()))? {
                let file = file.map_err(directory(&group.path()))?;
                let name = file.file_name().to_string_lossy().into_owned();
                let database = name
                    .strip_suffix("-wal")
                    .or_else(|| name.strip_suffix("-shm"))
                    .unwrap_or(&name);
                if !files.contains(database) {
                    std::fs::remove_file(file.path()).map_err(directory(&file.path()))?;
                }
            }
        }
        Ok(())
    }

    /// Marks the segments of `wanted` (group, window) in the catalog as to be checked at the
    /// next opening, making those missing, before anything is written to them.
    fn mark_segments(&self, inner: &mut Inner, wanted: &[(i64, Millis)]) -> Result<(), LogError> {
        let fault = self.catalog_fault();
        let tx = inner.catalog.transaction().map_err(&fault)?;
        let mut marked = Vec::new();
        for &(group, window) in wanted {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM segments WHERE group_id = ?1 AND window_start = ?2",
                    params![group, window],
                    |row| row.get(0),
                )
                .optional()
                .map_err(&fault)?;
            let id = match existing {
                Some(id) => {
                    tx.execute("UPDATE segments SET unchecked = 1 WHERE id = ?1", [id])
                        .map_err(&fault)?;
                    id
                }
                None => {
                    tx.execute(
                        "INSERT INTO segments (group_id, window_start) VALUES (?1, ?2)",
                        params![group, window],
                    )
                    .map_err(&fault)?;
                    tx.last_insert_rowid()
                }
            };
            marked.push(SegmentRef { id, group, window });
        }
        tx.commit().map_err(&fault)?;
        inner
            .marked
            .extend(marked.into_iter().map(|s| ((s.group, s.window), s)));
        Ok(())
    }

    /// Stores `writes`: per round of runs (each stream's first run of one window, then its
    /// second, ...), one commit per segment, then the new heads in the catalog, in one
    /// commit. A failure part way still records what was committed before it.
    fn write(&self, inner: &mut Inner, writes: &[StreamWrite<'_>]) -> Result<(), LogError> {
        let runs: Vec<Vec<&[Entry<'_>]>> = writes
            .iter()
            .map(|w| {
                w.entries
                    .chunk_by(|a, b| window_of(a.event.timestamp) == window_of(b.event.timestamp))
                    .collect()
            })
            .collect();
        let unmarked: BTreeSet<(i64, Millis)> = writes
            .iter()
            .zip(&runs)
            .flat_map(|(w, runs)| {
                runs.iter()
                    .map(|run| (w.group, window_of(run[0].event.timestamp)))
            })
            .filter(|key| !inner.marked.contains_key(key))
            .collect();
        if !unmarked.is_empty() {
            let unmarked: Vec<(i64, Millis)> = unmarked.into_iter().collect();
            self.mark_segments(inner, &unmarked)?;
        }
        let mut kept: Vec<(u64, i64, Head)> = Vec::new();
        let result = self.write_rounds(inner, writes, &runs, &mut kept);
        if !kept.is_empty() {
            let fault = self.catalog_fault();
            let tx = inner.catalog.transaction().map_err(&fault)?;
            for (stream, segment, head) in &kept {
                record_head(&tx, *stream, *segment, head).map_err(&fault)?;
            }
            tx.commit().map_err(&fault)?;
        }
        result
    }

    /// The segment commits of [`Self::write`]; each head kept goes to `kept`, in order.
    fn write_rounds(
        &self,
        inner: &mut Inner,
        writes: &[StreamWrite<'_>],
        runs: &[Vec<&[Entry<'_>]>],
        kept: &mut Vec<(u64, i64, Head)>,
    ) -> Result<(), LogError> {
        let mut through: Vec<Option<u64>> = writes.iter().map(|w| w.captured_through).collect();
        let rounds = runs.iter().map(Vec::len).max().unwrap_or(0);
        for round in 0..rounds {
            let mut by_segment: BTreeMap<i64, (SegmentRef, Vec<usize>)> = BTreeMap::new();
            for (w, write) in writes.iter().enumerate() {
                if let Some(run) = runs[w].get(round) {
                    let segment = inner.marked[&(write.group, window_of(run[0].event.timestamp))];
                    by_segment
                        .entry(segment.id)
                        .or_insert_with(|| (segment, Vec::new()))
                        .1
                        .push(w);
                }
            }
            for (segment, members) in by_segment.into_values() {
                let fault = self.segment_fault(segment);
                let connection = self.segment(inner, segment)?;
                let tx = connection.transaction().map_err(&fault)?;
                let mut heads = Vec::with_capacity(members.len());
                for &w in &members {
                    let run = runs[w][round];
                    let position = run.last().and_then(|e| e.position).or(through[w]);
                    let head =
                        segment::write_run(&tx, writes[w].stream, run, position, self.tuning)
                            .map_err(&fault)?;
                    heads.push((w, head, position));
                }
                tx.commit().map_err(&fault)?;
                for (w, head, position) in heads {
                    through[w] = position;
                    kept.push((writes[w].stream, segment.id, head));
                }
            }
        }
        Ok(())
    }
}

impl Inner {
    /// The stream's row, or which of group and stream is missing.
    fn stream(
        &self,
        group: &str,
        stream: &str,
    ) -> Result<Result<StreamRow, LogError>, rusqlite::Error> {
        let found = self
            .catalog
            .prepare_cached(
                "SELECT s.id, s.group_id, s.last_seq, s.captured_through FROM streams s \
                 JOIN groups g ON g.id = s.group_id WHERE g.name = ?1 AND s.name = ?2",
            )?
            .query_row([group, stream], |row| {
                Ok(StreamRow {
                    id: row.get::<_, i64>(0)? as u64,
                    group: row.get(1)?,
                    last_seq: row.get::<_, i64>(2)? as u64,
                    captured_through: row.get::<_, Option<i64>>(3)?.map(|p| p as u64),
                })
            })
            .optional()?;
        Ok(match found {
            Some(found) => Ok(found),
            None if self.group_id(group)?.is_some() => Err(LogError::StreamNotFound {
                group: group.to_string(),
                stream: stream.to_string(),
            }),
            None => Err(LogError::GroupNotFound(group.to_string())),
        })
    }

    fn group_id(&self, group: &str) -> rusqlite::Result<Option<i64>> {
        self.catalog
            .prepare_cached("SELECT id FROM groups WHERE name = ?1")?
            .query_row([group], |row| row.get(0))
            .optional()
    }

    /// Adds an empty stream to the group numbered `group`.
    fn insert_stream(&self, group: i64, stream: &str, now: Millis) -> rusqlite::Result<StreamRow> {
        self.catalog.execute(
            "INSERT INTO streams (group_id, name, created) VALUES (?1, ?2, ?3)",
            params![group, stream, now],
        )?;
        Ok(StreamRow {
            id: self.catalog.last_insert_rowid() as u64,
            group,
            last_seq: 0,
            captured_through: None,
        })
    }

    fn insert_group(&self, name: &str, now: Millis) -> rusqlite::Result<i64> {
        self.catalog.execute(
            "INSERT INTO groups (name, created) VALUES (?1, ?2)",
            params![name, now],
        )?;
        Ok(self.catalog.last_insert_rowid())
    }

    /// The segments `stream` has events in, with its head in each.
    fn stream_segments(&self, stream: u64) -> rusqlite::Result<Vec<(SegmentRef, Head)>> {
        let mut statement = self.catalog.prepare_cached(&format!(
            "SELECT s.id, s.group_id, s.window_start, {} FROM stream_segments ss \
             JOIN segments s ON s.id = ss.segment_id WHERE ss.stream_id = ?1",
            prefixed_head_columns("ss")
        ))?;
        let rows = statement.query_map([stream as i64], |row| {
            Ok((segment_ref(row)?, Head::from_row(row, 3)?))
        })?;
        rows.collect()
    }
}

fn prefixed_head_columns(table: &str) -> String {
    segment::HEAD_COLUMNS
        .split(", ")
        .map(|c| format!("{table}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn segment_ref(row: &Row<'_>) -> rusqlite::Result<SegmentRef> {
    Ok(SegmentRef {
        id: row.get(0)?,
        group: row.get(1)?,
        window: row.get(2)?,
    })
}

fn open_catalog(path: &Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.execute_batch(CATALOG)?;
    Ok(connection)
}

/// Removes a SQLite database file with its WAL and shared-memory files, if there.
/// Removes a directory and what it holds; one already gone is fine.
fn remove_dir(path: &Path) -> Result<(), LogError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(LogError::Directory {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn remove_database(path: &Path) -> Result<(), LogError> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LogError::Directory {
                    path: PathBuf::from(file).display().to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Puts a stream's head in a segment into the catalog, and the stream's totals with it: its
/// last `seq`, and the captured position and ingestion time of its newest head. The same
/// head twice changes nothing, so a head already recorded may be recorded again; one of a
/// stream the catalog no longer has (deleted before a crash cleaned its events up) is left
/// out.
fn record_head(
    tx: &Transaction<'_>,
    stream: u64,
    segment: i64,
    head: &Head,
) -> rusqlite::Result<()> {
    let stream = stream as i64;
    let known = tx
        .prepare_cached("SELECT 1 FROM streams WHERE id = ?1")?
        .query_row([stream], |_| Ok(()))
        .optional()?
        .is_some();
    if !known {
        return Ok(());
    }
    let before: i64 = tx
        .prepare_cached(
            "SELECT bytes FROM stream_segments WHERE stream_id = ?1 AND segment_id = ?2",
        )?
        .query_row([stream, segment], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let grown = head.bytes as i64 - before;
    let captured = head.captured_through.map(|p| p as i64);
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO stream_segments (stream_id, segment_id, {}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        segment::HEAD_COLUMNS
    ))?
    .execute(params![
        stream,
        segment,
        head.min_seq as i64,
        head.max_seq as i64,
        head.events as i64,
        head.bytes as i64,
        head.min_ts,
        head.max_ts,
        head.last_ingestion,
        captured,
    ])?;
    tx.prepare_cached("UPDATE segments SET bytes = bytes + ?2 WHERE id = ?1")?
        .execute(params![segment, grown])?;
    tx.prepare_cached(
        "UPDATE streams SET \
         captured_through = CASE WHEN ?2 >= last_seq THEN ?3 ELSE captured_through END, \
         last_ingestion = CASE WHEN ?2 >= last_seq THEN ?4 ELSE last_ingestion END, \
         last_seq = MAX(last_seq, ?2), bytes = bytes + ?5, \
         first_event = MIN(COALESCE(first_event, ?6), ?6), \
         last_event = MAX(COALESCE(last_event, ?7), ?7) WHERE id = ?1",
    )?
    .execute(params![
        stream,
        head.max_seq as i64,
        captured,
        head.last_ingestion,
        grown,
        head.min_ts,
        head.max_ts
    ])?;
    Ok(())
}

const GROUP_COLUMNS: &str = "g.name, g.created, g.retention_days, g.tags, \
     (SELECT COALESCE(SUM(bytes), 0) FROM streams s WHERE s.group_id = g.id)";

fn group_info(row: &Row<'_>) -> rusqlite::Result<GroupInfo> {
    let tags: String = row.get(3)?;
    Ok(GroupInfo {
        name: row.get(0)?,
        created: row.get(1)?,
        retention_days: row.get(2)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        stored_bytes: row.get::<_, i64>(4)? as u64,
    })
}

fn stream_info(row: &Row<'_>) -> rusqlite::Result<StreamInfo> {
    Ok(StreamInfo {
        name: row.get(0)?,
        created: row.get(1)?,
        first_event: row.get(2)?,
        last_event: row.get(3)?,
        last_ingestion: row.get(4)?,
        stored_bytes: row.get::<_, i64>(5)? as u64,
    })
}

/// `column` starts with `prefix`, as a range an index can use.
fn prefix_clause(column: &str, first: usize) -> String {
    format!("({column} >= ?{first} AND {column} < ?{first} || char(1114111))")
}

impl SegmentedLogStore {
    /// Removes what the catalog has of `stream`'s events (its totals go with it, or the
    /// stream itself); the segments left without any stream's events, which the caller
    /// removes, and the others, which still hold the stream's rows.
    fn forget_stream_in_catalog(
        &self,
        tx: &Transaction<'_>,
        stream: u64,
    ) -> rusqlite::Result<(Vec<SegmentRef>, Vec<SegmentRef>)> {
        let held: Vec<(SegmentRef, i64)> = {
            let mut statement = tx.prepare_cached(
                "SELECT s.id, s.group_id, s.window_start, ss.bytes FROM stream_segments ss \
                 JOIN segments s ON s.id = ss.segment_id WHERE ss.stream_id = ?1",
            )?;
            let rows =
                statement.query_map([stream as i64], |row| Ok((segment_ref(row)?, row.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.execute(
            "DELETE FROM stream_segments WHERE stream_id = ?1",
            [stream as i64],
        )?;
        let (mut empty, mut shared) = (Vec::new(), Vec::new());
        for (segment, bytes) in held {
            tx.execute(
                "UPDATE segments SET bytes = bytes - ?2 WHERE id = ?1",
                params![segment.id, bytes],
            )?;
            let others = tx
                .query_row(
                    "SELECT 1 FROM stream_segments WHERE segment_id = ?1 LIMIT 1",
                    [segment.id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if others {
                shared.push(segment);
            } else {
                tx.execute("DELETE FROM segments WHERE id = ?1", [segment.id])?;
                empty.push(segment);
            }
        }
        Ok((empty, shared))
    }

    /// The captured entries `streams` as writes, each answered (or refused for a missing
    /// group); making missing groups and streams as they ask.
    fn captured_writes<'e>(
        &self,
        inner: &Inner,
        streams: &[CapturedStream<'e>],
        now: Millis,
    ) -> Result<(Vec<StreamWrite<'e>>, Vec<Captured>), LogError> {
        let fault = self.catalog_fault();
        let mut writes: Vec<StreamWrite<'e>> = Vec::new();
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut answers = Vec::with_capacity(streams.len());
        for captured in streams {
            let row = match inner
                .stream(captured.group, captured.stream)
                .map_err(&fault)?
            {
                Ok(row) => row,
                Err(LogError::StreamNotFound { .. }) => {
                    let group = inner
                        .group_id(captured.group)
                        .map_err(&fault)?
                        .expect("the stream's group was found");
                    inner
                        .insert_stream(group, captured.stream, now)
                        .map_err(&fault)?
                }
                Err(LogError::GroupNotFound(_)) if captured.create_group => {
                    let group = inner.insert_group(captured.group, now).map_err(&fault)?;
                    inner
                        .insert_stream(group, captured.stream, now)
                        .map_err(&fault)?
                }
                Err(missing) => {
                    answers.push(Err(missing));
                    continue;
                }
            };
            let at = *index.entry(row.id).or_insert_with(|| {
                writes.push(StreamWrite {
                    stream: row.id,
                    group: row.group,
                    entries: Vec::new(),
                    captured_through: row.captured_through,
                });
                writes.len() - 1
            });
            let write = &mut writes[at];
            let before = write
                .entries
                .last()
                .and_then(|e| e.position)
                .or(write.captured_through);
            let (fresh, through) = uncaptured(before, captured.events);
            let last = write.entries.last().map_or(row.last_seq, |e| e.seq);
            for (seq, captured) in (last + 1..).zip(fresh) {
                write.entries.push(Entry {
                    seq,
                    event: &captured.event,
                    ingestion: now,
                    position: Some(captured.position),
                });
            }
            answers.push(Ok(through));
        }
        Ok((writes, answers))
    }
}

impl LogStore for SegmentedLogStore {
    fn create_group(&self, name: &str, now: Millis) -> Result<(), LogError> {
        let inner = self.inner();
        let fault = self.catalog_fault();
        if inner.group_id(name).map_err(&fault)?.is_some() {
            return Err(LogError::GroupExists(name.to_string()));
        }
        inner.insert_group(name, now).map(drop).map_err(&fault)
    }

    fn delete_group(&self, name: &str) -> Result<(), LogError> {
        let mut inner = self.inner();
        let fault = self.catalog_fault();
        let group = inner
            .group_id(name)
            .map_err(&fault)?
            .ok_or_else(|| LogError::GroupNotFound(name.to_string()))?;
        let segments: Vec<SegmentRef> = {
            let mut statement = inner
                .catalog
                .prepare("SELECT id, group_id, window_start FROM segments WHERE group_id = ?1")
                .map_err(&fault)?;
            let rows = statement.query_map([group], segment_ref).map_err(&fault)?;
            rows.collect::<Result<_, _>>().map_err(&fault)?
        };
        let tx = inner.catalog.transaction().map_err(&fault)?;
        for sql in [
            "DELETE FROM stream_segments WHERE stream_id IN \
             (SELECT id FROM streams WHERE group_id = ?1)",
            "DELETE FROM segments WHERE group_id = ?1",
            "DELETE FROM streams WHERE group_id = ?1",
            "DELETE FROM groups WHERE id = ?1",
        ] {
            tx.execute(sql, [group]).map_err(&fault)?;
        }
        tx.commit().map_err(&fault)?;
        self.remove_segments(&mut inner, &segments)?;
        remove_dir(&self.segments_dir().join(group.to_string()))
    }

    fn group(&self, name: &str) -> Result<Option<GroupInfo>, LogError> {
        self.inner()
            .catalog
            .query_row(
                &format!("SELECT {GROUP_COLUMNS} FROM groups g WHERE g.name = ?1"),
                [name],
                group_info,
            )
            .optional()
            .map_err(self.catalog_fault())
    }

    fn groups(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GroupInfo>, LogError> {
        let inner = self.inner();
        let fault = self.catalog_fault();
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups g WHERE {} AND g.name > ?2 ORDER BY g.name LIMIT ?3",
            prefix_clause("g.name", 1)
        );
        let mut statement = inner.catalog.prepare(&sql).map_err(&fault)?;
        let rows = statement
            .query_map(
                params![prefix, after.unwrap_or(""), limit as i64],
                group_info,
            )
            .map_err(&fault)?;
        rows.collect::<Result<_, _>>().map_err(&fault)
    }

    fn set_retention(&self, group: &str, days: Option<u32>) -> Result<(), LogError> {
        let changed = self
            .inner()
            .catalog
            .execute(
                "UPDATE groups SET retention_days = ?2 WHERE name = ?1",
                params![group, days],
            )
            .map_err(self.catalog_fault())?;
        if changed == 0 {
            return Err(LogError::GroupNotFound(group.to_string()));
        }
        Ok(())
    }

    fn tag_group(
        &self,
        group: &str,
        add: &BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<(), LogError> {
        let mut inner = self.inner();
        let fault = self.catalog_fault();
        let tx = inner.catalog.transaction().map_err(&fault)?;
        let tags: Option<String> = tx
            .query_row("SELECT tags FROM groups WHERE name = ?1", [group], |row| {
                row.get(0)
            })
            .optional()
            .map_err(&fault)?;
        let tags = tags.ok_or_else(|| LogError::GroupNotFound(group.to_string()))?;
        let mut tags: BTreeMap<String, String> = serde_json::from_str(&tags).unwrap_or_default();
        tags.extend(add.clone());
        for key in remove {
            tags.remove(key);
        }
        let tags = serde_json::to_string(&tags).expect("tags serialize");
        tx.execute(
            "UPDATE groups SET tags = ?2 WHERE name = ?1",
            params![group, tags],
        )
        .map_err(&fault)?;
        tx.commit().map_err(&fault)
    }

    fn create_stream(&self, group: &str, stream: &str, now: Millis) -> Result<(), LogError> {
        let inner = self.inner();
        let fault = self.catalog_fault();
        match inner.stream(group, stream).map_err(&fault)? {
            Ok(_) => Err(LogError::StreamExists {
                group: group.to_string(),
                stream: stream.to_string(),
            }),
            Err(LogError::StreamNotFound { .. }) => {
                let group = inner
                    .group_id(group)
                    .map_err(&fault)?
                    .expect("the stream's group was found");
                inner
                    .insert_stream(group, stream, now)
                    .map(drop)
                    .map_err(&fault)
            }
            Err(e) => Err(e),
        }
    }

    fn delete_stream(&self, group: &str, stream: &str) -> Result<(), LogError> {
        let mut inner = self.inner();
        let fault = self.catalog_fault();
        let row = inner.stream(group, stream).map_err(&fault)??;
        let tx = inner.catalog.transaction().map_err(&fault)?;
        let (empty, shared) = self.forget_stream_in_catalog(&tx, row.id).map_err(&fault)?;
        tx.execute("DELETE FROM streams WHERE id = ?1", [row.id as i64])
            .map_err(&fault)?;
        tx.commit().map_err(&fault)?;
        self.remove_segments(&mut inner, &empty)?;
        for segment in shared {
            let connection = self.segment(&mut inner, segment)?;
            segment::forget_stream(connection, row.id).map_err(self.segment_fault(segment))?;
        }
        Ok(())
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
        let inner = self.inner();
        let fault = self.catalog_fault();
        let group = inner
            .group_id(group)
            .map_err(&fault)?
            .ok_or_else(|| LogError::GroupNotFound(group.to_string()))?;
        let (direction, beyond) = if descending {
            ("DESC", "<")
        } else {
            ("ASC", ">")
        };
        // As `StreamOrder::key`: streams without events first, as absent times sort lowest.
        let time = match order {
            StreamOrder::Name => "0",
            StreamOrder::LastEventTime => "COALESCE(last_event, -1)",
        };
        let order_by = match order {
            StreamOrder::Name => format!("name {direction}"),
            StreamOrder::LastEventTime => format!("{time} {direction}, name {direction}"),
        };
        let after_clause = match after {
            Some(_) => format!("AND ({time}, name) {beyond} (?4, ?5)"),
            None => "AND ?4 IS NULL AND ?5 IS NULL".to_string(),
        };
        let sql = format!(
            "SELECT name, created, first_event, last_event, last_ingestion, bytes FROM streams \
             WHERE group_id = ?1 AND {} {after_clause} \
             ORDER BY {order_by} LIMIT ?3",
            prefix_clause("name", 2)
        );
        let mut statement = inner.catalog.prepare(&sql).map_err(&fault)?;
        let rows = statement
            .query_map(
                params![
                    group,
                    prefix,
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    after.map(|a| a.last_event),
                    after.map(|a| a.name.as_str()),
                ],
                stream_info,
            )
            .map_err(&fault)?;
        rows.collect::<Result<_, _>>().map_err(&fault)
    }

    fn append(
        &self,
        group: &str,
        stream: &str,
        events: &[NewEvent],
        now: Millis,
    ) -> Result<RangeInclusive<u64>, LogError> {
        let mut inner = self.inner();
        let row = inner
            .stream(group, stream)
            .map_err(self.catalog_fault())??;
        let write = StreamWrite {
            stream: row.id,
            group: row.group,
            entries: events
                .iter()
                .zip(row.last_seq + 1..)
                .map(|(event, seq)| Entry {
                    seq,
                    event,
                    ingestion: now,
                    position: None,
                })
                .collect(),
            captured_through: row.captured_through,
        };
        self.write(&mut inner, std::slice::from_ref(&write))?;
        Ok(row.last_seq + 1..=row.last_seq + events.len() as u64)
    }

    fn append_captured(
        &self,
        streams: &[CapturedStream<'_>],
        now: Millis,
    ) -> Result<Vec<Captured>, LogError> {
        let mut inner = self.inner();
        let (writes, answers) = self.captured_writes(&inner, streams, now)?;
        self.write(&mut inner, &writes)?;
        Ok(answers)
    }

    fn read(
        &self,
        group: &str,
        stream: &str,
        (start, end): (Option<Millis>, Option<Millis>),
        from: Position,
        limit: usize,
    ) -> Result<ReadPage, LogError> {
        let mut inner = self.inner();
        let fault = self.catalog_fault();
        let row = inner.stream(group, stream).map_err(&fault)??;
        if limit == 0 {
            return Ok(ReadPage::default());
        }
        let (start, end) = (start.unwrap_or(Millis::MIN), end.unwrap_or(Millis::MAX));
        let (forward, bound) = match from {
            Position::Head => (true, 0),
            Position::After(seq) => (true, seq),
            Position::Tail => (false, u64::MAX),
            Position::Before(seq) => (false, seq),
        };
        // The segments that may hold what is wanted, nearest the starting place first: each
        // gives up to `limit` events, and a segment all of whose `seq`s lie beyond the
        // `limit`th event found so far can give none.
        let mut held: Vec<(SegmentRef, Head)> = inner
            .stream_segments(row.id)
            .map_err(&fault)?
            .into_iter()
            .filter(|(_, h)| h.max_ts >= start && h.min_ts < end)
            .filter(|(_, h)| {
                if forward {
                    h.max_seq > bound
                } else {
                    h.min_seq < bound
                }
            })
            .collect();
        if forward {
            held.sort_by_key(|(_, h)| h.min_seq);
        } else {
            held.sort_by_key(|(_, h)| std::cmp::Reverse(h.max_seq));
        }
        let (condition, order) = if forward {
            ("seq > ?5", "ASC")
        } else {
            ("seq < ?5", "DESC")
        };
        let sql = format!(
            "SELECT seq, timestamp, ingestion, message FROM events WHERE stream_id = ?1 \
             AND timestamp >= ?2 AND timestamp < ?3 AND {condition} ORDER BY seq {order} LIMIT ?4"
        );
        let mut events: Vec<Event> = Vec::new();
        for (segment, head) in held {
            if events.len() >= limit {
                let last = events[limit - 1].seq;
                let beyond = if forward {
                    head.min_seq > last
                } else {
                    head.max_seq < last
                };
                if beyond {
                    break;
                }
            }
            let segment_fault = self.segment_fault(segment);
            let connection = self.segment(&mut inner, segment)?;
            let mut statement = connection.prepare_cached(&sql).map_err(&segment_fault)?;
            let rows = statement
                .query_map(
                    params![
                        row.id as i64,
                        start,
                        end,
                        limit as i64,
                        bound.min(i64::MAX as u64) as i64
                    ],
                    |r| {
                        let seq = r.get::<_, i64>(0)? as u64;
                        Ok(Event {
                            stream: stream.to_string(),
                            event_id: event_id(row.id, seq),
                            seq,
                            timestamp: r.get(1)?,
                            ingestion_time: r.get(2)?,
                            message: r.get(3)?,
                        })
                    },
                )
                .map_err(&segment_fault)?;
            for event in rows {
                events.push(event.map_err(&segment_fault)?);
            }
            if forward {
                events.sort_by_key(|e| e.seq);
            } else {
                events.sort_by_key(|e| std::cmp::Reverse(e.seq));
            }
            events.truncate(limit);
        }
        if !forward {
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
        let after = cursor.map(Cursor::decode).transpose()?.unwrap_or(Cursor {
            timestamp: Millis::MIN,
            stream: 0,
            seq: 0,
        });
        let mut inner = self.inner();
        let fault = self.catalog_fault();
        let group = inner
            .group_id(query.group)
            .map_err(&fault)?
            .ok_or_else(|| LogError::GroupNotFound(query.group.to_string()))?;
        // The streams searched, by number; their names come back with the events.
        let mut sql = String::from("SELECT id, name FROM streams WHERE group_id = ?1");
        let mut arguments: Vec<rusqlite::types::Value> = vec![group.into()];
        if !query.streams.is_empty() {
            let marks: Vec<String> = (0..query.streams.len())
                .map(|i| format!("?{}", i + 2))
                .collect();
            sql.push_str(&format!(" AND name IN ({})", marks.join(", ")));
            arguments.extend(query.streams.iter().map(|s| s.clone().into()));
        }
        if let Some(prefix) = query.prefix {
            sql.push_str(&format!(
                " AND {}",
                prefix_clause("name", arguments.len() + 1)
            ));
            arguments.push(prefix.to_string().into());
        }
        let names: BTreeMap<i64, String> = {
            let mut statement = inner.catalog.prepare(&sql).map_err(&fault)?;
            let rows = statement
                .query_map(params_from_iter(&arguments), |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .map_err(&fault)?;
            rows.collect::<Result<_, _>>().map_err(&fault)?
        };
        let from = query.start.unwrap_or(Millis::MIN).max(after.timestamp);
        let end = query.end.unwrap_or(Millis::MAX);
        if names.is_empty() || from >= end {
            return Ok(FilterPage::default());
        }
        let mut search = Search::new(query, &names, after, matches, limit, self.tuning);
        // The segments with events of those streams in the time range, in window order.
        let segments: Vec<SegmentRef> = {
            let sql = format!(
                "SELECT DISTINCT s.id, s.group_id, s.window_start FROM segments s \
                 JOIN stream_segments ss ON ss.segment_id = s.id WHERE s.group_id = ?1 \
                 AND ss.stream_id IN ({}) AND ss.max_ts >= ?2 AND ss.min_ts <= ?3 \
                 ORDER BY s.window_start",
                search.stream_ids()
            );
            let mut statement = inner.catalog.prepare(&sql).map_err(&fault)?;
            let rows = statement
                .query_map(params![group, from, end - 1], segment_ref)
                .map_err(&fault)?;
            rows.collect::<Result<_, _>>().map_err(&fault)?
        };
        let probe = Probe::of(query.contains);
        for segment in segments {
            let connection = self.segment(&mut inner, segment)?;
            let step = search
                .segment(connection, probe.as_ref())
                .map_err(self.segment_fault(segment))?;
            if step == Step::Answered {
                break;
            }
        }
        Ok(search.into_page())
    }

    fn enforce_retention(&self, now: Millis, max_bytes: u64) -> Result<u64, LogError> {
        let mut inner = self.inner();
        let fault = self.catalog_fault();
        // A row per group and day: what retention reads each run, never the events.
        let segments: Vec<(SegmentRef, String, u64, Option<u32>)> = {
            let mut statement = inner
                .catalog
                .prepare(
                    "SELECT s.id, s.group_id, s.window_start, g.name, s.bytes, g.retention_days \
                     FROM segments s JOIN groups g ON g.id = s.group_id",
                )
                .map_err(&fault)?;
            let rows = statement
                .query_map([], |row| {
                    Ok((
                        segment_ref(row)?,
                        row.get(3)?,
                        row.get::<_, i64>(4)? as u64,
                        row.get(5)?,
                    ))
                })
                .map_err(&fault)?;
            rows.collect::<Result<_, _>>().map_err(&fault)?
        };
        let held: Vec<Held<'_>> = segments
            .iter()
            .map(|(segment, group, bytes, retention_days)| Held {
                group,
                window: segment.window,
                bytes: *bytes,
                retention_days: *retention_days,
            })
            .collect();
        let picked = segments_to_drop(&held, now, max_bytes);
        if picked.is_empty() {
            return Ok(0);
        }
        let dropped: u64 = picked.iter().map(|&i| held[i].bytes).sum();
        let gone: Vec<SegmentRef> = picked.iter().map(|&i| segments[i].0).collect();
        let tx = inner.catalog.transaction().map_err(&fault)?;
        let mut touched = BTreeSet::new();
        for segment in &gone {
            let streams: Vec<(i64, i64)> = {
                let mut statement = tx
                    .prepare_cached(
                        "SELECT stream_id, bytes FROM stream_segments WHERE segment_id = ?1",
                    )
                    .map_err(&fault)?;
                let rows = statement
                    .query_map([segment.id], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(&fault)?;
                rows.collect::<Result<_, _>>().map_err(&fault)?
            };
            for (stream, bytes) in streams {
                tx.execute(
                    "UPDATE streams SET bytes = bytes - ?2 WHERE id = ?1",
                    params![stream, bytes],
                )
                .map_err(&fault)?;
                touched.insert(stream);
            }
            tx.execute(
                "DELETE FROM stream_segments WHERE segment_id = ?1",
                [segment.id],
            )
            .map_err(&fault)?;
            tx.execute("DELETE FROM segments WHERE id = ?1", [segment.id])
                .map_err(&fault)?;
        }
        for stream in touched {
            tx.execute(
                "UPDATE streams SET \
                 first_event = (SELECT MIN(min_ts) FROM stream_segments WHERE stream_id = ?1), \
                 last_event = (SELECT MAX(max_ts) FROM stream_segments WHERE stream_id = ?1) \
                 WHERE id = ?1",
                [stream],
            )
            .map_err(&fault)?;
        }
        tx.commit().map_err(&fault)?;
        self.remove_segments(&mut inner, &gone)?;
        Ok(dropped)
    }
}
