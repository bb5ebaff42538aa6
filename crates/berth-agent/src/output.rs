//! Pages of a container's output for a reader on the server: what `berth logs` shows of a
//! container without `awslogs`, which only this machine keeps. The server asks in a poll's
//! answer ([`OutputRequest`]); the agent reads one page with [`page`] from the runtime's
//! output, with the runtime's positions, and posts it to `POST /agent/v1/output`.
//!
//! The runtime's output follows a running container without end, so a page ends at
//! [`OUTPUT_PAGE_BYTES`] (`more`: ask again at once), when the output ends (the container
//! exited and all is read), or once no line has come for a moment ([`QUIET`]): the reader has
//! caught up, and a follower asks again later from the page's position.

use crate::node::call;
use berth_client::endpoint::Endpoint;
use berth_model::agent::{
    KeptLine, OutputAnswer, OutputPage, OutputRequest, OutputResult, OUTPUT_PAGE_BYTES,
};
use berth_runtime::{OutputLines, OutputStream, Runtime, RuntimeError};
use futures_util::StreamExt;
use std::time::Duration;

/// How long a page waits for the first line: the runtime opens the output and reads past
/// what was read before first (and the readers of files look for more every 50 ms).
pub const FIRST_LINE: Duration = Duration::from_secs(1);
/// How long a page waits for the next line before it counts as caught up.
pub const QUIET: Duration = Duration::from_millis(200);
/// What a line costs a page beyond its text: its position, time and JSON.
const LINE_OVERHEAD: usize = 64;
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads one page of `lines`, a runtime's output from just after `after`: lines written
/// before `start_time` (epoch milliseconds) are passed over, counting only toward the page's
/// position. A container the runtime no longer has is [`OutputResult::Gone`].
pub async fn page(
    mut lines: OutputLines,
    after: Option<u64>,
    start_time: Option<i64>,
    cap: usize,
) -> OutputResult {
    let mut page = OutputPage {
        after,
        ..OutputPage::default()
    };
    let mut bytes = 0;
    let mut wait = FIRST_LINE;
    loop {
        let next = match tokio::time::timeout(wait, lines.next()).await {
            Ok(Some(next)) => next,
            Ok(None) | Err(_) => return OutputResult::Page(page),
        };
        wait = QUIET;
        match next {
            Ok(line) => {
                page.after = Some(line.position);
                let timestamp = line.written_at_nanos.div_euclid(1_000_000);
                if start_time.is_some_and(|start| timestamp < start) {
                    continue;
                }
                bytes += line.text.len().min(cap) + LINE_OVERHEAD;
                page.lines.push(KeptLine {
                    position: line.position,
                    timestamp,
                    stderr: line.stream == OutputStream::Stderr,
                    // Docker joins a long line whole: cut, so that no line alone passes the cap.
                    text: crate::capture::joiner::fitted(line.text, cap),
                });
                if bytes >= cap {
                    page.more = true;
                    return OutputResult::Page(page);
                }
            }
            // What was read is answered; the next page meets the error again.
            Err(_) if page.after != after => return OutputResult::Page(page),
            Err(RuntimeError::NotFound(_)) => return OutputResult::Gone,
            Err(e) => return OutputResult::Failed(e.to_string()),
        }
    }
}

/// Reads the page `request` asks for and posts it to the server as `instance_arn`.
pub async fn answer<R: Runtime>(
    runtime: &R,
    server: &Endpoint,
    instance_arn: String,
    agent_key: &str,
    request: OutputRequest,
) {
    let lines = runtime.output(&request.runtime_id, request.after);
    let result = page(lines, request.after, request.start_time, OUTPUT_PAGE_BYTES).await;
    let answer = OutputAnswer {
        container_instance_arn: instance_arn,
        request_id: request.request_id,
        result,
    };
    let posted: Result<serde_json::Value, _> =
        call(server, "/agent/v1/output", agent_key, &answer, POST_TIMEOUT).await;
    if let Err(e) = posted {
        // The reader gets the server's timeout, which says where the output is.
        tracing::warn!(task = %request.task_id, container = %request.container_name, error = %e, "output page not delivered");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::OutputLine;
    use futures_util::stream;

    fn line(position: u64, millis: i64, text: &str) -> Result<OutputLine, RuntimeError> {
        Ok(OutputLine {
            position,
            written_at_nanos: millis * 1_000_000,
            stream: if position.is_multiple_of(2) {
                OutputStream::Stderr
            } else {
                OutputStream::Stdout
            },
            text: text.into(),
        })
    }

    /// `items`, then nothing more for as long as anyone waits: a running container.
    fn running(items: Vec<Result<OutputLine, RuntimeError>>) -> OutputLines {
        stream::iter(items).chain(stream::pending()).boxed()
    }

    fn lines(result: &OutputResult) -> Vec<(u64, &str)> {
        match result {
            OutputResult::Page(page) => page
                .lines
                .iter()
                .map(|l| (l.position, l.text.as_str()))
                .collect(),
            other => panic!("not a page: {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_page_ends_once_the_reader_caught_up_with_a_running_container() {
        let result = page(
            running(vec![line(10, 1, "a"), line(11, 2, "b")]),
            Some(9),
            None,
            OUTPUT_PAGE_BYTES,
        )
        .await;
        assert_eq!(lines(&result), [(10, "a"), (11, "b")]);
        let OutputResult::Page(page) = result else {
            unreachable!()
        };
        assert_eq!((page.after, page.more), (Some(11), false));
        assert!(page.lines[1].stderr ^ page.lines[0].stderr);
        assert_eq!(page.lines[0].timestamp, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_new_keeps_the_position_asked_from() {
        let result = page(running(vec![]), Some(42), None, OUTPUT_PAGE_BYTES).await;
        assert_eq!(
            result,
            OutputResult::Page(OutputPage {
                lines: vec![],
                after: Some(42),
                more: false
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_page_stops_at_its_size_and_says_there_is_more() {
        let text = "x".repeat(100);
        let many: Vec<_> = (1..=50).map(|i| line(i, i as i64, &text)).collect();
        let OutputResult::Page(page) = page(running(many), None, None, 1_000).await else {
            panic!("not a page")
        };
        // 164 bytes a line: the seventh reaches 1,000.
        assert_eq!(page.lines.len(), 7);
        assert_eq!((page.after, page.more), (Some(7), true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_line_longer_than_a_page_is_cut_to_fit_one() {
        let long = "y".repeat(5_000);
        let OutputResult::Page(page) = page(
            running(vec![line(1, 1, &long), line(2, 2, "z")]),
            None,
            None,
            1_000,
        )
        .await
        else {
            panic!("not a page")
        };
        assert_eq!(page.lines.len(), 1);
        assert!(page.lines[0].text.len() <= 1_000);
        assert!(page.lines[0]
            .text
            .ends_with("[berth: line cut at 936 of 5000 bytes]"));
        assert_eq!((page.after, page.more), (Some(1), true));
    }

    #[tokio::test(start_paused = true)]
    async fn lines_before_the_start_time_move_the_position_only() {
        let result = page(
            stream::iter(vec![line(1, 1_000, "old"), line(2, 5_000, "new")]).boxed(),
            None,
            Some(2_000),
            OUTPUT_PAGE_BYTES,
        )
        .await;
        assert_eq!(lines(&result), [(2, "new")]);
        let only_old = page(
            stream::iter(vec![line(1, 1_000, "old")]).boxed(),
            None,
            Some(2_000),
            OUTPUT_PAGE_BYTES,
        )
        .await;
        let OutputResult::Page(page) = only_old else {
            panic!("not a page")
        };
        assert_eq!((page.lines.len(), page.after), (0, Some(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_container_gone_or_unreadable_says_so_unless_lines_came_first() {
        let gone = stream::iter(vec![Err(RuntimeError::NotFound("c1".into()))]).boxed();
        assert_eq!(
            page(gone, None, None, OUTPUT_PAGE_BYTES).await,
            OutputResult::Gone
        );
        let broken = stream::iter(vec![Err(RuntimeError::Unsupported("x".into()))]).boxed();
        assert_eq!(
            page(broken, None, None, OUTPUT_PAGE_BYTES).await,
            OutputResult::Failed("unsupported by this runtime: x".into())
        );
        let read_first = stream::iter(vec![
            line(1, 1, "a"),
            Err(RuntimeError::NotFound("c1".into())),
        ])
        .boxed();
        assert_eq!(
            lines(&page(read_first, None, None, OUTPUT_PAGE_BYTES).await),
            [(1, "a")]
        );
    }
}
