//! Lines into log events, as the `awslogs` driver makes them: each line an event, or, with a
//! multi-line pattern, a line that matches starts an event and the lines after it that do not
//! belong to it, so a stack trace is one event. A pending event is let go when the next one
//! starts, when it has waited [`IDLE_FLUSH`] for more, or when it reaches CloudWatch's largest
//! event. Pure: the caller says what time it is.
//!
//! A line longer than CloudWatch's largest event is cut to fit, and says how much was cut:
//! an event is shipped with the position of its last line, and the parts of one line would
//! have no positions of their own to be told apart by when they are sent again.

use regex::Regex;
use std::time::Duration;

/// How long a multi-line event waits for another line before it is shipped. Docker's awslogs
/// driver waits for its next 5-second batch; a second is enough to join a stack trace that
/// is written at once, and keeps `aws logs tail` close behind.
pub const IDLE_FLUSH: Duration = Duration::from_secs(1);

/// CloudWatch's largest event: 256 KiB including 26 bytes of overhead.
pub const MAX_EVENT_BYTES: usize = 256 * 1024 - 26;

/// A line as the joiner takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub position: u64,
    /// Epoch milliseconds.
    pub timestamp: i64,
    pub text: String,
}

/// An event ready to ship: the first line's time, the last line's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub position: u64,
    pub timestamp: i64,
    pub message: String,
}

pub struct Joiner {
    starts: Option<Regex>,
    pending: Option<Event>,
    /// When the pending event last grew, in the caller's clock.
    touched: Duration,
}

impl Joiner {
    /// A joiner making one event per line, or per group of lines each starting with a match
    /// of `starts`.
    pub fn new(starts: Option<Regex>) -> Joiner {
        Joiner {
            starts,
            pending: None,
            touched: Duration::ZERO,
        }
    }

    /// Takes a line read at `now`; returns the events it completes.
    pub fn push(&mut self, line: Line, now: Duration) -> Vec<Event> {
        let mut done = Vec::new();
        let Some(starts) = &self.starts else {
            // CloudWatch takes no empty event, and Docker's driver sends none.
            if !line.text.is_empty() {
                done.push(Event {
                    position: line.position,
                    timestamp: line.timestamp,
                    message: fitted(line.text, MAX_EVENT_BYTES),
                });
            }
            return done;
        };
        let begins = starts.is_match(&line.text);
        match self.pending.as_mut() {
            Some(pending)
                if !begins && pending.message.len() + 1 + line.text.len() <= MAX_EVENT_BYTES =>
            {
                pending.message.push('\n');
                pending.message.push_str(&line.text);
                pending.position = line.position;
            }
            _ => {
                done.extend(self.pending.take());
                self.pending = Some(Event {
                    position: line.position,
                    timestamp: line.timestamp,
                    message: fitted(line.text, MAX_EVENT_BYTES),
                });
            }
        }
        self.touched = now;
        done
    }

    /// The pending event, once it has waited long enough at `now`.
    pub fn flush_idle(&mut self, now: Duration) -> Option<Event> {
        if now.saturating_sub(self.touched) >= IDLE_FLUSH {
            self.pending.take()
        } else {
            None
        }
    }

    /// The pending event, when no line will follow.
    pub fn finish(&mut self) -> Option<Event> {
        self.pending.take()
    }

    /// Whether an event waits for more lines.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }
}

/// The line, cut on a character boundary to fit in `limit` bytes, with a note of what was
/// cut.
pub(crate) fn fitted(mut text: String, limit: usize) -> String {
    if text.len() <= limit {
        return text;
    }
    let dropped = text.len();
    let mut cut = limit.saturating_sub(64);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    let note = format!(" [berth: line cut at {cut} of {dropped} bytes]");
    text.push_str(&note);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(position: u64, text: &str) -> Line {
        Line {
            position,
            timestamp: 1_000 + position as i64,
            text: text.into(),
        }
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn each_line_is_an_event_and_empty_lines_are_not() {
        let mut joiner = Joiner::new(None);
        let events = joiner.push(line(1, "hello"), at(0));
        assert_eq!(
            events,
            [Event {
                position: 1,
                timestamp: 1_001,
                message: "hello".into()
            }]
        );
        assert!(joiner.push(line(2, ""), at(0)).is_empty());
        assert!(!joiner.is_pending());
    }

    #[test]
    fn a_stack_trace_is_one_event() {
        let starts = Regex::new(r"^\d{4}-\d{2}-\d{2}").unwrap();
        let mut joiner = Joiner::new(Some(starts));
        assert!(joiner
            .push(line(1, "2026-12-04 ERROR boom"), at(0))
            .is_empty());
        assert!(joiner.push(line(2, "  at app.rb:10"), at(10)).is_empty());
        assert!(joiner.push(line(3, ""), at(20)).is_empty());
        assert!(joiner.push(line(4, "  at app.rb:20"), at(30)).is_empty());
        let done = joiner.push(line(5, "2026-12-04 INFO next"), at(40));
        assert_eq!(
            done,
            [Event {
                position: 4,
                timestamp: 1_001,
                message: "2026-12-04 ERROR boom\n  at app.rb:10\n\n  at app.rb:20".into()
            }]
        );
        assert_eq!(joiner.flush_idle(at(500)), None, "still within the wait");
        let idle = joiner.flush_idle(at(1_040)).unwrap();
        assert_eq!(
            (idle.position, idle.message.as_str()),
            (5, "2026-12-04 INFO next")
        );
        assert_eq!(joiner.finish(), None);
    }

    #[test]
    fn lines_before_the_first_start_are_an_event_of_their_own() {
        let mut joiner = Joiner::new(Some(Regex::new("^START").unwrap()));
        assert!(joiner.push(line(1, "preamble"), at(0)).is_empty());
        assert!(joiner.push(line(2, "more"), at(0)).is_empty());
        let done = joiner.push(line(3, "START"), at(0));
        assert_eq!(done[0].message, "preamble\nmore");
        assert_eq!(joiner.finish().unwrap().message, "START");
    }

    #[test]
    fn events_never_exceed_cloudwatchs_limit() {
        let long = "é".repeat(MAX_EVENT_BYTES);
        let events = Joiner::new(None).push(line(7, &long), at(0));
        assert_eq!(events.len(), 1);
        assert!(events[0].message.len() <= MAX_EVENT_BYTES);
        assert!(events[0].message.starts_with("éé"));
        assert!(events[0]
            .message
            .ends_with(&format!("of {} bytes]", long.len())));
        assert_eq!(events[0].position, 7);

        let mut joiner = Joiner::new(Some(Regex::new("^S").unwrap()));
        joiner.push(line(1, "S"), at(0));
        let big = "x".repeat(MAX_EVENT_BYTES - 1);
        let done = joiner.push(line(2, &big), at(0));
        assert_eq!(
            done.len(),
            1,
            "a line that would overflow the event starts another"
        );
        assert_eq!(done[0].message, "S");
        assert_eq!(joiner.finish().unwrap().message, big);
    }
}
