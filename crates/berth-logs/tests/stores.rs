//! The conformance suite over the fake and the embedded store.

use berth_logs::store::{conformance, MemoryLogStore, SqliteLogStore};

fn sqlite() -> (tempfile::TempDir, SqliteLogStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteLogStore::open(dir.path()).unwrap();
    (dir, store)
}

macro_rules! conforms {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(#[test] fn $case() { conformance::$case(MemoryLogStore::default()); })*
        }
        mod sqlite {
            use super::*;
            $(#[test] fn $case() { let (_dir, store) = sqlite(); conformance::$case(store); })*
        }
    };
}

conforms!(
    groups_and_streams,
    reading_pages_forward_and_backward,
    filtering_across_streams,
    retention_and_the_size_cap,
);

#[test]
fn the_sqlite_store_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    conformance::survives_reopening(|| SqliteLogStore::open(dir.path()).unwrap());
}

#[test]
fn a_store_that_cannot_be_opened_says_where() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let error = SqliteLogStore::open(file.path())
        .err()
        .expect("a file is no directory");
    assert!(
        error
            .to_string()
            .contains(&file.path().display().to_string()),
        "{error}"
    );
}
