//! One call of a search, carried from segment to segment in window order. Windows do not
//! overlap, so every event of a segment comes before every event of the next one in the
//! order searches answer in (timestamp, stream, `seq`): a call searches the segments in turn
//! with one budget, and its cursor may end in any of them.
//!
//! # How searches skip events
//!
//! Each stream's events in a segment are also grouped in blocks, by arrival: a block is a run
//! of the stream's `seq`s with the time range of its events and a Bloom filter of the
//! trigrams (3-byte windows) of their messages ([`trigrams`](crate::store::trigrams)). A
//! block is sealed at 4,096 events, 1 MiB of messages, or when its filter is 30% set,
//! whichever comes first, and its filter is then folded (halved) as far as it stays that
//! sparse: about 2 KiB for 4,096 lines of an access log. Blocks are written by the same
//! transaction as the events they hold, so the index never misses an event; an append to the
//! stream's open block rewrites that block's row (8 KiB of filter while it is open).
//!
//! A search whose pattern requires a term of 3 bytes or more ([`FilterQuery::contains`])
//! lists, segment by segment, the blocks of the streams searched that overlap its time range
//! and the part after its cursor, in the order of their first possible event (earliest
//! timestamp, stream, first `seq`; no event of a block comes before that), and asks each
//! one's filter whether it has every trigram of every such term. Blocks that cannot hold a
//! match are skipped unread and cost a filter check each; the events of the others are read
//! by `seq` (or, for a block only a small part of whose time range is wanted, through the
//! stream's time index), with SQLite checking the required terms, until the call has read
//! [`SEARCH_BUDGET`](crate::store::SEARCH_BUDGET) events (or 64 MiB, or checked 4,096
//! filters). Everything before the first block it did not take is then answered in order,
//! matched, and the cursor resumes just before that block; so a call that reads nothing goes
//! on as far as its filter checks allow. Blocks that may hold events on both sides of the
//! cursor are read whatever they cost, which keeps every page in order with out-of-order
//! timestamps; at least one block past the cursor is looked at, so every call gets further.
//! Terms shorter than 3 bytes, and JSON patterns, use no filter: such a search walks each
//! segment's time index, up to the same budget of events a call.

use super::Tuning;
use crate::store::trigrams::Probe;
use crate::store::{event_id, Cursor, Event, FilterPage, FilterQuery, Millis};
use rusqlite::{params, params_from_iter, Connection};
use std::collections::BTreeMap;

/// One call of a search, over the streams `names` of the query's group.
pub(super) struct Search<'a> {
    query: &'a FilterQuery<'a>,
    names: &'a BTreeMap<i64, String>,
    /// The ids of `names`, comma-separated, as every segment's SQL names them.
    stream_ids: String,
    after: Cursor,
    matches: &'a (dyn Fn(&str) -> bool + Sync),
    limit: usize,
    tuning: Tuning,
    /// What the call answers so far.
    page: FilterPage,
    last_found: Option<Cursor>,
    /// Spent, walking time indexes: the events looked at and the last of them.
    looked: u64,
    last_looked: Option<Cursor>,
    /// Spent, going by blocks: events and bytes of blocks taken, filters checked, and
    /// whether a block past the cursor was looked at.
    events: u64,
    bytes: u64,
    checks: usize,
    beyond: bool,
}

/// Whether a segment's part of a search answered the call, or the next segment goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Answered,
    GoOn,
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

impl<'a> Search<'a> {
    /// The ids of the streams searched, comma-separated, for SQL.
    pub(super) fn stream_ids(&self) -> &str {
        &self.stream_ids
    }

    pub(super) fn new(
        query: &'a FilterQuery<'a>,
        names: &'a BTreeMap<i64, String>,
        after: Cursor,
        matches: &'a (dyn Fn(&str) -> bool + Sync),
        limit: usize,
        tuning: Tuning,
    ) -> Search<'a> {
        let ids: Vec<String> = names.keys().map(i64::to_string).collect();
        Search {
            query,
            names,
            stream_ids: ids.join(", "),
            after,
            matches,
            limit,
            tuning,
            page: FilterPage::default(),
            last_found: None,
            looked: 0,
            last_looked: None,
            events: 0,
            bytes: 0,
            checks: 0,
            beyond: false,
        }
    }

    /// What the call answers, once no segment is left or one answered it.
    pub(super) fn into_page(self) -> FilterPage {
        self.page
    }

    /// Searches one segment, after those before it in window order.
    pub(super) fn segment(
        &mut self,
        connection: &Connection,
        probe: Option<&Probe>,
    ) -> rusqlite::Result<Step> {
        match probe {
            Some(probe) => self.by_blocks(connection, probe),
            None => self.by_time(connection),
        }
    }

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

    /// Takes an event found by the matcher, unless the page is full: then the next page
    /// starts after the last event found, and the call is answered.
    fn found(&mut self, at: Cursor, ingestion: Millis, message: String) -> Step {
        if self.page.events.len() == self.limit {
            self.page.next = self.last_found.map(Cursor::encode);
            return Step::Answered;
        }
        if (self.matches)(&message) {
            self.last_found = Some(at);
            let event = self.event(at, ingestion, message);
            self.page.events.push(event);
        }
        Step::GoOn
    }

    /// A search no filter can help (no required term of 3 bytes or more): SQLite walks the
    /// segment's time index, checking required terms itself, and the matcher sees the rest,
    /// up to the event budget of the call.
    fn by_time(&mut self, connection: &Connection) -> rusqlite::Result<Step> {
        let sql = format!(
            "SELECT stream_id, seq, timestamp, ingestion, message FROM events \
             WHERE stream_id IN ({}) AND timestamp >= ?1 AND timestamp < ?2 \
             AND (timestamp, stream_id, seq) > (?3, ?4, ?5){} \
             ORDER BY timestamp, stream_id, seq LIMIT ?6",
            self.stream_ids(),
            self.term_clauses(7)
        );
        let mut statement = connection.prepare_cached(&sql)?;
        let left = self.tuning.search_events - self.looked + 1;
        let bounds: [&dyn rusqlite::ToSql; 6] = [
            &self.query.start.unwrap_or(Millis::MIN),
            &self.query.end.unwrap_or(Millis::MAX),
            &self.after.timestamp,
            &(self.after.stream as i64),
            &(self.after.seq as i64),
            &(left as i64),
        ];
        let arguments = bounds.into_iter().chain(
            self.query
                .contains
                .iter()
                .map(|t| t as &dyn rusqlite::ToSql),
        );
        let mut rows = statement.query(params_from_iter(arguments))?;
        while let Some(row) = rows.next()? {
            let at = Cursor {
                timestamp: row.get(2)?,
                stream: row.get::<_, i64>(0)? as u64,
                seq: row.get::<_, i64>(1)? as u64,
            };
            if self.looked == self.tuning.search_events {
                // The next call goes on after the last event looked at.
                self.page.next = self.last_looked.map(Cursor::encode);
                return Ok(Step::Answered);
            }
            self.looked += 1;
            if self.found(at, row.get(3)?, row.get(4)?) == Step::Answered {
                return Ok(Step::Answered);
            }
            self.last_looked = Some(at);
        }
        Ok(Step::GoOn)
    }

    /// A search with terms of 3 bytes or more: the segment's blocks of the streams searched
    /// are taken in the order of their first possible event, each one's filter is asked
    /// whether it may hold every term, and only the events of blocks that may are read (those
    /// without a required term skipped inside SQLite), until the call has read its budget of
    /// events. All that is found before the first block not taken is then answered in order,
    /// and the cursor, when that block exists, resumes just before it.
    fn by_blocks(&mut self, connection: &Connection, probe: &Probe) -> rusqlite::Result<Step> {
        let after = self.after;
        let from = self.query.start.unwrap_or(Millis::MIN).max(after.timestamp);
        let end = self.query.end.unwrap_or(Millis::MAX);
        if from >= end {
            return Ok(Step::GoOn);
        }
        let to = end - 1;
        let sql = format!(
            "SELECT id, stream_id, first_seq, last_seq, min_ts, max_ts, events, bytes \
             FROM blocks WHERE stream_id IN ({}) AND max_ts >= ?1 AND min_ts <= ?2",
            self.stream_ids()
        );
        let mut statement = connection.prepare_cached(&sql)?;
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
        let mut filter = connection.prepare_cached("SELECT filter FROM blocks WHERE id = ?1")?;
        let mut taken = Vec::new();
        let mut stop = None;
        for span in spans {
            let straddles = span.start() <= after;
            let spent = self.events >= self.tuning.search_events
                || self.bytes >= self.tuning.search_bytes
                || self.checks >= self.tuning.filter_checks;
            if !straddles && self.beyond && spent {
                stop = Some(span.start());
                break;
            }
            self.beyond |= !straddles;
            self.checks += 1;
            let may = filter.query_row([span.id], |row| {
                Ok(probe.may_match(row.get_ref(0)?.as_blob()?))
            })?;
            if may {
                let share = span.share(from, to);
                self.events += (span.events as f64 * share).ceil() as u64;
                self.bytes += (span.bytes as f64 * share).ceil() as u64;
                taken.push(span);
            }
        }

        // Everything before `stop` is in the blocks taken, up to its time.
        let until = stop.map_or(to, |s| s.timestamp.min(to));
        let mut candidates = Vec::new();
        for span in &taken {
            self.read_block(connection, span, from, until, &mut candidates)?;
        }
        candidates.retain(|c| c.at > after && stop.is_none_or(|s| c.at < s));
        candidates.sort_unstable_by_key(|c| c.at);
        for candidate in candidates {
            if self.found(candidate.at, candidate.ingestion, candidate.message) == Step::Answered {
                return Ok(Step::Answered);
            }
        }
        // Resume just before the first block not taken: after nothing any block holds.
        match stop {
            Some(s) => {
                self.page.next = Some(
                    Cursor {
                        seq: s.seq - 1,
                        ..s
                    }
                    .encode(),
                );
                Ok(Step::Answered)
            }
            None => Ok(Step::GoOn),
        }
    }

    /// The events of `span` with timestamps in `[from, to]` and every required term. Through
    /// the stream's time index when that is a small part of the block, else by `seq`.
    fn read_block(
        &self,
        connection: &Connection,
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
        let mut statement = connection.prepare_cached(&sql)?;
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
