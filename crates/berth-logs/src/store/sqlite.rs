//! The embedded log store: one SQLite database of its own (`DATA_DIR/logs/logs.db`, never
//! the state store's), in WAL mode with every append committed to disk before it returns.
//! Events are keyed by stream and arrival, with a time index for searches across streams;
//! each stream keeps its own totals (so describing streams never reads their events) and how
//! far capture into it has reached. A database an older Berth made is brought up to date when
//! opened.
//!
//! # How searches skip events
//!
//! Each stream's events are also grouped in blocks, by arrival: a block is a run of
//! consecutive `seq`s with the time range of its events and a Bloom filter of the trigrams
//! (3-byte windows) of their messages ([`trigrams`](super::trigrams)). A block is sealed at
//! 4,096 events, 1 MiB of messages, or when its filter is 30% set, whichever comes first, and
//! its filter is then folded (halved) as far as it stays that sparse: about 2 KiB for 4,096
//! lines of an access log. Blocks are written by the same transaction as the events they
//! hold, so the index never misses an event; an append to the stream's open block rewrites
//! that block's row (8 KiB of filter while it is open). Opening a database made before the
//! index puts the events it has in blocks, in the migration.
//!
//! A search whose pattern requires a term of 3 bytes or more ([`FilterQuery::contains`])
//! lists the blocks of the streams searched that overlap its time range and the part after
//! its cursor, in the order of their first possible event (earliest timestamp, stream, first
//! `seq`; no event of a block comes before that), and asks each one's filter whether it has
//! every trigram of every such term. Blocks that cannot hold a match are skipped unread and
//! cost a filter check each; the events of the others are read by `seq` (or, for a block
//! only a small part of whose time range is wanted, through the stream's time index), with
//! SQLite checking the required terms, until the call has read [`SEARCH_BUDGET`] events (or
//! 64 MiB, or checked 4,096 filters). Everything before the first block it did not take is
//! then answered in order, matched, and the cursor resumes just before that block; so a call
//! that reads nothing goes on as far as its filter checks allow. Blocks that may hold events
//! on both sides of the cursor are read whatever they cost, which keeps every page in order
//! with out-of-order timestamps; at least one block past the cursor is looked at, so every
//! call gets further. Terms shorter than 3 bytes, and JSON patterns, use no filter: such a
//! search walks the time index, up to [`SEARCH_BUDGET`] events a call. Retention and the size
//! cap drop a block once none of its events is left; a block only partly left stays, naming
//! some `seq`s that are gone.

use super::trigrams::{Filter, Probe, FULL_BITS};
use super::{
    event_id, uncaptured, CapturedEvent, Cursor, Event, FilterPage, FilterQuery, GroupInfo,
    LogError, LogStore, Millis, NewEvent, Position, ReadPage, StreamInfo, StreamOrder, DAY,
    SEARCH_BUDGET,
};
use rusqlite::{
    params, params_from_iter, Connection, OptionalExtension, Row, Transaction, TransactionBehavior,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// The schema as first released, which databases of every age have; [`MIGRATIONS`] bring
/// it up to date.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS groups (
        name TEXT PRIMARY KEY, created INTEGER NOT NULL, retention_days INTEGER,
        tags TEXT NOT NULL DEFAULT '{}');
    CREATE TABLE IF NOT EXISTS streams (
        id INTEGER PRIMARY KEY, group_name TEXT NOT NULL, name TEXT NOT NULL,
        created INTEGER NOT NULL, first_event INTEGER, last_event INTEGER,
        last_ingestion INTEGER, last_seq INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0, UNIQUE (group_name, name));
    CREATE TABLE IF NOT EXISTS events (
        stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, timestamp INTEGER NOT NULL,
        ingestion INTEGER NOT NULL, message TEXT NOT NULL,
        PRIMARY KEY (stream_id, seq)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS events_by_time ON events (timestamp, stream_id, seq);
    CREATE INDEX IF NOT EXISTS events_by_stream_time ON events (stream_id, timestamp);
";

/// A change to the schema.
enum Migration {
    Sql(&'static str),
    /// Work SQL alone cannot do, in the migration's transaction.
    Code(fn(&Transaction<'_>, &Tuning) -> rusqlite::Result<()>),
}

/// Changes to [`SCHEMA`] since, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[Migration] = &[
    // How far capture into a stream has reached: a `u64` kept bit for bit in SQLite's `i64`.
    Migration::Sql("ALTER TABLE streams ADD COLUMN captured_through INTEGER"),
    // The block index, built for the events already stored.
    Migration::Code(add_blocks),
];

/// Each stream's events in blocks of consecutive `seq`s, each with the time range of its
/// events and a trigram filter of their messages ([`super::trigrams`]). A block's range may
/// name events retention has dropped since; a block none of whose events are left is
/// dropped. `blocks_by_stream_time` is what a search lists blocks by, without reading their
/// filters.
const BLOCKS: &str = "
    CREATE TABLE blocks (
        id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,
        events INTEGER NOT NULL, bytes INTEGER NOT NULL, filter BLOB NOT NULL,
        UNIQUE (stream_id, first_seq));
    CREATE INDEX blocks_by_stream_time
        ON blocks (stream_id, max_ts, min_ts, first_seq, last_seq, events, bytes);
";

/// Creates the block index and puts every stored event in a block, stream by stream.
fn add_blocks(tx: &Transaction<'_>, tuning: &Tuning) -> rusqlite::Result<()> {
    tx.execute_batch(BLOCKS)?;
    let mut statement = tx
        .prepare("SELECT stream_id, seq, timestamp, message FROM events ORDER BY stream_id, seq")?;
    let mut rows = statement.query([])?;
    let mut blocks: Option<Blocks<'_>> = None;
    while let Some(row) = rows.next()? {
        let stream: i64 = row.get(0)?;
        if blocks.as_ref().is_none_or(|b| b.stream != stream) {
            if let Some(done) = blocks.take() {
                done.finish()?;
            }
            blocks = Some(Blocks::new(tx, stream, *tuning));
        }
        let message = row.get_ref(3)?.as_str()?;
        blocks.as_mut().expect("made above").add(
            row.get::<_, i64>(1)? as u64,
            row.get(2)?,
            message,
        )?;
    }
    blocks.map_or(Ok(()), Blocks::finish)
}

/// Sizes that bound the work of appends and searches.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    /// A block is sealed when it has this many events,
    block_events: u64,
    /// or this many bytes of messages (or when its filter is full).
    block_bytes: u64,
    /// The events a search call reads, at most, from blocks it could not rule out (or, for a
    /// search no filter can help, walks through the time index): [`SEARCH_BUDGET`].
    search_events: u64,
    /// The bytes of messages a search call reads from blocks, at most.
    search_bytes: u64,
    /// The filters a search call checks, at most.
    filter_checks: usize,
    /// A block with more events than this is read through its stream's time index when a
    /// search wants only a small part of its time range.
    read_by_time_above: u64,
}

const TUNING: Tuning = Tuning {
    block_events: 4096,
    block_bytes: 1 << 20,
    search_events: SEARCH_BUDGET as u64,
    search_bytes: 64 << 20,
    filter_checks: 4096,
    read_by_time_above: 64,
};

pub struct SqliteLogStore {
    path: String,
    connection: Mutex<Connection>,
    tuning: Tuning,
}

impl SqliteLogStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteLogStore, LogError> {
        SqliteLogStore::open_tuned(dir, TUNING)
    }

    fn open_tuned(dir: &Path, tuning: Tuning) -> Result<SqliteLogStore, LogError> {
        let path = dir.join("logs.db");
        let shown = path.display().to_string();
        let storage = |source| LogError::Storage {
            path: shown.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|source| LogError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        let mut connection = Connection::open(&path).map_err(storage)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(storage)?;
        // An append is answered only once it is on disk.
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(storage)?;
        migrate(&mut connection, &tuning).map_err(storage)?;
        Ok(SqliteLogStore {
            path: shown,
            connection: Mutex::new(connection),
            tuning,
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn storage(&self, source: rusqlite::Error) -> LogError {
        LogError::Storage {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `work` in one transaction, committed when it succeeds.
    fn transaction<R>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, LogError>,
    ) -> Result<R, LogError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(|e| self.storage(e))?;
        let result = work(&transaction)?;
        transaction.commit().map_err(|e| self.storage(e))?;
        Ok(result)
    }
}

/// Creates the schema or brings it up to date, in one commit, so that a crash part way leaves
/// the database as it was.
fn migrate(connection: &mut Connection, tuning: &Tuning) -> rusqlite::Result<()> {
    // Immediate, so that two opening at once cannot both see a step as still to run.
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    let applied: usize = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        match migration {
            Migration::Sql(sql) => tx.execute_batch(sql)?,
            Migration::Code(run) => run(&tx, tuning)?,
        }
        tx.pragma_update(None, "user_version", index + 1)?;
    }
    tx.commit()
}

/// A block being filled: what its row will say.
struct Block {
    /// Its row, once it has one.
    id: Option<i64>,
    first_seq: u64,
    last_seq: u64,
    min_ts: Millis,
    max_ts: Millis,
    events: u64,
    bytes: u64,
    filter: Filter,
}

impl Block {
    fn is_full(&self, tuning: &Tuning) -> bool {
        self.events >= tuning.block_events
            || self.bytes >= tuning.block_bytes
            || self.filter.is_full()
    }
}

/// Puts one stream's new events in blocks as they are stored, in the same transaction: the
/// stream's newest block while it can take more, then new ones.
struct Blocks<'t> {
    tx: &'t Connection,
    stream: i64,
    tuning: Tuning,
    /// Where the stream's events end, until its newest block has been looked up (on the
    /// first event added, so that an append of nothing reads and writes no block).
    resume_after: Option<u64>,
    open: Option<Block>,
    /// Whether `open` has events its row does not have yet.
    dirty: bool,
}

impl<'t> Blocks<'t> {
    /// For a stream none of whose events are in a block yet.
    fn new(tx: &'t Connection, stream: i64, tuning: Tuning) -> Blocks<'t> {
        Blocks {
            tx,
            stream,
            tuning,
            resume_after: None,
            open: None,
            dirty: false,
        }
    }

    /// For events that follow `last_seq`: they go on in the stream's newest block when it
    /// ends at `last_seq` and is not sealed (full).
    fn resume(tx: &'t Connection, stream: i64, last_seq: u64, tuning: Tuning) -> Blocks<'t> {
        Blocks {
            resume_after: Some(last_seq),
            ..Blocks::new(tx, stream, tuning)
        }
    }

    /// The stream's newest block, if it ends at `last_seq` and can take more.
    fn newest_open(&self, last_seq: u64) -> rusqlite::Result<Option<Block>> {
        let newest = self
            .tx
            .prepare_cached(
                "SELECT id, first_seq, last_seq, min_ts, max_ts, events, bytes, filter \
                 FROM blocks WHERE stream_id = ?1 ORDER BY first_seq DESC LIMIT 1",
            )?
            .query_row([self.stream], |row| {
                let filter = row.get_ref(7)?.as_blob()?;
                // Only a filter still at its full size takes more trigrams.
                let Some(filter) = (filter.len() * 8 == FULL_BITS)
                    .then(|| Filter::from_bytes(filter))
                    .flatten()
                else {
                    return Ok(None);
                };
                Ok(Some(Block {
                    id: Some(row.get(0)?),
                    first_seq: row.get::<_, i64>(1)? as u64,
                    last_seq: row.get::<_, i64>(2)? as u64,
                    min_ts: row.get(3)?,
                    max_ts: row.get(4)?,
                    events: row.get::<_, i64>(5)? as u64,
                    bytes: row.get::<_, i64>(6)? as u64,
                    filter,
                }))
            })
            .optional()?
            .flatten();
        Ok(newest.filter(|block| block.last_seq == last_seq && !block.is_full(&self.tuning)))
    }

    /// Adds the event `seq` (the one after the last added), sealing its block when full.
    fn add(&mut self, seq: u64, timestamp: Millis, message: &str) -> rusqlite::Result<()> {
        if let Some(last_seq) = self.resume_after.take() {
            self.open = self.newest_open(last_seq)?;
        }
        let block = self.open.get_or_insert_with(|| Block {
            id: None,
            first_seq: seq,
            last_seq: seq,
            min_ts: timestamp,
            max_ts: timestamp,
            events: 0,
            bytes: 0,
            filter: Filter::default(),
        });
        block.last_seq = seq;
        block.min_ts = block.min_ts.min(timestamp);
        block.max_ts = block.max_ts.max(timestamp);
        block.events += 1;
        block.bytes += message.len() as u64;
        block.filter.add(message.as_bytes());
        self.dirty = true;
        if block.is_full(&self.tuning) {
            let mut sealed = self.open.take().expect("added to above");
            sealed.filter.fold();
            self.save(&sealed)?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Stores the block still open, if events went into it.
    fn finish(mut self) -> rusqlite::Result<()> {
        match self.open.take() {
            Some(block) if self.dirty => self.save(&block),
            _ => Ok(()),
        }
    }

    fn save(&self, block: &Block) -> rusqlite::Result<()> {
        let sql = if block.id.is_some() {
            "UPDATE blocks SET stream_id = ?1, first_seq = ?2, last_seq = ?3, min_ts = ?4, \
             max_ts = ?5, events = ?6, bytes = ?7, filter = ?8 WHERE id = ?9"
        } else {
            "INSERT INTO blocks (stream_id, first_seq, last_seq, min_ts, max_ts, events, bytes, \
             filter) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        };
        let values = params![
            self.stream,
            block.first_seq as i64,
            block.last_seq as i64,
            block.min_ts,
            block.max_ts,
            block.events as i64,
            block.bytes as i64,
            block.filter.to_bytes(),
            block.id,
        ];
        let used = if block.id.is_some() { 9 } else { 8 };
        self.tx
            .prepare_cached(sql)?
            .execute(&values[..used])
            .map(drop)
    }
}

/// Drops the blocks of `stream` none of whose events are left.
fn drop_empty_blocks(tx: &Connection, stream: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM blocks WHERE stream_id = ?1 AND NOT EXISTS (SELECT 1 FROM events e \
         WHERE e.stream_id = ?1 AND e.seq BETWEEN blocks.first_seq AND blocks.last_seq)",
        [stream],
    )
    .map(drop)
}

fn group_exists(tx: &Connection, group: &str) -> rusqlite::Result<bool> {
    tx.query_row("SELECT 1 FROM groups WHERE name = ?1", [group], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// The stream's id and last `seq`, or which of group and stream is missing.
fn stream_of(
    store: &SqliteLogStore,
    tx: &Connection,
    group: &str,
    stream: &str,
) -> Result<(u64, u64), LogError> {
    let found = tx
        .query_row(
            "SELECT id, last_seq FROM streams WHERE group_name = ?1 AND name = ?2",
            [group, stream],
            |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
        )
        .optional()
        .map_err(|e| store.storage(e))?;
    match found {
        Some(found) => Ok(found),
        None if group_exists(tx, group).map_err(|e| store.storage(e))? => {
            Err(LogError::StreamNotFound {
                group: group.to_string(),
                stream: stream.to_string(),
            })
        }
        None => Err(LogError::GroupNotFound(group.to_string())),
    }
}

/// Appends `events` in order to the stream `id` whose last `seq` is `last`, keeping its
/// totals, whichever way they came in, so that every event gets the same `seq` and ingestion
/// time rules; the `seq`s they took.
fn insert_events<'e>(
    store: &SqliteLogStore,
    tx: &Connection,
    id: u64,
    last: u64,
    events: impl IntoIterator<Item = &'e NewEvent>,
    now: Millis,
) -> Result<RangeInclusive<u64>, LogError> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO events (stream_id, seq, timestamp, ingestion, message) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(|e| store.storage(e))?;
    let mut blocks = Blocks::resume(tx, id as i64, last, store.tuning);
    let mut seq = last;
    let mut bytes = 0i64;
    let mut times: Option<(Millis, Millis)> = None;
    for event in events {
        seq += 1;
        insert
            .execute(params![
                id as i64,
                seq as i64,
                event.timestamp,
                now,
                event.message
            ])
            .map_err(|e| store.storage(e))?;
        blocks
            .add(seq, event.timestamp, &event.message)
            .map_err(|e| store.storage(e))?;
        bytes += event.message.len() as i64;
        let t = event.timestamp;
        times = Some(times.map_or((t, t), |(earliest, latest)| {
            (earliest.min(t), latest.max(t))
        }));
    }
    blocks.finish().map_err(|e| store.storage(e))?;
    if let Some((earliest, latest)) = times {
        tx.execute(
            "UPDATE streams SET last_seq = ?2, bytes = bytes + ?3, last_ingestion = ?4, \
             first_event = MIN(COALESCE(first_event, ?5), ?5), \
             last_event = MAX(COALESCE(last_event, ?6), ?6) WHERE id = ?1",
            params![id as i64, seq as i64, bytes, now, earliest, latest],
        )
        .map_err(|e| store.storage(e))?;
    }
    Ok(last + 1..=seq)
}

fn insert_group(tx: &Connection, name: &str, now: Millis) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO groups (name, created) VALUES (?1, ?2)",
        params![name, now],
    )
    .map(drop)
}

/// Adds an empty stream; its id.
fn insert_stream(tx: &Connection, group: &str, stream: &str, now: Millis) -> rusqlite::Result<u64> {
    tx.execute(
        "INSERT INTO streams (group_name, name, created) VALUES (?1, ?2, ?3)",
        params![group, stream, now],
    )?;
    Ok(tx.last_insert_rowid() as u64)
}

const GROUP_COLUMNS: &str = "g.name, g.created, g.retention_days, g.tags, \
     (SELECT COALESCE(SUM(bytes), 0) FROM streams s WHERE s.group_name = g.name)";

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

impl LogStore for SqliteLogStore {
    fn create_group(&self, name: &str, now: Millis) -> Result<(), LogError> {
        self.transaction(|tx| {
            if group_exists(tx, name).map_err(|e| self.storage(e))? {
                return Err(LogError::GroupExists(name.to_string()));
            }
            insert_group(tx, name, now).map_err(|e| self.storage(e))
        })
    }

    fn delete_group(&self, name: &str) -> Result<(), LogError> {
        self.transaction(|tx| {
            if !group_exists(tx, name).map_err(|e| self.storage(e))? {
                return Err(LogError::GroupNotFound(name.to_string()));
            }
            tx.execute(
                "DELETE FROM events WHERE stream_id IN (SELECT id FROM streams WHERE group_name = ?1)",
                [name],
            )
            .and_then(|_| {
                tx.execute(
                    "DELETE FROM blocks WHERE stream_id IN \
                     (SELECT id FROM streams WHERE group_name = ?1)",
                    [name],
                )
            })
            .and_then(|_| tx.execute("DELETE FROM streams WHERE group_name = ?1", [name]))
            .and_then(|_| tx.execute("DELETE FROM groups WHERE name = ?1", [name]))
            .map_err(|e| self.storage(e))?;
            Ok(())
        })
    }

    fn group(&self, name: &str) -> Result<Option<GroupInfo>, LogError> {
        self.connection()
            .query_row(
                &format!("SELECT {GROUP_COLUMNS} FROM groups g WHERE g.name = ?1"),
                [name],
                group_info,
            )
            .optional()
            .map_err(|e| self.storage(e))
    }

    fn groups(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<GroupInfo>, LogError> {
        let connection = self.connection();
        let sql = format!(
            "SELECT {GROUP_COLUMNS} FROM groups g WHERE {} AND g.name > ?2 ORDER BY g.name LIMIT ?3",
            prefix_clause("g.name", 1)
        );
        let mut statement = connection.prepare(&sql).map_err(|e| self.storage(e))?;
        let rows = statement
            .query_map(
                params![prefix, after.unwrap_or(""), limit as i64],
                group_info,
            )
            .map_err(|e| self.storage(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.storage(e))
    }

    fn set_retention(&self, group: &str, days: Option<u32>) -> Result<(), LogError> {
        let changed = self
            .connection()
            .execute(
                "UPDATE groups SET retention_days = ?2 WHERE name = ?1",
                params![group, days],
            )
            .map_err(|e| self.storage(e))?;
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
        self.transaction(|tx| {
            let tags: Option<String> = tx
                .query_row("SELECT tags FROM groups WHERE name = ?1", [group], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(|e| self.storage(e))?;
            let tags = tags.ok_or_else(|| LogError::GroupNotFound(group.to_string()))?;
            let mut tags: BTreeMap<String, String> =
                serde_json::from_str(&tags).unwrap_or_default();
            tags.extend(add.clone());
            for key in remove {
                tags.remove(key);
            }
            let tags = serde_json::to_string(&tags).expect("tags serialize");
            tx.execute(
                "UPDATE groups SET tags = ?2 WHERE name = ?1",
                params![group, tags],
            )
            .map_err(|e| self.storage(e))?;
            Ok(())
        })
    }

    fn create_stream(&self, group: &str, stream: &str, now: Millis) -> Result<(), LogError> {
        self.transaction(|tx| {
            match stream_of(self, tx, group, stream) {
                Ok(_) => {
                    return Err(LogError::StreamExists {
                        group: group.to_string(),
                        stream: stream.to_string(),
                    })
                }
                Err(LogError::StreamNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            insert_stream(tx, group, stream, now)
                .map(drop)
                .map_err(|e| self.storage(e))
        })
    }

    fn delete_stream(&self, group: &str, stream: &str) -> Result<(), LogError> {
        self.transaction(|tx| {
            let (id, _) = stream_of(self, tx, group, stream)?;
            tx.execute("DELETE FROM events WHERE stream_id = ?1", [id as i64])
                .and_then(|_| tx.execute("DELETE FROM blocks WHERE stream_id = ?1", [id as i64]))
                .and_then(|_| tx.execute("DELETE FROM streams WHERE id = ?1", [id as i64]))
                .map_err(|e| self.storage(e))?;
            Ok(())
        })
    }

    fn streams(
        &self,
        group: &str,
        prefix: &str,
        order: StreamOrder,
        descending: bool,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<StreamInfo>, LogError> {
        let connection = self.connection();
        if !group_exists(&connection, group).map_err(|e| self.storage(e))? {
            return Err(LogError::GroupNotFound(group.to_string()));
        }
        let direction = if descending { "DESC" } else { "ASC" };
        let order_by = match order {
            StreamOrder::Name => format!("name {direction}"),
            // Streams without events first, as absent times sort lowest.
            StreamOrder::LastEventTime => {
                format!("COALESCE(last_event, -1) {direction}, name {direction}")
            }
        };
        let sql = format!(
            "SELECT name, created, first_event, last_event, last_ingestion, bytes FROM streams \
             WHERE group_name = ?1 AND {} ORDER BY {order_by} LIMIT ?3 OFFSET ?4",
            prefix_clause("name", 2)
        );
        let mut statement = connection.prepare(&sql).map_err(|e| self.storage(e))?;
        let rows = statement
            .query_map(
                params![group, prefix, limit as i64, skip as i64],
                stream_info,
            )
            .map_err(|e| self.storage(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.storage(e))
    }

    fn append(
        &self,
        group: &str,
        stream: &str,
        events: &[NewEvent],
        now: Millis,
    ) -> Result<RangeInclusive<u64>, LogError> {
        self.transaction(|tx| {
            let (id, last) = stream_of(self, tx, group, stream)?;
            insert_events(self, tx, id, last, events, now)
        })
    }

    fn append_captured(
        &self,
        group: &str,
        stream: &str,
        events: &[CapturedEvent],
        create_group: bool,
        now: Millis,
    ) -> Result<Option<u64>, LogError> {
        self.transaction(|tx| {
            let storage = |e| self.storage(e);
            let (id, last) = match stream_of(self, tx, group, stream) {
                Ok(found) => found,
                Err(LogError::StreamNotFound { .. }) => {
                    (insert_stream(tx, group, stream, now).map_err(storage)?, 0)
                }
                Err(LogError::GroupNotFound(_)) if create_group => {
                    insert_group(tx, group, now).map_err(storage)?;
                    (insert_stream(tx, group, stream, now).map_err(storage)?, 0)
                }
                Err(e) => return Err(e),
            };
            let stored: Option<i64> = tx
                .query_row(
                    "SELECT captured_through FROM streams WHERE id = ?1",
                    [id as i64],
                    |row| row.get(0),
                )
                .map_err(storage)?;
            let stored = stored.map(|p| p as u64);
            let (fresh, through) = uncaptured(stored, events);
            insert_events(self, tx, id, last, fresh, now)?;
            if through != stored {
                tx.execute(
                    "UPDATE streams SET captured_through = ?2 WHERE id = ?1",
                    params![id as i64, through.map(|p| p as i64)],
                )
                .map_err(storage)?;
            }
            Ok(through)
        })
    }

    fn read(
        &self,
        group: &str,
        stream: &str,
        (start, end): (Option<Millis>, Option<Millis>),
        from: Position,
        limit: usize,
    ) -> Result<ReadPage, LogError> {
        let connection = self.connection();
        let (id, _) = stream_of(self, &connection, group, stream)?;
        let (bound, order, seq) = match from {
            Position::Head => ("seq > ?5", "ASC", 0),
            Position::After(seq) => ("seq > ?5", "ASC", seq as i64),
            Position::Tail => ("seq < ?5", "DESC", i64::MAX),
            Position::Before(seq) => ("seq < ?5", "DESC", seq as i64),
        };
        let sql = format!(
            "SELECT seq, timestamp, ingestion, message FROM events WHERE stream_id = ?1 \
             AND timestamp >= ?2 AND timestamp < ?3 AND {bound} ORDER BY seq {order} LIMIT ?4"
        );
        let mut statement = connection
            .prepare_cached(&sql)
            .map_err(|e| self.storage(e))?;
        let rows = statement
            .query_map(
                params![
                    id as i64,
                    start.unwrap_or(Millis::MIN),
                    end.unwrap_or(Millis::MAX),
                    limit as i64,
                    seq
                ],
                |row| {
                    let seq = row.get::<_, i64>(0)? as u64;
                    Ok(Event {
                        stream: stream.to_string(),
                        event_id: event_id(id, seq),
                        seq,
                        timestamp: row.get(1)?,
                        ingestion_time: row.get(2)?,
                        message: row.get(3)?,
                    })
                },
            )
            .map_err(|e| self.storage(e))?;
        let mut events: Vec<Event> = rows
            .collect::<Result<_, _>>()
            .map_err(|e| self.storage(e))?;
        if order == "DESC" {
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
        let connection = self.connection();
        if !group_exists(&connection, query.group).map_err(|e| self.storage(e))? {
            return Err(LogError::GroupNotFound(query.group.to_string()));
        }
        // The streams searched, by id; their names come back with the events.
        let mut sql = String::from("SELECT id, name FROM streams WHERE group_name = ?1");
        let mut arguments: Vec<String> = vec![query.group.to_string()];
        if !query.streams.is_empty() {
            let marks: Vec<String> = (0..query.streams.len())
                .map(|i| format!("?{}", i + 2))
                .collect();
            sql.push_str(&format!(" AND name IN ({})", marks.join(", ")));
            arguments.extend(query.streams.iter().cloned());
        }
        if let Some(prefix) = query.prefix {
            sql.push_str(&format!(" AND {}", prefix_clause("name", 2)));
            arguments.push(prefix.to_string());
        }
        let mut statement = connection.prepare(&sql).map_err(|e| self.storage(e))?;
        let names: BTreeMap<i64, String> = statement
            .query_map(params_from_iter(&arguments), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(|e| self.storage(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.storage(e))?;
        if names.is_empty() {
            return Ok(FilterPage::default());
        }
        let search = Search {
            connection: &connection,
            query,
            names: &names,
            after,
            matches,
            limit,
            tuning: self.tuning,
        };
        match Probe::of(query.contains) {
            Some(probe) => search.by_blocks(&probe),
            None => search.by_time(),
        }
        .map_err(|e| self.storage(e))
    }

    fn enforce_retention(&self, now: Millis, max_bytes: u64) -> Result<u64, LogError> {
        self.transaction(|tx| {
            let storage = |e| self.storage(e);
            let mut dropped = 0u64;
            // Past retention: only streams whose oldest event is past their group's horizon
            // are touched, so a run costs what it drops, not what is kept.
            let expired: Vec<(i64, Millis)> = {
                let mut statement = tx
                    .prepare(
                        "SELECT s.id, ?1 - g.retention_days * ?2 FROM streams s \
                         JOIN groups g ON g.name = s.group_name \
                         WHERE g.retention_days IS NOT NULL \
                         AND s.first_event < ?1 - g.retention_days * ?2",
                    )
                    .map_err(storage)?;
                let rows = statement
                    .query_map(params![now, DAY], |row| Ok((row.get(0)?, row.get(1)?)))
                    .map_err(storage)?;
                rows.collect::<Result<_, _>>().map_err(storage)?
            };
            let mut touched = BTreeSet::new();
            for (stream, horizon) in expired {
                touched.insert(stream);
                dropped += drop_events(
                    tx,
                    "stream_id = ?1 AND timestamp < ?2",
                    params![stream, horizon],
                    stream,
                )
                .map_err(storage)?;
            }
            // Over the cap: the oldest events go, whatever their group, a batch at a time.
            loop {
                let kept: i64 = tx
                    .query_row("SELECT COALESCE(SUM(bytes), 0) FROM streams", [], |row| {
                        row.get(0)
                    })
                    .map_err(storage)?;
                let Some(over) = (kept as u64).checked_sub(max_bytes).filter(|o| *o > 0) else {
                    break;
                };
                let oldest: Vec<(i64, i64)> = {
                    let mut statement = tx
                        .prepare(
                            "SELECT stream_id, seq FROM events \
                             ORDER BY timestamp, stream_id, seq LIMIT 1000",
                        )
                        .map_err(storage)?;
                    let rows = statement
                        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                        .map_err(storage)?;
                    rows.collect::<Result<_, _>>().map_err(storage)?
                };
                if oldest.is_empty() {
                    break;
                }
                let mut freed = 0u64;
                for (stream, seq) in oldest {
                    if freed >= over {
                        break;
                    }
                    touched.insert(stream);
                    freed += drop_events(
                        tx,
                        "stream_id = ?1 AND seq = ?2",
                        params![stream, seq],
                        stream,
                    )
                    .map_err(storage)?;
                }
                dropped += freed;
            }
            for stream in touched {
                drop_empty_blocks(tx, stream).map_err(storage)?;
            }
            Ok(dropped)
        })
    }
}

/// Deletes one stream's events that `condition` selects (its parameters `?1` the stream and
/// `?2` the bound) and keeps the stream's totals right; returns the bytes dropped.
fn drop_events(
    tx: &Transaction<'_>,
    condition: &str,
    arguments: impl rusqlite::Params + Copy,
    stream: i64,
) -> rusqlite::Result<u64> {
    let bytes: i64 = tx.query_row(
        &format!(
            "SELECT COALESCE(SUM(length(CAST(message AS BLOB))), 0) FROM events WHERE {condition}"
        ),
        arguments,
        |row| row.get(0),
    )?;
    tx.execute(&format!("DELETE FROM events WHERE {condition}"), arguments)?;
    tx.execute(
        "UPDATE streams SET bytes = bytes - ?2, \
         first_event = (SELECT MIN(timestamp) FROM events WHERE stream_id = ?1) WHERE id = ?1",
        params![stream, bytes],
    )?;
    Ok(bytes as u64)
}

/// One call of a search, over the streams `names` of the query's group.
struct Search<'a> {
    connection: &'a Connection,
    query: &'a FilterQuery<'a>,
    names: &'a BTreeMap<i64, String>,
    after: Cursor,
    matches: &'a (dyn Fn(&str) -> bool + Sync),
    limit: usize,
    tuning: Tuning,
}

/// A block as a search lists it, without its filter.
#[derive(Debug, Clone, Copy)]
struct Span {
    id: i64,
    stream: i64,
    first_seq: u64,
    last_seq: u64,
    min_ts: Millis,
    max_ts: Millis,
    events: u64,
    bytes: u64,
}

impl Span {
    /// Where its first event could be, in the order searches answer in: no event of the
    /// block comes before it.
    fn start(&self) -> Cursor {
        Cursor {
            timestamp: self.min_ts,
            stream: self.stream as u64,
            seq: self.first_seq,
        }
    }

    /// The share of the block's time range in `[from, to]`, as a guess at the share of its
    /// events there.
    fn share(&self, from: Millis, to: Millis) -> f64 {
        let inside = i128::from(to.min(self.max_ts)) - i128::from(from.max(self.min_ts)) + 1;
        let all = i128::from(self.max_ts) - i128::from(self.min_ts) + 1;
        (inside.max(0) as f64 / all as f64).min(1.0)
    }
}

/// An event read by a search, not yet matched.
struct Candidate {
    at: Cursor,
    ingestion: Millis,
    message: String,
}

impl Search<'_> {
    fn event(&self, at: Cursor, ingestion_time: Millis, message: String) -> Event {
        Event {
            stream: self.names[&(at.stream as i64)].clone(),
            event_id: event_id(at.stream, at.seq),
            seq: at.seq,
            timestamp: at.timestamp,
            ingestion_time,
            message,
        }
    }

    /// `AND instr(message, ?n) > 0` for each required term, numbered from `first`.
    fn term_clauses(&self, first: usize) -> String {
        (0..self.query.contains.len())
            .map(|i| format!(" AND instr(message, ?{}) > 0", i + first))
            .collect()
    }

    fn stream_ids(&self) -> String {
        let ids: Vec<String> = self.names.keys().map(i64::to_string).collect();
        ids.join(", ")
    }

    /// A search no filter can help (no required term of 3 bytes or more): SQLite walks the
    /// time index, checking required terms itself, and the matcher sees the rest, up to the
    /// event budget.
    fn by_time(&self) -> rusqlite::Result<FilterPage> {
        let sql = format!(
            "SELECT stream_id, seq, timestamp, ingestion, message FROM events \
             WHERE stream_id IN ({}) AND timestamp >= ?1 AND timestamp < ?2 \
             AND (timestamp, stream_id, seq) > (?3, ?4, ?5){} \
             ORDER BY timestamp, stream_id, seq LIMIT ?6",
            self.stream_ids(),
            self.term_clauses(7)
        );
        let mut statement = self.connection.prepare(&sql)?;
        let bounds: [&dyn rusqlite::ToSql; 6] = [
            &self.query.start.unwrap_or(Millis::MIN),
            &self.query.end.unwrap_or(Millis::MAX),
            &self.after.timestamp,
            &(self.after.stream as i64),
            &(self.after.seq as i64),
            &((self.tuning.search_events + 1) as i64),
        ];
        let arguments = bounds.into_iter().chain(
            self.query
                .contains
                .iter()
                .map(|t| t as &dyn rusqlite::ToSql),
        );
        let mut rows = statement.query(params_from_iter(arguments))?;
        let mut page = FilterPage::default();
        let mut looked = 0;
        let mut last_looked = None;
        let mut last_found = None;
        while let Some(row) = rows.next()? {
            let at = Cursor {
                timestamp: row.get(2)?,
                stream: row.get::<_, i64>(0)? as u64,
                seq: row.get::<_, i64>(1)? as u64,
            };
            if looked == self.tuning.search_events {
                // The next call goes on after the last event looked at.
                page.next = last_looked.map(Cursor::encode);
                return Ok(page);
            }
            looked += 1;
            if page.events.len() == self.limit {
                // One more event exists past a full page: the next page starts after it.
                page.next = last_found.map(Cursor::encode);
                return Ok(page);
            }
            last_looked = Some(at);
            let message: String = row.get(4)?;
            if (self.matches)(&message) {
                last_found = Some(at);
                page.events.push(self.event(at, row.get(3)?, message));
            }
        }
        Ok(page)
    }

    /// A search with terms of 3 bytes or more: the blocks of the streams searched are taken in
    /// the order of their first possible event, each one's filter is asked whether it may
    /// hold every term, and only the events of blocks that may are read (those without a
    /// required term skipped inside SQLite), until the call has read its budget of events.
    /// All that is found before the first block not taken is then answered in order, and the
    /// cursor, when that block exists, resumes just before it.
    fn by_blocks(&self, probe: &Probe) -> rusqlite::Result<FilterPage> {
        let after = self.after;
        let from = self.query.start.unwrap_or(Millis::MIN).max(after.timestamp);
        let end = self.query.end.unwrap_or(Millis::MAX);
        if from >= end {
            return Ok(FilterPage::default());
        }
        let to = end - 1;
        let sql = format!(
            "SELECT id, stream_id, first_seq, last_seq, min_ts, max_ts, events, bytes \
             FROM blocks WHERE stream_id IN ({}) AND max_ts >= ?1 AND min_ts <= ?2",
            self.stream_ids()
        );
        let mut statement = self.connection.prepare(&sql)?;
        let mut spans: Vec<Span> = statement
            .query_map(params![from, to], |row| {
                Ok(Span {
                    id: row.get(0)?,
                    stream: row.get(1)?,
                    first_seq: row.get::<_, i64>(2)? as u64,
                    last_seq: row.get::<_, i64>(3)? as u64,
                    min_ts: row.get(4)?,
                    max_ts: row.get(5)?,
                    events: row.get::<_, i64>(6)? as u64,
                    bytes: row.get::<_, i64>(7)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        spans.sort_by_key(Span::start);

        // Which blocks this call reads. Those that may hold events on both sides of the
        // cursor all are, whatever they cost; past the cursor, at least one is looked at, so
        // that every call gets further.
        let mut filter = self
            .connection
            .prepare_cached("SELECT filter FROM blocks WHERE id = ?1")?;
        let mut taken = Vec::new();
        let (mut events, mut bytes, mut checks) = (0u64, 0u64, 0usize);
        let mut beyond = false;
        let mut stop = None;
        for span in spans {
            let straddles = span.start() <= after;
            let spent = events >= self.tuning.search_events
                || bytes >= self.tuning.search_bytes
                || checks >= self.tuning.filter_checks;
            if !straddles && beyond && spent {
                stop = Some(span.start());
                break;
            }
            beyond |= !straddles;
            checks += 1;
            let may = filter.query_row([span.id], |row| {
                Ok(probe.may_match(row.get_ref(0)?.as_blob()?))
            })?;
            if may {
                let share = span.share(from, to);
                events += (span.events as f64 * share).ceil() as u64;
                bytes += (span.bytes as f64 * share).ceil() as u64;
                taken.push(span);
            }
        }

        // Everything before `stop` is in the blocks taken, up to its time.
        let until = stop.map_or(to, |s| s.timestamp.min(to));
        let mut candidates = Vec::new();
        for span in &taken {
            self.read_block(span, from, until, &mut candidates)?;
        }
        candidates.retain(|c| c.at > after && stop.is_none_or(|s| c.at < s));
        candidates.sort_unstable_by_key(|c| c.at);

        let mut page = FilterPage::default();
        let mut last_found = None;
        for candidate in candidates {
            if page.events.len() == self.limit {
                page.next = last_found.map(Cursor::encode);
                return Ok(page);
            }
            if (self.matches)(&candidate.message) {
                last_found = Some(candidate.at);
                page.events
                    .push(self.event(candidate.at, candidate.ingestion, candidate.message));
            }
        }
        // Resume just before the first block not taken: after nothing any block holds.
        page.next = stop.map(|s| {
            Cursor {
                seq: s.seq - 1,
                ..s
            }
            .encode()
        });
        Ok(page)
    }

    /// The events of `span` with timestamps in `[from, to]` and every required term. Through
    /// the stream's time index when that is a small part of the block, else by `seq`.
    fn read_block(
        &self,
        span: &Span,
        from: Millis,
        to: Millis,
        into: &mut Vec<Candidate>,
    ) -> rusqlite::Result<()> {
        let by_time = span.events > self.tuning.read_by_time_above && span.share(from, to) < 0.25;
        let sql = if by_time {
            format!(
                "SELECT seq, timestamp, ingestion, message FROM events \
                 INDEXED BY events_by_stream_time WHERE stream_id = ?1 \
                 AND timestamp >= ?4 AND timestamp <= ?5 AND seq >= ?2 AND seq <= ?3{}",
                self.term_clauses(6)
            )
        } else {
            // `+timestamp`: by `seq`, through the table itself.
            format!(
                "SELECT seq, timestamp, ingestion, message FROM events WHERE stream_id = ?1 \
                 AND seq >= ?2 AND seq <= ?3 AND +timestamp >= ?4 AND +timestamp <= ?5{}",
                self.term_clauses(6)
            )
        };
        let mut statement = self.connection.prepare_cached(&sql)?;
        let bounds: [&dyn rusqlite::ToSql; 5] = [
            &span.stream,
            &(span.first_seq as i64),
            &(span.last_seq as i64),
            &from,
            &to,
        ];
        let arguments = bounds.into_iter().chain(
            self.query
                .contains
                .iter()
                .map(|t| t as &dyn rusqlite::ToSql),
        );
        let mut rows = statement.query(params_from_iter(arguments))?;
        while let Some(row) = rows.next()? {
            into.push(Candidate {
                at: Cursor {
                    timestamp: row.get(1)?,
                    stream: span.stream as u64,
                    seq: row.get::<_, i64>(0)? as u64,
                },
                ingestion: row.get(2)?,
                message: row.get(3)?,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Pattern;
    use crate::store::{CapturedEvent, MemoryLogStore};
    use proptest::prelude::*;

    const NOW: Millis = 1_700_000_000_000;

    fn open(tuning: Tuning) -> (tempfile::TempDir, SqliteLogStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteLogStore::open_tuned(dir.path(), tuning).unwrap();
        (dir, store)
    }

    fn tuning(block_events: u64, search_events: u64, filter_checks: usize) -> Tuning {
        Tuning {
            block_events,
            search_events,
            filter_checks,
            ..TUNING
        }
    }

    /// Each block as (stream, first seq, last seq, events, filter bytes).
    fn blocks(store: &SqliteLogStore) -> Vec<(i64, u64, u64, u64, usize)> {
        let connection = store.connection();
        let mut statement = connection
            .prepare(
                "SELECT stream_id, first_seq, last_seq, events, length(filter) FROM blocks \
                 ORDER BY stream_id, first_seq",
            )
            .unwrap();
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get::<_, i64>(1)? as u64,
                    row.get::<_, i64>(2)? as u64,
                    row.get::<_, i64>(3)? as u64,
                    row.get::<_, i64>(4)? as usize,
                ))
            })
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// The `seq` ranges of the blocks of stream `name`.
    fn ranges(store: &SqliteLogStore, name: &str) -> Vec<(u64, u64)> {
        let connection = store.connection();
        let mut statement = connection
            .prepare(
                "SELECT first_seq, last_seq FROM blocks WHERE stream_id = \
                 (SELECT id FROM streams WHERE name = ?1) ORDER BY first_seq",
            )
            .unwrap();
        let rows = statement
            .query_map([name], |row| {
                Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64))
            })
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    /// Every event found, as (stream, seq, timestamp, message), and the calls it took.
    fn search_all<S: LogStore>(
        store: &S,
        query: &FilterQuery<'_>,
        pattern: &str,
        limit: usize,
    ) -> (Vec<(String, u64, Millis, String)>, usize) {
        let pattern = Pattern::parse(pattern).unwrap();
        let required = pattern.required_terms();
        let query = FilterQuery {
            contains: &required,
            ..query.clone()
        };
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        for calls in 1.. {
            let page = store
                .filter(&query, &|m| pattern.matches(m), cursor.as_deref(), limit)
                .unwrap();
            assert!(page.events.len() <= limit);
            found.extend(
                page.events
                    .into_iter()
                    .map(|e| (e.stream, e.seq, e.timestamp, e.message)),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => return (found, calls),
            }
        }
        unreachable!()
    }

    fn line(n: u64) -> String {
        format!(
            "10.0.{}.{} GET /api/v1/items 200 req-{n:08}",
            n % 256,
            n % 7
        )
    }

    fn lines(range: std::ops::Range<u64>, rare: u64) -> Vec<NewEvent> {
        range
            .map(|n| NewEvent {
                timestamp: NOW + n as Millis,
                message: if n == rare {
                    format!("{} rare-Qz81-term", line(n))
                } else {
                    line(n)
                },
            })
            .collect()
    }

    #[test]
    fn a_call_that_reads_nothing_goes_on_past_its_budget() {
        let (_dir, store) = open(tuning(100, 100, 1000));
        store.create_group("g", NOW).unwrap();
        store.create_stream("g", "s", NOW).unwrap();
        store
            .append("g", "s", &lines(0..10_000, 9_950), NOW)
            .unwrap();
        assert_eq!(blocks(&store).len(), 100);
        let query = FilterQuery {
            group: "g",
            ..FilterQuery::default()
        };
        let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, 9_951);
        assert_eq!(calls, 1, "99 blocks skipped, one read");
        // A term in every block reads a block a call.
        let (found, calls) = search_all(&store, &query, "GET", 10_000);
        assert_eq!(found.len(), 10_000);
        assert_eq!(calls, 100);
        // So does a term no block can rule out, through the time index.
        let (found, calls) = search_all(&store, &query, "GE", 10_000);
        assert_eq!((found.len(), calls), (10_000, 100));
        // The filters a call checks are bounded too.
        let (_dir, store) = open(tuning(100, 100, 10));
        store.create_group("g", NOW).unwrap();
        store.create_stream("g", "s", NOW).unwrap();
        store
            .append("g", "s", &lines(0..10_000, 9_950), NOW)
            .unwrap();
        let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
        assert_eq!((found.len(), calls), (1, 10));
    }

    #[test]
    fn the_index_is_kept_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let reopen = || SqliteLogStore::open_tuned(dir.path(), tuning(100, 200, 1000)).unwrap();
        let store = reopen();
        store.create_group("g", NOW).unwrap();
        store.create_stream("g", "s", NOW).unwrap();
        store.append("g", "s", &lines(0..1_050, 950), NOW).unwrap();
        let before = blocks(&store);
        assert_eq!(before.len(), 11);
        drop(store);
        let store = reopen();
        assert_eq!(blocks(&store), before, "not built again");
        let query = FilterQuery {
            group: "g",
            ..FilterQuery::default()
        };
        let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
        assert_eq!((found.len(), found[0].1, calls), (1, 951, 1));
        // The open block goes on filling after the reopening.
        store
            .append("g", "s", &lines(1_050..1_060, 1_055), NOW)
            .unwrap();
        assert_eq!(ranges(&store, "s").last(), Some(&(1_001, 1_060)));
        let (found, calls) = search_all(&store, &query, "rare-Qz81-term", 100);
        assert_eq!((found.len(), found[1].1, calls), (2, 1_056, 1));
        // An append of nothing leaves the blocks as they are.
        let kept = blocks(&store);
        store.append_captured("g", "s", &[], false, NOW).unwrap();
        assert_eq!(blocks(&store), kept);
    }

    #[test]
    fn blocks_fill_seal_and_go_with_their_events() {
        let (_dir, store) = open(tuning(8, 100, 1000));
        store.create_group("g", NOW).unwrap();
        store.set_retention("g", Some(1)).unwrap();
        store.create_stream("g", "s", NOW).unwrap();
        store.append("g", "s", &lines(0..20, 99), NOW).unwrap();
        let seen = blocks(&store);
        let sizes: Vec<(u64, u64, u64)> = seen.iter().map(|b| (b.1, b.2, b.3)).collect();
        assert_eq!(sizes, [(1, 8, 8), (9, 16, 8), (17, 20, 4)]);
        assert!(seen[0].4 < FULL_BITS / 8, "sealed blocks fold");
        assert_eq!(
            seen[2].4,
            FULL_BITS / 8,
            "the open block keeps its full size"
        );
        // The open block takes the next events, one append at a time.
        for n in 20..23 {
            store.append("g", "s", &lines(n..n + 1, 99), NOW).unwrap();
        }
        assert_eq!(ranges(&store, "s"), [(1, 8), (9, 16), (17, 23)]);
        // Captured events go in blocks as well.
        let captured: Vec<CapturedEvent> = (1..=10)
            .map(|position| CapturedEvent {
                position,
                event: NewEvent {
                    timestamp: NOW,
                    message: format!("captured {position} rare-Qz81-term"),
                },
            })
            .collect();
        store
            .append_captured("g", "c", &captured, false, NOW)
            .unwrap();
        assert_eq!(ranges(&store, "c"), [(1, 8), (9, 10)]);
        let query = FilterQuery {
            group: "g",
            ..FilterQuery::default()
        };
        assert_eq!(
            search_all(&store, &query, "rare-Qz81-term", 100).0.len(),
            10
        );
        store.delete_stream("g", "c").unwrap();
        assert_eq!(blocks(&store).len(), 3);
        // Retention: the first block's events all go, the second's partly.
        let old: Vec<NewEvent> = (0..12)
            .map(|n| NewEvent {
                timestamp: NOW - 2 * DAY,
                message: format!("old {n}"),
            })
            .collect();
        store.create_stream("g", "t", NOW).unwrap();
        store.append("g", "t", &old, NOW).unwrap();
        store.append("g", "t", &lines(0..4, 99), NOW).unwrap();
        assert_eq!(ranges(&store, "t"), [(1, 8), (9, 16)]);
        store.enforce_retention(NOW, u64::MAX).unwrap();
        assert_eq!(ranges(&store, "t"), [(9, 16)], "a block partly left stays");
        // The size cap drops blocks too.
        store.enforce_retention(NOW, 0).unwrap();
        assert!(blocks(&store).is_empty());
        store.append("g", "t", &lines(0..2, 99), NOW).unwrap();
        assert_eq!(ranges(&store, "t"), [(17, 18)]);
        store.delete_group("g").unwrap();
        assert!(blocks(&store).is_empty());
    }

    /// 32 characters of 87 kinds (none that a quoted phrase must escape), different for
    /// every `n`.
    fn noise(n: u64) -> String {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789#$%&()*+,./:;<=>@[]^_{|}~";
        let mut x = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (0..32)
            .map(|_| {
                x ^= x >> 29;
                x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                char::from(ALPHABET[(x >> 32) as usize % ALPHABET.len()])
            })
            .collect()
    }

    #[test]
    fn a_dense_block_seals_when_its_filter_is_full() {
        let (_dir, store) = open(TUNING);
        store.create_group("g", NOW).unwrap();
        store.create_stream("g", "s", NOW).unwrap();
        let noise: Vec<NewEvent> = (0..4000u64)
            .map(|n| NewEvent {
                timestamp: NOW,
                message: noise(n),
            })
            .collect();
        store.append("g", "s", &noise, NOW).unwrap();
        let seen = blocks(&store);
        assert!(seen.len() > 1, "{seen:?}");
        assert!(seen[0].3 < 4000);
        let query = FilterQuery {
            group: "g",
            ..FilterQuery::default()
        };
        let wanted = format!("\"{}\"", &noise[3_999].message[4..20]);
        let (found, _) = search_all(&store, &query, &wanted, 100);
        assert!(found.iter().any(|f| f.1 == 4_000));
    }

    const WORDS: &[&str] = &[
        "alpha", "beta", "gamma", "Delta", "ab", "x", "needle", "NEEDLE", "é", "αβγ", "a b",
    ];
    const TERMS: &[&str] = &[
        "alpha",
        "eta",
        "lph",
        "ab",
        "x",
        "needle",
        "NEEDLE",
        "Needle",
        "é",
        "βγ",
        "\"a b\"",
        "\"ta ga\"",
        "zzz",
        "-beta",
        "?x ?gamma",
    ];

    fn message(words: &[usize]) -> String {
        let words: Vec<&str> = words.iter().map(|w| WORDS[w % WORDS.len()]).collect();
        words.join(" ")
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Whatever the blocks and budgets, following a search to its end finds what the
        /// fake finds, in the same order.
        #[test]
        fn searches_find_what_the_fake_finds(
            appends in proptest::collection::vec(
                (0usize..3, proptest::collection::vec(
                    (0i64..40, proptest::collection::vec(0usize..20, 1..4)), 1..12)),
                1..10),
            block_events in 1u64..6, block_bytes in 8u64..200, search_events in 1u64..20,
            search_bytes in 1u64..300, filter_checks in 1usize..5, read_by_time_above in 0u64..4,
            terms in proptest::collection::vec(0usize..TERMS.len(), 1..3),
            start in proptest::option::of(0i64..40), end in proptest::option::of(0i64..45),
            only in proptest::option::of(0usize..3), limit in 1usize..5,
        ) {
            let tuning = Tuning {
                block_events, block_bytes, search_events, search_bytes, filter_checks,
                read_by_time_above,
            };
            let (_dir, store) = open(tuning);
            let fake = MemoryLogStore::default();
            let streams = ["s0", "s1", "s2"];
            for target in [&store as &dyn LogStore, &fake] {
                target.create_group("g", NOW).unwrap();
                for s in streams {
                    target.create_stream("g", s, NOW).unwrap();
                }
                for (stream, events) in &appends {
                    let events: Vec<NewEvent> = events
                        .iter()
                        .map(|(t, words)| NewEvent { timestamp: NOW + t, message: message(words) })
                        .collect();
                    target.append("g", streams[*stream], &events, NOW).unwrap();
                }
            }
            let pattern: Vec<&str> = terms.iter().map(|t| TERMS[*t]).collect();
            let pattern = pattern.join(" ");
            let named = only.map(|s| vec![streams[s].to_string()]).unwrap_or_default();
            let query = FilterQuery {
                group: "g",
                streams: &named,
                start: start.map(|s| NOW + s),
                end: end.map(|e| NOW + e),
                ..FilterQuery::default()
            };
            let (got, _) = search_all(&store, &query, &pattern, limit);
            let (want, _) = search_all(&fake, &query, &pattern, 1000);
            prop_assert_eq!(got, want);
        }
    }
}
