//! Bringing over a store from before segments: one database, `logs.db`, with groups, streams
//! and every event (any of its schema versions). Its groups and streams go into the catalog,
//! streams under the numbers they had (so every event keeps its id), and its events into
//! segments with the `seq` and ingestion time they had, 10,000 at a time through the same
//! writes as appends. The catalog then records that the move is done, and `logs.db` is
//! removed. A move cut short (a crash, a full disk) leaves `logs.db` as it was and is started
//! again from an empty catalog at the next opening. It takes about as long as storing the
//! events did: seconds per million.

use super::{remove_database, Entry, Inner, SegmentedLogStore, StreamWrite};
use crate::store::{LogError, Millis, NewEvent};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// The events moved in one write.
const BATCH: usize = 10_000;

/// Moves `logs.db` into segments if the directory has one.
pub(super) fn bring_over(store: &SegmentedLogStore) -> Result<(), LogError> {
    let legacy = store.dir.join("logs.db");
    if !legacy.exists() {
        return Ok(());
    }
    let fault = store.catalog_fault();
    let mut inner = store.inner();
    let moved = inner
        .catalog
        .query_row("SELECT value FROM meta WHERE key = 'legacy'", [], |row| {
            row.get::<_, String>(0)
        })
        .optional()
        .map_err(&fault)?
        .is_some();
    if !moved {
        start_afresh(store, &mut inner)?;
        let legacy_fault = |source| LogError::Storage {
            path: legacy.display().to_string(),
            source,
        };
        let old = Connection::open(&legacy).map_err(legacy_fault)?;
        move_events(store, &mut inner, &old)?;
        drop(old);
        inner
            .catalog
            .execute(
                "INSERT INTO meta (key, value) VALUES ('legacy', 'moved from logs.db')",
                [],
            )
            .map_err(&fault)?;
    }
    remove_database(&legacy)
}

/// Empties the catalog and removes every segment: what a move cut short left.
fn start_afresh(store: &SegmentedLogStore, inner: &mut Inner) -> Result<(), LogError> {
    let fault = store.catalog_fault();
    inner.open.clear();
    inner.marked.clear();
    let tx = inner.catalog.transaction().map_err(&fault)?;
    for table in ["stream_segments", "segments", "streams", "groups"] {
        tx.execute(&format!("DELETE FROM {table}"), [])
            .map_err(&fault)?;
    }
    tx.commit().map_err(&fault)?;
    super::remove_dir(&store.segments_dir())
}

fn move_events(
    store: &SegmentedLogStore,
    inner: &mut Inner,
    old: &Connection,
) -> Result<(), LogError> {
    let fault = store.catalog_fault();
    let legacy_path = store.dir.join("logs.db");
    let old_fault = |source| LogError::Storage {
        path: legacy_path.display().to_string(),
        source,
    };
    let has_captured = column_exists(old, "streams", "captured_through").map_err(old_fault)?;
    let groups: Vec<(String, Millis, Option<u32>, String)> = {
        let mut statement = old
            .prepare("SELECT name, created, retention_days, tags FROM groups")
            .map_err(old_fault)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(old_fault)?;
        rows.collect::<Result<_, _>>().map_err(old_fault)?
    };
    let captured = if has_captured {
        "captured_through"
    } else {
        "NULL"
    };
    let streams: Vec<OldStream> = {
        let mut statement = old
            .prepare(&format!(
                "SELECT id, group_name, name, created, last_ingestion, last_seq, {captured} \
                 FROM streams"
            ))
            .map_err(old_fault)?;
        let rows = statement
            .query_map([], |row| {
                Ok(OldStream {
                    id: row.get(0)?,
                    group: row.get(1)?,
                    name: row.get(2)?,
                    created: row.get(3)?,
                    last_ingestion: row.get(4)?,
                    last_seq: row.get(5)?,
                    captured_through: row.get(6)?,
                })
            })
            .map_err(old_fault)?;
        rows.collect::<Result<_, _>>().map_err(old_fault)?
    };
    // Each stream's group and captured position, by its number.
    let mut moved: HashMap<i64, (i64, Option<u64>)> = HashMap::new();
    {
        let tx = inner.catalog.transaction().map_err(&fault)?;
        let mut group_ids = HashMap::new();
        for (name, created, retention_days, tags) in groups {
            tx.execute(
                "INSERT INTO groups (name, created, retention_days, tags) VALUES (?1, ?2, ?3, ?4)",
                params![name, created, retention_days, tags],
            )
            .map_err(&fault)?;
            group_ids.insert(name, tx.last_insert_rowid());
        }
        for stream in streams {
            let OldStream {
                id,
                group,
                name,
                created,
                last_ingestion,
                last_seq,
                captured_through,
            } = stream;
            let Some(&group) = group_ids.get(&group) else {
                continue;
            };
            tx.execute(
                "INSERT INTO streams (id, group_id, name, created, last_ingestion, last_seq, \
                 captured_through) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    group,
                    name,
                    created,
                    last_ingestion,
                    last_seq,
                    captured_through
                ],
            )
            .map_err(&fault)?;
            moved.insert(id, (group, captured_through.map(|p| p as u64)));
        }
        tx.commit().map_err(&fault)?;
    }
    let mut statement = old
        .prepare(
            "SELECT stream_id, seq, timestamp, ingestion, message FROM events \
             ORDER BY stream_id, seq",
        )
        .map_err(old_fault)?;
    let mut rows = statement.query([]).map_err(old_fault)?;
    let mut batch: Vec<(u64, Millis, NewEvent)> = Vec::with_capacity(BATCH);
    let mut batch_stream = None;
    loop {
        let row = rows.next().map_err(old_fault)?;
        let stream: Option<i64> = row.map(|r| r.get(0)).transpose().map_err(old_fault)?;
        if !batch.is_empty() && (batch.len() == BATCH || stream != batch_stream) {
            let id = batch_stream.expect("a batch has a stream");
            let (group, captured_through) = moved[&id];
            let write = StreamWrite {
                stream: id as u64,
                group,
                entries: batch
                    .iter()
                    .map(|(seq, ingestion, event)| Entry {
                        seq: *seq,
                        event,
                        ingestion: *ingestion,
                        position: None,
                    })
                    .collect(),
                captured_through,
            };
            store.write(inner, std::slice::from_ref(&write))?;
            batch.clear();
        }
        let (Some(row), Some(stream)) = (row, stream) else {
            break;
        };
        if !moved.contains_key(&stream) {
            continue;
        }
        batch_stream = Some(stream);
        batch.push((
            row.get::<_, i64>(1).map_err(old_fault)? as u64,
            row.get(3).map_err(old_fault)?,
            NewEvent {
                timestamp: row.get(2).map_err(old_fault)?,
                message: row.get(4).map_err(old_fault)?,
            },
        ));
    }
    Ok(())
}

/// A stream as `logs.db` has it.
struct OldStream {
    id: i64,
    group: String,
    name: String,
    created: Millis,
    last_ingestion: Option<Millis>,
    last_seq: i64,
    captured_through: Option<i64>,
}

fn column_exists(connection: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut statement = connection.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = statement.query_map([], |row| row.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}
