//! The embedded store: one SQLite file in WAL mode.
//!
//! Reads use a small pool of read-only connections, so that Describe and List calls never queue
//! behind a write's fsync.
//!
//! Writes go through one connection (SQLite admits one writer at a time anyway) and are
//! committed in groups: a write runs its change inside the open transaction (in a savepoint of
//! its own, so a refused change leaves the others intact) and then waits until that
//! transaction commits. The write that finds nobody else on the way in commits for everyone,
//! with one fsync. A lone write commits at once, as before; under load, the writes that arrive
//! while one group is being made durable share the next group's fsync. Either way a write
//! returns only after the commit that holds it reached the disk (`synchronous=FULL`), so `Ok`
//! still means durable. A write that is refused (conflict, missing record) also waits for its
//! group, so that what it saw, and what its caller reads next, is committed state.
//!
//! [`Store::batch`] holds the group open while its work runs, so that one thread can make many
//! writes (the HTTP front's queued write requests) and commit them with one fsync; its reads
//! then go to the write connection, which sees what the batch wrote so far.
//!
//! Reads outside a batch are answered from a [`ReadCache`] while nothing was committed since.

use crate::read_cache::{read_through, ReadCache};
use crate::{revision_key, revision_of, Collection, Record, Store, StoreError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

const READERS: usize = 4;

/// The most writes one commit carries, so that a steady stream of writers cannot keep a group
/// open (and its first writer waiting) indefinitely.
const MAX_GROUP: usize = 128;

/// Enough prepared statements for every collection's queries and the transaction control.
const STATEMENT_CACHE: usize = 128;

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
    "
    CREATE TABLE load_balancers (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE target_groups (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE listeners (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX listeners_scope ON listeners (scope, key);
    CREATE TABLE rules (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX rules_scope ON rules (scope, key);
    CREATE TABLE certificates (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE service_history (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
",
    "
    CREATE TABLE secrets (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE parameters (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX parameters_scope ON parameters (scope, key);
    CREATE TABLE vault (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE TABLE secret_changes (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
",
    "
    CREATE TABLE secret_deletions (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
",
    "
    CREATE TABLE scalable_targets (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX scalable_targets_scope ON scalable_targets (scope, key);
    CREATE TABLE scaling_policies (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX scaling_policies_scope ON scaling_policies (scope, key);
    CREATE TABLE scheduled_actions (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX scheduled_actions_scope ON scheduled_actions (scope, key);
    CREATE TABLE scaling_activities (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX scaling_activities_scope ON scaling_activities (scope, key);
    CREATE TABLE scheduled_firings (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX scheduled_firings_scope ON scheduled_firings (scope, key);
",
    "
    CREATE TABLE event_rules (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX event_rules_scope ON event_rules (scope, key);
",
    "
    CREATE TABLE alarms (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX alarms_scope ON alarms (scope, key);
    CREATE TABLE alarm_history (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX alarm_history_scope ON alarm_history (scope, key);
    CREATE TABLE alarm_actions (key TEXT PRIMARY KEY, scope TEXT NOT NULL,
        version INTEGER NOT NULL, sort INTEGER NOT NULL, doc TEXT NOT NULL);
    CREATE INDEX alarm_actions_scope ON alarm_actions (scope, key);
",
];

/// One collection's statements, made once rather than formatted on every call.
struct Statements {
    get: String,
    list_scope: String,
    list_all: String,
    insert: String,
    update: String,
    delete: String,
}

impl Statements {
    fn new(collection: Collection) -> Self {
        let table = collection.table();
        let order = match collection {
            Collection::TaskDefinitions => "scope, sort",
            _ => "key",
        };
        Self {
            get: format!("SELECT scope, version, doc FROM {table} WHERE key = ?1"),
            list_scope: format!(
                "SELECT key, scope, version, doc FROM {table} WHERE scope = ?1 ORDER BY {order}"
            ),
            list_all: format!("SELECT key, scope, version, doc FROM {table} ORDER BY {order}"),
            insert: format!(
                "INSERT INTO {table} (key, scope, version, sort, doc) VALUES (?1, ?2, 1, ?3, ?4)
                 ON CONFLICT (key) DO NOTHING"
            ),
            update: format!(
                "UPDATE {table} SET version = version + 1, sort = ?3, doc = ?4
                 WHERE key = ?1 AND version = ?2 RETURNING scope"
            ),
            delete: format!("DELETE FROM {table} WHERE key = ?1 AND version = ?2"),
        }
    }
}

pub struct SqliteStore {
    writer: Writer,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    statements: Vec<Statements>,
    cache: Arc<ReadCache>,
}

thread_local! {
    /// The store (by address) whose [`Store::batch`] this thread is running, or 0.
    static BATCH_OF: Cell<usize> = const { Cell::new(0) };
}

/// The write connection and the group commit around it.
struct Writer {
    state: Mutex<WriterState>,
    /// Signalled whenever a group's transaction ends.
    group_ended: Condvar,
    /// Writes that have asked for the connection and not yet run their change, and running
    /// batches. While there are any, the open group waits for them rather than committing
    /// without them.
    arriving: AtomicUsize,
    cache: Arc<ReadCache>,
}

struct WriterState {
    conn: Connection,
    /// The group whose transaction is open, if any.
    open: Option<Group>,
    /// Batches running now: their group must not be cut off at `MAX_GROUP`.
    batches: usize,
}

/// How a group's transaction ended: committed, or why it did not.
type Outcome = OnceLock<Result<(), Uncommitted>>;

/// Why a group's transaction was not committed, told to every write in the group.
#[derive(Clone)]
struct Uncommitted {
    reason: &'static str,
    source: Arc<rusqlite::Error>,
}

impl From<Uncommitted> for StoreError {
    fn from(Uncommitted { reason, source }: Uncommitted) -> Self {
        StoreError::NotCommitted { reason, source }
    }
}

struct Group {
    outcome: Arc<Outcome>,
    /// Changes kept in the transaction so far.
    changes: usize,
    /// Set when the transaction can no longer be committed safely; it is rolled back instead.
    broken: Option<Uncommitted>,
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // FULL makes every commit reach the disk before the API answers 200.
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        .map_err(StoreError::from)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic cannot leave a transaction open: the writer rolls a panicking change back to
    // its savepoint before the panic goes on, and readers hold no transaction between calls.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sort_of(collection: Collection, doc: &str) -> i64 {
    match collection {
        Collection::TaskDefinitions => revision_of(doc),
        _ => 0,
    }
}

fn check_json(doc: &str) {
    debug_assert!(
        serde_json::from_str::<serde_json::Value>(doc).is_ok(),
        "stored documents are JSON text: {doc:?}"
    );
}

/// A text column, read straight into shared text.
fn text(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<Arc<str>> {
    Ok(row.get_ref(column)?.as_str()?.into())
}

fn execute(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

impl WriterState {
    /// Runs `change` in the open group's transaction (opening one if needed), inside a
    /// savepoint that is rolled back if the change fails or panics.
    fn run<R>(
        &mut self,
        change: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> std::thread::Result<Result<R, StoreError>> {
        if self.open.is_none() {
            if let Err(e) = execute(&self.conn, "BEGIN IMMEDIATE") {
                return Ok(Err(e.into()));
            }
            self.open = Some(Group {
                outcome: Arc::default(),
                changes: 0,
                broken: None,
            });
        }
        if let Err(e) = execute(&self.conn, "SAVEPOINT change") {
            return Ok(Err(e.into()));
        }
        let result = catch_unwind(AssertUnwindSafe(|| change(&self.conn)));
        let keep = matches!(result, Ok(Ok(_)));
        let end = if keep {
            execute(&self.conn, "RELEASE change")
        } else {
            execute(&self.conn, "ROLLBACK TO change")
                .and_then(|()| execute(&self.conn, "RELEASE change"))
        };
        let group = self.open.as_mut().expect("a group is open");
        match end {
            Ok(()) if keep => group.changes += 1,
            Ok(()) => {}
            Err(e) => {
                // The transaction's state is unknown: nothing in it may be committed.
                let broken = Uncommitted {
                    reason: "could not end a change's savepoint",
                    source: Arc::new(e),
                };
                group.broken = Some(broken.clone());
                if keep {
                    return Ok(Err(broken.into()));
                }
            }
        }
        result
    }

    /// Commits (or, if broken, rolls back) the open group and records how that went.
    fn end_group(&mut self, cache: &ReadCache) {
        let Some(group) = self.open.take() else {
            return;
        };
        let outcome = match group.broken {
            Some(broken) => Err(broken),
            None => execute(&self.conn, "COMMIT").map_err(|e| Uncommitted {
                reason: "commit failed",
                source: Arc::new(e),
            }),
        };
        if outcome.is_err() && !self.conn.is_autocommit() {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                // The store has no logger of its own; the next write's BEGIN fails loudly too.
                eprintln!("berth-store: rollback after a failed commit failed: {e}");
            }
        }
        // Before anyone learns the outcome: nothing read from before the commit is served after.
        cache.committed();
        let _ = group.outcome.set(outcome);
    }
}

impl Writer {
    /// Runs `change` as part of a group commit and returns once its group has ended: `Ok` only
    /// if the change was kept and the group committed.
    fn write<R>(
        &self,
        in_batch: bool,
        change: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        if in_batch {
            // The batch commits at its end; until then the change is only made.
            let ran = lock(&self.state).run(change);
            return ran.unwrap_or_else(|panic| resume_unwind(panic));
        }
        self.arriving.fetch_add(1, Ordering::SeqCst);
        let mut state = lock(&self.state);
        let ran = state.run(change);
        let last = self.arriving.fetch_sub(1, Ordering::SeqCst) == 1;
        let Some(group) = &state.open else {
            // The transaction could not even begin; nobody else is waiting on it.
            return ran.unwrap_or_else(|panic| resume_unwind(panic));
        };
        let full = group.changes >= MAX_GROUP && state.batches == 0;
        let committed = self.finish(state, last || full);
        match (ran, committed) {
            (Err(panic), _) => resume_unwind(panic),
            (Ok(result), Ok(())) => result,
            (Ok(_), Err(uncommitted)) => Err(uncommitted.into()),
        }
    }

    /// Ends the open group if `end`, else waits until whoever is last ends it; returns how
    /// it ended.
    fn finish(&self, mut state: MutexGuard<'_, WriterState>, end: bool) -> Result<(), Uncommitted> {
        let Some(group) = &state.open else {
            return Ok(());
        };
        let outcome = Arc::clone(&group.outcome);
        if end {
            state.end_group(&self.cache);
            self.group_ended.notify_all();
        } else {
            while outcome.get().is_none() {
                state = self
                    .group_ended
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        drop(state);
        outcome.get().cloned().expect("the group has ended")
    }

    /// Runs `work` as one batch: see [`Store::batch`].
    fn batch(&self, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        // Counted as arriving until the end, so that no other write commits the group early.
        self.arriving.fetch_add(1, Ordering::SeqCst);
        lock(&self.state).batches += 1;
        let ran = catch_unwind(AssertUnwindSafe(work));
        let mut state = lock(&self.state);
        state.batches -= 1;
        let last = self.arriving.fetch_sub(1, Ordering::SeqCst) == 1;
        let committed = self.finish(state, last);
        if let Err(panic) = ran {
            resume_unwind(panic);
        }
        committed.map_err(StoreError::from)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = Connection::open(path)?;
        configure(&writer)?;
        Self::migrate(&writer)?;
        let open_reader = || {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
            Ok::<_, StoreError>(conn)
        };
        let readers = (0..READERS)
            .map(|_| open_reader().map(Mutex::new))
            .collect::<Result<_, StoreError>>()?;
        let cache = Arc::new(ReadCache::new(open_reader()?));
        Ok(Self {
            writer: Writer {
                state: Mutex::new(WriterState {
                    conn: writer,
                    open: None,
                    batches: 0,
                }),
                group_ended: Condvar::new(),
                arriving: AtomicUsize::new(0),
                cache: Arc::clone(&cache),
            },
            readers,
            next_reader: AtomicUsize::new(0),
            statements: Collection::ALL.into_iter().map(Statements::new).collect(),
            cache,
        })
    }

    fn migrate(conn: &Connection) -> Result<(), StoreError> {
        let applied: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            conn.execute_batch(&format!(
                "BEGIN IMMEDIATE; {migration}; PRAGMA user_version = {}; COMMIT;",
                index + 1
            ))?;
        }
        Ok(())
    }

    fn sql(&self, collection: Collection) -> &Statements {
        &self.statements[collection as usize]
    }

    /// Whether this thread is running a batch of this store.
    fn in_batch(&self) -> bool {
        BATCH_OF.get() == self as *const Self as usize
    }

    fn list_with(
        &self,
        conn: &Connection,
        collection: Collection,
        scope: Option<&str>,
    ) -> Result<Vec<Record>, StoreError> {
        let sql = self.sql(collection);
        let mut statement = conn.prepare_cached(match scope {
            Some(_) => &sql.list_scope,
            None => &sql.list_all,
        })?;
        let read_row = |row: &rusqlite::Row<'_>| {
            Ok(Record {
                key: row.get(0)?,
                scope: row.get(1)?,
                version: row.get(2)?,
                doc: text(row, 3)?,
            })
        };
        let rows = match scope {
            Some(scope) => statement.query_map(params![scope], read_row),
            None => statement.query_map([], read_row),
        }?;
        rows.map(|row| row.map_err(StoreError::from)).collect()
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
        &self,
        conn: &Connection,
        collection: Collection,
        key: &str,
    ) -> Result<Option<Record>, StoreError> {
        conn.prepare_cached(&self.sql(collection).get)?
            .query_row(params![key], |row| {
                Ok(Record {
                    key: key.to_string(),
                    scope: row.get(0)?,
                    version: row.get(1)?,
                    doc: text(row, 2)?,
                })
            })
            .optional()
            .map_err(StoreError::from)
    }

    /// Why an update or delete of `key` at `expected_version` changed nothing.
    fn missed(
        &self,
        conn: &Connection,
        collection: Collection,
        key: &str,
        expected_version: i64,
    ) -> StoreError {
        match self.get_with(conn, collection, key) {
            Err(e) => e,
            Ok(None) => StoreError::NotFound {
                collection,
                key: key.to_string(),
            },
            Ok(Some(_)) => StoreError::Conflict {
                collection,
                key: key.to_string(),
                expected: expected_version,
            },
        }
    }
}

impl Store for SqliteStore {
    fn get(&self, collection: Collection, key: &str) -> Result<Option<Record>, StoreError> {
        if self.in_batch() {
            // What the batch wrote so far is only on the write connection.
            return self.get_with(&lock(&self.writer.state).conn, collection, key);
        }
        read_through(
            &self.cache,
            |generation| self.cache.get(generation, collection, key),
            || self.get_with(&self.reader(), collection, key),
            |generation, record| self.cache.put_get(generation, collection, key, record),
        )
    }

    fn list(&self, collection: Collection, scope: Option<&str>) -> Result<Vec<Record>, StoreError> {
        if self.in_batch() {
            return self.list_with(&lock(&self.writer.state).conn, collection, scope);
        }
        read_through(
            &self.cache,
            |generation| self.cache.list(generation, collection, scope),
            || self.list_with(&self.reader(), collection, scope),
            |generation, records| self.cache.put_list(generation, collection, scope, records),
        )
    }

    fn insert(
        &self,
        collection: Collection,
        key: &str,
        scope: &str,
        doc: &str,
    ) -> Result<Record, StoreError> {
        check_json(doc);
        let sort = sort_of(collection, doc);
        self.writer.write(self.in_batch(), |conn| {
            let inserted = conn
                .prepare_cached(&self.sql(collection).insert)?
                .execute(params![key, scope, sort, doc])?;
            if inserted == 0 {
                return Err(StoreError::AlreadyExists {
                    collection,
                    key: key.to_string(),
                });
            }
            Ok(())
        })?;
        Ok(Record {
            key: key.to_string(),
            scope: scope.to_string(),
            version: 1,
            doc: doc.into(),
        })
    }

    fn update(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
        doc: &str,
    ) -> Result<Record, StoreError> {
        check_json(doc);
        let sort = sort_of(collection, doc);
        let scope = self.writer.write(self.in_batch(), |conn| {
            conn.prepare_cached(&self.sql(collection).update)?
                .query_row(params![key, expected_version, sort, doc], |row| {
                    row.get::<_, String>(0)
                })
                .optional()?
                .ok_or_else(|| self.missed(conn, collection, key, expected_version))
        })?;
        Ok(Record {
            key: key.to_string(),
            scope,
            version: expected_version + 1,
            doc: doc.into(),
        })
    }

    fn delete(
        &self,
        collection: Collection,
        key: &str,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        self.writer.write(self.in_batch(), |conn| {
            let deleted = conn
                .prepare_cached(&self.sql(collection).delete)?
                .execute(params![key, expected_version])?;
            if deleted == 1 {
                Ok(())
            } else {
                Err(self.missed(conn, collection, key, expected_version))
            }
        })
    }

    fn insert_next_revision(
        &self,
        family: &str,
        build: &mut dyn FnMut(i64) -> String,
    ) -> Result<Record, StoreError> {
        self.writer.write(self.in_batch(), |conn| {
            let revision: i64 = conn
                .prepare_cached(
                    "INSERT INTO revisions (family, last) VALUES (?1, 1)
                     ON CONFLICT (family) DO UPDATE SET last = last + 1 RETURNING last",
                )?
                .query_row(params![family], |row| row.get(0))?;
            let doc = build(revision);
            check_json(&doc);
            let key = revision_key(family, revision);
            conn.prepare_cached(
                "INSERT INTO task_definitions (key, scope, version, sort, doc)
                 VALUES (?1, ?2, 1, ?3, ?4)",
            )?
            .execute(params![key, family, revision, doc])?;
            Ok(Record {
                key,
                scope: family.to_string(),
                version: 1,
                doc: doc.into(),
            })
        })
    }

    fn batch(&self, work: &mut dyn FnMut()) -> Result<(), StoreError> {
        if self.in_batch() {
            // Part of the batch already running on this thread.
            work();
            return Ok(());
        }
        // Restored however `work` ends, so that later calls on this thread are not batched (or
        // are again part of the batch of another store this one's batch ran in).
        struct Restore(usize);
        impl Drop for Restore {
            fn drop(&mut self) {
                BATCH_OF.set(self.0);
            }
        }
        let restore = Restore(BATCH_OF.replace(self as *const Self as usize));
        let result = self.writer.batch(work);
        drop(restore);
        result
    }
}
