//! Recent reads of a [`SqliteStore`](crate::SqliteStore), answered from memory.
//!
//! Each SQLite read costs a read transaction (shared-memory locks, `fcntl` calls, a copy of the
//! row) even when nothing changed since the last identical read. The cache keeps the results of
//! `get` and `list` calls under a *generation* number and answers a repeated read from memory
//! while the generation is unchanged.
//!
//! The generation moves on
//! - when this process commits a write: before the write returns, so a caller that got `Ok`
//!   (and anyone it tells) never reads what was there before;
//! - when another process committed one (`berth keys revoke`, say). That is seen through
//!   `PRAGMA data_version` on a connection of the cache's own, which changes whenever any
//!   other connection commits. The cache is trusted only for [`FRESH_FOR`] after such a check;
//!   a read after that runs the check again first (one read transaction, instead of one per
//!   read). So a change made by another process is seen by every read that starts at least
//!   [`FRESH_FOR`] after its commit.
//!
//! Invalidation is wholesale: any commit empties the cache. Reads between writes are what it
//! is for.

use crate::{Collection, Record, StoreError};
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// How long a [`SqliteStore`](crate::SqliteStore)'s check for other processes' commits stays
/// good. This bounds how stale a read can be with respect to another process's commit (for
/// instance an access key revoked with `berth keys revoke` while the server runs): 1 ms. The
/// process's own commits are seen at once.
pub const FRESH_FOR: Duration = Duration::from_millis(1);

/// Above this many entries, or this many bytes of documents, the cache starts over, so that
/// it stays small.
const MAX_ENTRIES: usize = 4096;
const MAX_BYTES: usize = 64 << 20;
/// Longer listings are not kept: they are rare, and would make the cache large.
const MAX_LISTED: usize = 512;

pub struct ReadCache {
    /// Bumped by every commit, ours or another process's.
    generation: AtomicU64,
    /// When the last check for other processes' commits started, in nanoseconds since `epoch`,
    /// plus one (0: never).
    checked_at: AtomicU64,
    epoch: Instant,
    watch: Mutex<Watch>,
    /// Read by every cached read at once; written only to add what a read fetched.
    entries: RwLock<Entries>,
}

struct Watch {
    conn: Connection,
    /// `PRAGMA data_version` at the last check.
    data_version: Option<i64>,
}

#[derive(Default)]
struct Entries {
    /// The generation the entries were read at.
    generation: u64,
    len: usize,
    bytes: usize,
    collections: [CollectionEntries; Collection::ALL.len()],
}

#[derive(Default)]
struct CollectionEntries {
    gets: HashMap<String, Option<Record>>,
    scopes: HashMap<String, Vec<Record>>,
    all: Option<Vec<Record>>,
}

impl Entries {
    fn clear(&mut self) {
        self.len = 0;
        self.bytes = 0;
        self.collections = Default::default();
    }

    /// Room for one more entry, of `records`.
    fn make_room<'r>(&mut self, records: impl IntoIterator<Item = &'r Record>) {
        let bytes: usize = records.into_iter().map(|r| r.doc.len()).sum();
        if self.len >= MAX_ENTRIES || self.bytes + bytes > MAX_BYTES {
            self.clear();
        }
        self.len += 1;
        self.bytes += bytes;
    }

    fn of(&self, collection: Collection) -> &CollectionEntries {
        &self.collections[collection as usize]
    }

    fn of_mut(&mut self, collection: Collection) -> &mut CollectionEntries {
        &mut self.collections[collection as usize]
    }
}

impl ReadCache {
    /// `watch` is a connection to the database used only to notice other processes' commits.
    pub fn new(watch: Connection) -> Self {
        Self {
            generation: AtomicU64::new(0),
            checked_at: AtomicU64::new(0),
            epoch: Instant::now(),
            watch: Mutex::new(Watch {
                conn: watch,
                data_version: None,
            }),
            entries: RwLock::new(Entries::default()),
        }
    }

    /// Called by the writer after each commit (and failed commit), before the write returns.
    pub fn committed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation a read may use the cache at, or `None` when it must not use it (the
    /// check for other processes' commits failed). Take it *before* reading SQLite: a commit
    /// that lands after the read then makes the result too old to keep.
    pub fn generation(&self) -> Option<u64> {
        if self.is_fresh() {
            return Some(self.generation.load(Ordering::SeqCst));
        }
        // One thread checks; the others wait the few microseconds that takes and then use its
        // result, rather than each paying for a read transaction of their own.
        let mut watch = self.watch.lock().unwrap_or_else(PoisonError::into_inner);
        if self.is_fresh() {
            return Some(self.generation.load(Ordering::SeqCst));
        }
        let started = self.now();
        let version = watch
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |row| row.get::<_, i64>(0)))
            .ok()?;
        if watch.data_version != Some(version) {
            watch.data_version = Some(version);
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        // Fresh from when the check started: a commit after that may not have been seen.
        self.checked_at.store(started, Ordering::SeqCst);
        Some(self.generation.load(Ordering::SeqCst))
    }

    /// Nanoseconds since `epoch`, plus one (so 0 means never).
    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    /// Whether the last check for other processes' commits started less than [`FRESH_FOR`] ago.
    fn is_fresh(&self) -> bool {
        let checked_at = self.checked_at.load(Ordering::SeqCst);
        checked_at != 0 && self.now().saturating_sub(checked_at) < FRESH_FOR.as_nanos() as u64
    }

    /// The entries, if they were read at `generation`.
    fn entries(&self, generation: u64) -> Option<RwLockReadGuard<'_, Entries>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        (entries.generation == generation).then_some(entries)
    }

    /// The entries, to add `records` read at `generation`; emptied first if they are older.
    fn entries_to_fill<'r>(
        &self,
        generation: u64,
        records: impl IntoIterator<Item = &'r Record>,
    ) -> Option<RwLockWriteGuard<'_, Entries>> {
        if self.generation.load(Ordering::SeqCst) != generation {
            // A commit landed since the read: what it read may already be out of date.
            return None;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.generation > generation {
            return None;
        }
        if entries.generation < generation {
            entries.generation = generation;
            entries.clear();
        }
        entries.make_room(records);
        Some(entries)
    }

    /// The cached result of `get`, if there is one for `generation`.
    pub fn get(
        &self,
        generation: u64,
        collection: Collection,
        key: &str,
    ) -> Option<Option<Record>> {
        self.entries(generation)?
            .of(collection)
            .gets
            .get(key)
            .cloned()
    }

    pub fn put_get(
        &self,
        generation: u64,
        collection: Collection,
        key: &str,
        record: &Option<Record>,
    ) {
        if let Some(mut entries) = self.entries_to_fill(generation, record) {
            entries
                .of_mut(collection)
                .gets
                .insert(key.to_string(), record.clone());
        }
    }

    pub fn list(
        &self,
        generation: u64,
        collection: Collection,
        scope: Option<&str>,
    ) -> Option<Vec<Record>> {
        let entries = self.entries(generation)?;
        let of = entries.of(collection);
        match scope {
            Some(scope) => of.scopes.get(scope).cloned(),
            None => of.all.clone(),
        }
    }

    pub fn put_list(
        &self,
        generation: u64,
        collection: Collection,
        scope: Option<&str>,
        records: &[Record],
    ) {
        if records.len() > MAX_LISTED {
            return;
        }
        if let Some(mut entries) = self.entries_to_fill(generation, records) {
            let of = entries.of_mut(collection);
            match scope {
                Some(scope) => {
                    of.scopes.insert(scope.to_string(), records.to_vec());
                }
                None => of.all = Some(records.to_vec()),
            }
        }
    }
}

/// Reads through `cache`: from memory when it has the answer, otherwise with `read`, keeping
/// the result.
pub fn read_through<T: Clone>(
    cache: &ReadCache,
    lookup: impl FnOnce(u64) -> Option<T>,
    read: impl FnOnce() -> Result<T, StoreError>,
    keep: impl FnOnce(u64, &T),
) -> Result<T, StoreError> {
    let Some(generation) = cache.generation() else {
        return read();
    };
    if let Some(hit) = lookup(generation) {
        return Ok(hit);
    }
    let value = read()?;
    keep(generation, &value);
    Ok(value)
}
