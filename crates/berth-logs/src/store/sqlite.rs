//! The embedded log store: one SQLite database of its own (`DATA_DIR/logs/logs.db`, never
//! the state store's), in WAL mode with every append committed to disk before it returns.
//! Events are keyed by stream and arrival, with a time index for searches across streams;
//! each stream keeps its own totals, so describing streams never reads their events.

use super::{
    event_id, Cursor, Event, FilterPage, FilterQuery, GroupInfo, LogError, LogStore, Millis,
    NewEvent, Position, ReadPage, StreamInfo, StreamOrder, DAY, SEARCH_BUDGET,
};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, Transaction};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

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

pub struct SqliteLogStore {
    path: String,
    connection: Mutex<Connection>,
}

impl SqliteLogStore {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteLogStore, LogError> {
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
        let connection = Connection::open(&path).map_err(storage)?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(storage)?;
        // An append is answered only once it is on disk.
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(storage)?;
        connection.execute_batch(SCHEMA).map_err(storage)?;
        Ok(SqliteLogStore {
            path: shown,
            connection: Mutex::new(connection),
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
            tx.execute(
                "INSERT INTO groups (name, created) VALUES (?1, ?2)",
                params![name, now],
            )
            .map_err(|e| self.storage(e))?;
            Ok(())
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
            tx.execute(
                "INSERT INTO streams (group_name, name, created) VALUES (?1, ?2, ?3)",
                params![group, stream, now],
            )
            .map_err(|e| self.storage(e))?;
            Ok(())
        })
    }

    fn delete_stream(&self, group: &str, stream: &str) -> Result<(), LogError> {
        self.transaction(|tx| {
            let (id, _) = stream_of(self, tx, group, stream)?;
            tx.execute("DELETE FROM events WHERE stream_id = ?1", [id as i64])
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
            if events.is_empty() {
                return Ok(last + 1..=last);
            }
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (stream_id, seq, timestamp, ingestion, message) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(|e| self.storage(e))?;
            let mut bytes = 0i64;
            for (offset, event) in events.iter().enumerate() {
                let seq = last + 1 + offset as u64;
                insert
                    .execute(params![
                        id as i64,
                        seq as i64,
                        event.timestamp,
                        now,
                        event.message
                    ])
                    .map_err(|e| self.storage(e))?;
                bytes += event.message.len() as i64;
            }
            let earliest = events.iter().map(|e| e.timestamp).min();
            let latest = events.iter().map(|e| e.timestamp).max();
            let new_last = last + events.len() as u64;
            tx.execute(
                "UPDATE streams SET last_seq = ?2, bytes = bytes + ?3, last_ingestion = ?4, \
                 first_event = MIN(COALESCE(first_event, ?5), ?5), \
                 last_event = MAX(COALESCE(last_event, ?6), ?6) WHERE id = ?1",
                params![id as i64, new_last as i64, bytes, now, earliest, latest],
            )
            .map_err(|e| self.storage(e))?;
            Ok(last + 1..=new_last)
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
        let ids: Vec<String> = names.keys().map(i64::to_string).collect();
        // Events without a required term are skipped inside SQLite, never copied out.
        let terms: String = (0..query.contains.len())
            .map(|i| format!(" AND instr(message, ?{}) > 0", i + 7))
            .collect();
        let sql = format!(
            "SELECT stream_id, seq, timestamp, ingestion, message FROM events \
             WHERE stream_id IN ({}) AND timestamp >= ?1 AND timestamp < ?2 \
             AND (timestamp, stream_id, seq) > (?3, ?4, ?5){terms} \
             ORDER BY timestamp, stream_id, seq LIMIT ?6",
            ids.join(", ")
        );
        let mut statement = connection.prepare(&sql).map_err(|e| self.storage(e))?;
        let bounds: [&dyn rusqlite::ToSql; 6] = [
            &query.start.unwrap_or(Millis::MIN),
            &query.end.unwrap_or(Millis::MAX),
            &after.timestamp,
            &(after.stream as i64),
            &(after.seq as i64),
            &((SEARCH_BUDGET + 1) as i64),
        ];
        let arguments = bounds
            .into_iter()
            .chain(query.contains.iter().map(|t| t as &dyn rusqlite::ToSql));
        let mut rows = statement
            .query(params_from_iter(arguments))
            .map_err(|e| self.storage(e))?;
        let mut page = FilterPage::default();
        let mut looked = 0;
        let mut last_found = None;
        while let Some(row) = rows.next().map_err(|e| self.storage(e))? {
            let stream: i64 = row.get(0).map_err(|e| self.storage(e))?;
            let seq = row.get::<_, i64>(1).map_err(|e| self.storage(e))? as u64;
            let timestamp: Millis = row.get(2).map_err(|e| self.storage(e))?;
            let at = Cursor {
                timestamp,
                stream: stream as u64,
                seq,
            };
            if looked == SEARCH_BUDGET {
                page.next = Some(at.encode());
                return Ok(page);
            }
            looked += 1;
            if page.events.len() == limit {
                // One more event exists past a full page: the next page starts after it.
                page.next = last_found.map(Cursor::encode);
                return Ok(page);
            }
            let message: String = row.get(4).map_err(|e| self.storage(e))?;
            if matches(&message) {
                last_found = Some(at);
                page.events.push(Event {
                    stream: names[&stream].clone(),
                    event_id: event_id(stream as u64, seq),
                    seq,
                    timestamp,
                    ingestion_time: row.get(3).map_err(|e| self.storage(e))?,
                    message,
                });
            }
        }
        Ok(page)
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
            for (stream, horizon) in expired {
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
