//! Putting several searches' pages in one order, and showing each event once while following.
//!
//! Each FilterLogEvents search (a group, up to 100 streams) answers in pages in timestamp
//! order; [`Merge`] interleaves the searches by timestamp, asking for a search's next page only
//! when its turn needs it, so a long history is printed as it is read rather than held.
//!
//! A follow searches again every second from a little before the newest event seen
//! ([`LOOKBACK_MILLIS`]): events are stamped when a container wrote them but reach the server a
//! moment later, so one written just before the newest seen may arrive after it. The searches
//! overlap, and [`Seen`] keeps the ids of the events inside the overlap to show each once.

use serde::Deserialize;
use std::collections::{BTreeSet, VecDeque};

/// How far before the newest event seen a follow searches again. An agent ships an event
/// within about a second and a half of its line (a multi-line event waits a second for its
/// next line); an event that arrives later than this, after an agent lost its server, shows
/// in a later `berth logs`, not in the follow.
pub const LOOKBACK_MILLIS: i64 = 5_000;

/// An event as FilterLogEvents answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub timestamp: i64,
    pub event_id: String,
    pub log_stream_name: String,
    pub message: String,
}

/// What to do next to continue the merged order.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Print this event of the search at this index.
    Event(usize, Found),
    /// Read the next page of the search at this index, then [`Merge::fill`] it.
    Fetch(usize),
    Done,
}

#[derive(Default)]
struct Feed {
    events: VecDeque<Found>,
    /// Whether the search has pages not yet read (at first, all of them).
    more: bool,
}

/// Searches' pages interleaved by timestamp; ties go to the search listed first.
pub struct Merge {
    feeds: Vec<Feed>,
}

impl Merge {
    /// A merge of `searches` searches, none read yet.
    pub fn new(searches: usize) -> Self {
        Self {
            feeds: (0..searches)
                .map(|_| Feed {
                    events: VecDeque::new(),
                    more: true,
                })
                .collect(),
        }
    }

    /// The page just read for search `index`; `more` when it said there is a next one.
    pub fn fill(&mut self, index: usize, page: Vec<Found>, more: bool) {
        let feed = &mut self.feeds[index];
        feed.events.extend(page);
        feed.more = more;
    }

    pub fn next(&mut self) -> Next {
        // A search with nothing buffered but more to read could hold the earliest event.
        if let Some(index) = self
            .feeds
            .iter()
            .position(|feed| feed.events.is_empty() && feed.more)
        {
            return Next::Fetch(index);
        }
        let earliest = self
            .feeds
            .iter()
            .enumerate()
            .filter_map(|(index, feed)| Some((feed.events.front()?.timestamp, index)))
            .min();
        match earliest {
            Some((_, index)) => match self.feeds[index].events.pop_front() {
                Some(event) => Next::Event(index, event),
                None => Next::Done,
            },
            None => Next::Done,
        }
    }
}

/// The events a follow has shown that a later search may find again, and where the next
/// search starts.
#[derive(Debug, Default)]
pub struct Seen {
    /// `(timestamp, eventId)` of the events shown from [`Seen::search_start`] on: bounded by
    /// what the streams logged in the last [`LOOKBACK_MILLIS`].
    recent: BTreeSet<(i64, String)>,
    newest: Option<i64>,
    /// `--since`: no search starts before it.
    since: Option<i64>,
}

impl Seen {
    /// Nothing seen yet, of events from `since` on (`None`: from the beginning).
    pub fn since(since: Option<i64>) -> Self {
        Self {
            since,
            ..Self::default()
        }
    }

    /// Whether the event is shown for the first time; remembers it if a later search can
    /// find it again.
    pub fn first_time(&mut self, timestamp: i64, event_id: &str) -> bool {
        let key = (timestamp, event_id.to_owned());
        if self.recent.contains(&key) {
            return false;
        }
        if self.newest.is_none_or(|newest| timestamp > newest) {
            self.newest = Some(timestamp);
        }
        let start = self.search_start();
        if start.is_none_or(|start| timestamp >= start) {
            self.recent.insert(key);
        }
        // Nothing before the next search's start can be found again.
        while self
            .recent
            .first()
            .is_some_and(|(timestamp, _)| start.is_some_and(|start| *timestamp < start))
        {
            self.recent.pop_first();
        }
        true
    }

    /// Where the next search of streams already read starts: a little before the newest event
    /// seen, but not before `since`.
    pub fn search_start(&self) -> Option<i64> {
        let again = self
            .newest
            .map(|newest| newest.saturating_sub(LOOKBACK_MILLIS));
        again.max(self.since)
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(timestamp: i64, id: &str) -> Found {
        Found {
            timestamp,
            event_id: id.into(),
            log_stream_name: "s".into(),
            message: id.into(),
        }
    }

    /// Runs a merge over pages given up front, as the network would give them.
    fn merged(mut pages: Vec<VecDeque<Vec<Found>>>) -> (Vec<String>, Vec<usize>) {
        let mut merge = Merge::new(pages.len());
        let (mut order, mut fetches) = (Vec::new(), Vec::new());
        loop {
            match merge.next() {
                Next::Event(_, event) => order.push(event.event_id),
                Next::Fetch(index) => {
                    fetches.push(index);
                    let page = pages[index].pop_front().unwrap_or_default();
                    let more = !pages[index].is_empty();
                    merge.fill(index, page, more);
                }
                Next::Done => return (order, fetches),
            }
        }
    }

    #[test]
    fn searches_interleave_by_timestamp_across_pages() {
        let (order, fetches) = merged(vec![
            VecDeque::from([vec![found(1, "a1"), found(4, "a4")], vec![found(9, "a9")]]),
            VecDeque::from([
                vec![found(2, "b2")],
                vec![],
                vec![found(4, "b4"), found(5, "b5")],
            ]),
            VecDeque::from([vec![]]),
        ]);
        assert_eq!(order, ["a1", "b2", "a4", "b4", "b5", "a9"]);
        // A page is read only once its search's turn needs it; an empty page with more
        // after it is read past.
        assert_eq!(fetches, [0, 1, 2, 1, 1, 0]);
    }

    #[test]
    fn nothing_to_read_is_done_at_once() {
        assert_eq!(merged(vec![]).0, Vec::<String>::new());
        assert_eq!(merged(vec![VecDeque::new()]).0, Vec::<String>::new());
    }

    #[test]
    fn each_event_is_shown_once_across_overlapping_searches() {
        let mut seen = Seen::default();
        assert_eq!(seen.search_start(), None);
        assert!(seen.first_time(10_000, "a"));
        assert!(seen.first_time(12_000, "b"));
        assert_eq!(seen.search_start(), Some(7_000));
        // The next search starts at 7 s and finds both again, and one that arrived late.
        assert!(!seen.first_time(10_000, "a"));
        assert!(seen.first_time(9_000, "late"));
        assert!(!seen.first_time(12_000, "b"));
        // The same timestamp with another id is another event.
        assert!(seen.first_time(12_000, "c"));
        assert!(!seen.first_time(12_000, "c"));
    }

    #[test]
    fn searches_never_start_before_since() {
        let mut seen = Seen::since(Some(8_000));
        assert_eq!(seen.search_start(), Some(8_000));
        assert!(seen.first_time(10_000, "a"));
        assert_eq!(seen.search_start(), Some(8_000));
        assert!(seen.first_time(20_000, "b"));
        assert_eq!(seen.search_start(), Some(15_000));
    }

    #[test]
    fn only_the_overlap_is_remembered() {
        let mut seen = Seen::default();
        for second in 0..100 {
            assert!(seen.first_time(second * 1000, &format!("e{second}")));
        }
        // 94.0 s to 99.0 s: the next search starts at 94 s, inclusive.
        assert_eq!(seen.remembered(), 6);
        assert_eq!(seen.search_start(), Some(94_000));
        assert!(!seen.first_time(94_000, "e94"));
        // An event older than the overlap, from a stream read for the first time, is shown
        // and not kept.
        assert!(seen.first_time(1_000, "first read of a new stream"));
        assert_eq!(seen.remembered(), 6);
    }
}
