//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through one connection (SQLite admits one writer at a time anyway); reads use a
//! small pool so that Describe and List calls never queue behind a write's fsync.

use crate::{revision_key, Collection, Record, Store, StoreError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

const READERS: usize = 4;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE clusters (key TEXT PRIMARY KEY, scope TEXT NOT NULL, version INTEGER NOT NULL,
        sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE task_definitions (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX task_definitions_scope ON task_definitions (scope, sort);
    CREATE TABLE services (key TEXT PRIMARY KEY, scope TEXT NOT NULL, version INTEGER NOT NULL,
        sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX services_scope ON services (scope, key);
    CREATE TABLE tasks (key TEXT PRIMARY KEY, scope TEXT NOT NULL, version INTEGER NOT NULL,
        sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX tasks_scope ON tasks (scope, key);
    CREATE TABLE access_keys (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE revisions (family TEXT PRIMARY KEY, last INTEGER NOT NULL);
",
    "
    CREATE TABLE container_instances (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX container_instances_scope ON container_instances (scope, key);
    CREATE TABLE join_tokens (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
",
];

pub struct SqliteStore {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(backend)?;
    // FULL makes every commit reach the disk before the API answers 200.
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        .map_err(backend)
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic cannot leave a transaction open: rusqlite rolls back on drop.
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn sort_of(collection: Collection, doc: &Value) -> i64 {
    match collection {
        Collection::TaskDefinitions => doc.get("revision").and_then(Value::as_i64).unwrap_or(0),
        _ => 0,
    }
}

fn encode(doc: &Value) -> String {
    doc.to_string()
}

fn decode_row(key: String, scope: String, version: i64, doc: String) -> Result<Record, StoreError> {
    let doc = serde_json::from_str(&doc)
        .map_err(|e| StoreError::Backend(format!("stored document {key} is not JSON: {e}")))?;
    Ok(Record {
        key,
        scope,
        version,
        doc,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = Connection::open(path).map_err(backend)?;
        configure(&writer)?;
        Self::migrate(&writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(backend)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(backend)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    fn migrate(conn: &Connection) -> Result<(), StoreError> {
        let applied: usize = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(backend)?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {migration}; PRAGMA user_version = {}; COMMIT;",
                index + 1
            ))
            .map_err(backend)?;
        }
        Ok(())
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for offset in 0..self.readers.len() {
            if let Ok(conn) = self.readers[(start + offset) % self.readers.len()].try_lock() {
                return conn;
            }
        }
        lock(&self.readers[start % self.readers.len()])
    }

    fn get_with(
        conn: &Connection,
        collection: Collection,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        conn.prepare_cached(&format!(
            "SELECT scope, version, doc FROM {} WHERE key = ?1",
            collection.table()
        ))
        .map_err(backend)?
        .query_row(params![key], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
            ))
        })
        .optional()
        .map_err(backend)?
        .map(|(scope, version, doc)| decode_row(key.to_string(), scope, version, doc))
        .transpose()
    }
}

impl Store for SqliteStore {
    fn get(&self, collection: Collection, key: &str) -> Result<Option<Record>, StoreError> {
        Self::get_with(&self.reader(), collection, key)
    }

    fn list(&self, collection: Collection, scope: Option<&str>) -> Result<Vec<Record>, StoreError> {
        let order = match collection {
            Collection::TaskDefinitions => "scope, sort",
            _ => "key",
        };
        let table = collection.table();
        let conn = self.reader();
        let mut statement = match scope {
            Some(_) => conn.prepare_cached(&format!(
                "SELECT key, scope, version, doc FROM {table} WHERE scope = ?1 ORDER BY {order}"
            )),
            None => conn.prepare_cached(&format!(
                "SELECT key, scope, version, doc FROM {table} ORDER BY {order}"
            )),
        }
        .map_err(backend)?;
        let read_row = |row: &rusqlite::Row<'_>| {
            Ok((
                row.get::<_, String>(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
            ))
        };
        let rows = match scope {
            Some(scope) => statement.query_map(params![scope], read_row),
            None => statement.query_map([], read_row),
        }
        .map_err(backend)?;
        rows.map(|row| {
            let (key, scope, version, doc) = row.map_err(backend)?;
            decode_row(key, scope, version, doc)
        })
        .collect()
    }

    fn insert(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        doc: &Value,
    ) -> Result<Record, StoreError> {
        let conn = lock(&self.writer);
        let inserted = conn
            .prepare_cached(&format!(
                "INSERT INTO {} (key, scope, version, sort, doc) VALUES (?1, ?2, 1, ?3, ?4)
                 ON CONFLICT (key) DO NOTHING",
                collection.table()
            ))
            .map_err(backend)?
            .execute(params![key, scope, sort_of(collection, doc), encode(doc)])
            .map_err(backend)?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists {
                collection,
                key: key.to_string(),
            });
        }
        Ok(Record {
            key: key.to_string(),
            scope: scope.to_string(),
            version: 1,
            doc: doc.clone(),
        })
    }

    fn update(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
        doc: &Value,
    ) -> Result<Record, StoreError> {
        let conn = lock(&self.writer);
        let updated = conn
            .prepare_cached(&format!(
                "UPDATE {} SET version = version + 1, sort = ?3, doc = ?4
                 WHERE key = ?1 AND version = ?2 RETURNING scope",
                collection.table()
            ))
            .map_err(backend)?
            .query_row(
                params![key, expected_version, sort_of(collection, doc), encode(doc)],
                |row| row.get::<_, String>(0),
            )
            .optional()
            .map_err(backend)?;
        match updated {
            Some(scope) => Ok(Record {
                key: key.to_string(),
                scope,
                version: expected_version + 1,
                doc: doc.clone(),
            }),
            None => Err(match Self::get_with(&conn, collection, key)? {
                None => StoreError::NotFound {
                    collection,
                    key: key.to_string(),
                },
                Some(_) => StoreError::Conflict {
                    collection,
                    key: key.to_string(),
                    expected: expected_version,
                },
            }),
        }
    }

    fn delete(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        let conn = lock(&self.writer);
        let deleted = conn
            .prepare_cached(&format!(
                "DELETE FROM {} WHERE key = ?1 AND version = ?2",
                collection.table()
            ))
            .map_err(backend)?
            .execute(params![key, expected_version])
            .map_err(backend)?;
        if deleted == 1 {
            return Ok(());
        }
        Err(match Self::get_with(&conn, collection, key)? {
            None => StoreError::NotFound {
                collection,
                key: key.to_string(),
            },
            Some(_) => StoreError::Conflict {
                collection,
                key: key.to_string(),
                expected: expected_version,
            },
        })
    }

    fn insert_next_revision(
        &self,
        family: &str,
        build: &mut dyn FnMut(i64) -> Value,
    ) -> Result<Record, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let revision: i64 = tx
            .query_row(
                "INSERT INTO revisions (family, last) VALUES (?1, 1)
                 ON CONFLICT (family) DO UPDATE SET last = last + 1 RETURNING last",
                params![family],
                |row| row.get(0),
            )
            .map_err(backend)?;
        let doc = build(revision);
        let key = revision_key(family, revision);
        tx.execute(
            "INSERT INTO task_definitions (key, scope, version, sort, doc) VALUES (?1, ?2, 1, ?3, ?4)",
            params![key, family, revision, encode(&doc)],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(Record {
            key,
            scope: family.to_string(),
            version: 1,
            doc,
        })
    }
}
