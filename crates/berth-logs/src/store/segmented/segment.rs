//! One segment: a SQLite file of its own holding one group's events whose timestamps fall in
//! one window ([`SEGMENT_WINDOW`](crate::store::retention::SEGMENT_WINDOW)), with their
//! search blocks, and for each stream with events in it a head: the totals of those events
//! and the stream's captured position as of its last write here. A segment's writes commit to
//! disk before they return; the heads let the catalog be brought up to date from the segment
//! when a crash came between the two commits.

use super::Tuning;
use crate::store::trigrams::{Filter, FULL_BITS};
use crate::store::{Millis, NewEvent};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        stream_id INTEGER NOT NULL, seq INTEGER NOT NULL, timestamp INTEGER NOT NULL,
        ingestion INTEGER NOT NULL, message TEXT NOT NULL,
        PRIMARY KEY (stream_id, seq)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS events_by_time ON events (timestamp, stream_id, seq);
    CREATE INDEX IF NOT EXISTS events_by_stream_time ON events (stream_id, timestamp);
    CREATE TABLE IF NOT EXISTS blocks (
        id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, first_seq INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, min_ts INTEGER NOT NULL, max_ts INTEGER NOT NULL,
        events INTEGER NOT NULL, bytes INTEGER NOT NULL, filter BLOB NOT NULL,
        UNIQUE (stream_id, first_seq));
    CREATE INDEX IF NOT EXISTS blocks_by_stream_time
        ON blocks (stream_id, max_ts, min_ts, first_seq, last_seq, events, bytes);
    CREATE TABLE IF NOT EXISTS heads (
        stream_id INTEGER PRIMARY KEY, min_seq INTEGER NOT NULL, max_seq INTEGER NOT NULL,
        events INTEGER NOT NULL, bytes INTEGER NOT NULL, min_ts INTEGER NOT NULL,
        max_ts INTEGER NOT NULL, last_ingestion INTEGER NOT NULL, captured_through INTEGER);
";

/// Opens (or creates) the segment file at `path`, in WAL mode with every commit on disk
/// before it returns.
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let mut connection = Connection::open(path)?;
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == 0 {
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA)?;
        tx.pragma_update(None, "user_version", 1)?;
        tx.commit()?;
    }
    Ok(connection)
}

/// A segment file's name: the UTC date its window starts on, `YYYY-MM-DD.db`.
pub(super) fn file_name(window: Millis) -> String {
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
    let z = window.div_euclid(crate::store::DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}.db")
}

/// A stream's events in one segment, in sum: the catalog's copy of this is what reads and
/// retention go by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    pub min_seq: u64,
    pub max_seq: u64,
    pub events: u64,
    pub bytes: u64,
    pub min_ts: Millis,
    pub max_ts: Millis,
    pub last_ingestion: Millis,
    /// The stream's captured position once this segment's last write for it was kept.
    pub captured_through: Option<u64>,
}

impl Head {
    pub(super) fn from_row(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Head> {
        Ok(Head {
            min_seq: row.get::<_, i64>(first)? as u64,
            max_seq: row.get::<_, i64>(first + 1)? as u64,
            events: row.get::<_, i64>(first + 2)? as u64,
            bytes: row.get::<_, i64>(first + 3)? as u64,
            min_ts: row.get(first + 4)?,
            max_ts: row.get(first + 5)?,
            last_ingestion: row.get(first + 6)?,
            captured_through: row.get::<_, Option<i64>>(first + 7)?.map(|p| p as u64),
        })
    }
}

pub(super) const HEAD_COLUMNS: &str =
    "min_seq, max_seq, events, bytes, min_ts, max_ts, last_ingestion, captured_through";

/// Every head of the segment, by stream.
pub(super) fn heads(connection: &Connection) -> rusqlite::Result<Vec<(u64, Head)>> {
    let mut statement =
        connection.prepare(&format!("SELECT stream_id, {HEAD_COLUMNS} FROM heads"))?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, i64>(0)? as u64, Head::from_row(row, 1)?))
    })?;
    rows.collect()
}

/// An event to store, with the place it took.
pub(super) struct Entry<'e> {
    pub seq: u64,
    pub event: &'e NewEvent,
    pub ingestion: Millis,
    /// Its place in its container's output, for a captured event.
    pub position: Option<u64>,
}

/// Stores `entries` (ascending by `seq`, after every event the stream has here) as events of
/// `stream` in the segment `tx` is a transaction of, with their blocks, and records that the
/// stream's captured position is `captured_through` once they are kept. The stream's head here
/// after it.
pub(super) fn write_run(
    tx: &Connection,
    stream: u64,
    entries: &[Entry<'_>],
    captured_through: Option<u64>,
    tuning: Tuning,
) -> rusqlite::Result<Head> {
    let mut head = tx
        .prepare_cached(&format!(
            "SELECT {HEAD_COLUMNS} FROM heads WHERE stream_id = ?1"
        ))?
        .query_row([stream as i64], |row| Head::from_row(row, 0))
        .optional()?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO events (stream_id, seq, timestamp, ingestion, message) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut blocks = Blocks::resume(tx, stream as i64, tuning);
    for entry in entries {
        let event = entry.event;
        insert.execute(params![
            stream as i64,
            entry.seq as i64,
            event.timestamp,
            entry.ingestion,
            event.message
        ])?;
        blocks.add(entry.seq, event.timestamp, &event.message)?;
        let bytes = event.message.len() as u64;
        let t = event.timestamp;
        head = Some(match head {
            None => Head {
                min_seq: entry.seq,
                max_seq: entry.seq,
                events: 1,
                bytes,
                min_ts: t,
                max_ts: t,
                last_ingestion: entry.ingestion,
                captured_through,
            },
            Some(h) => Head {
                min_seq: h.min_seq.min(entry.seq),
                max_seq: h.max_seq.max(entry.seq),
                events: h.events + 1,
                bytes: h.bytes + bytes,
                min_ts: h.min_ts.min(t),
                max_ts: h.max_ts.max(t),
                last_ingestion: h.last_ingestion.max(entry.ingestion),
                captured_through,
            },
        });
    }
    blocks.finish()?;
    let head = head.expect("a run has events");
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO heads (stream_id, {HEAD_COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        stream as i64,
        head.min_seq as i64,
        head.max_seq as i64,
        head.events as i64,
        head.bytes as i64,
        head.min_ts,
        head.max_ts,
        head.last_ingestion,
        head.captured_through.map(|p| p as i64),
    ])?;
    Ok(head)
}

/// Removes what the segment holds of `stream`.
pub(super) fn forget_stream(connection: &mut Connection, stream: u64) -> rusqlite::Result<()> {
    let tx = connection.transaction()?;
    for table in ["events", "blocks", "heads"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE stream_id = ?1"),
            [stream as i64],
        )?;
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

/// Puts one stream's new events in this segment's blocks as they are stored, in the same
/// transaction: the stream's newest block here while it can take more, then new ones. A
/// block's `seq` range may skip events another segment holds (of a stream whose timestamps
/// went back and forth); reading it by `seq` in this segment finds only its own.
struct Blocks<'t> {
    tx: &'t Connection,
    stream: i64,
    tuning: Tuning,
    /// Whether the stream's newest block is still to be looked up (on the first event added,
    /// so that an append of nothing reads and writes no block).
    resuming: bool,
    open: Option<Block>,
    /// Whether `open` has events its row does not have yet.
    dirty: bool,
}

impl<'t> Blocks<'t> {
    fn resume(tx: &'t Connection, stream: i64, tuning: Tuning) -> Blocks<'t> {
        Blocks {
            tx,
            stream,
            tuning,
            resuming: true,
            open: None,
            dirty: false,
        }
    }

    /// The stream's newest block here, if it can take more.
    fn newest_open(&self) -> rusqlite::Result<Option<Block>> {
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
        Ok(newest.filter(|block| !block.is_full(&self.tuning)))
    }

    /// Adds the event `seq` (after every one added before), sealing its block when full.
    fn add(&mut self, seq: u64, timestamp: Millis, message: &str) -> rusqlite::Result<()> {
        if std::mem::take(&mut self.resuming) {
            self.open = self.newest_open()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DAY;

    #[test]
    fn files_are_named_by_their_utc_date() {
        for (day, name) in [
            (0, "1970-01-01.db"),
            (-1, "1969-12-31.db"),
            (19_675, "2023-11-14.db"),
            (11_016, "2000-02-29.db"),
            (11_017, "2000-03-01.db"),
            (2_932_896, "9999-12-31.db"),
        ] {
            assert_eq!(file_name(day * DAY), name);
            assert_eq!(file_name(day * DAY + DAY - 1), name);
        }
    }
}
