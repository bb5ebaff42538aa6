//! The writer: write requests wait here, and one writer (a blocking thread while there is
//! work) takes the waiting writes, runs their handlers one after another in one
//! [`Store::batch`](berth_store::Store::batch), and answers them all once that batch is
//! committed. Each write still gets its 200 only after it is durable, but the fsync is
//! shared, and the handlers run without the lock hand-offs and thread wake-ups of one
//! blocking thread per request. Writes that arrive meanwhile wait for the next batch; the
//! batch's writes are published ([`crate::wake::Wakes`]) once committed, and also when the
//! commit failed (the index of tasks then reads again what a handler of the batch saw).
//!
//! The handlers of a batch run one at a time inside its open transaction, so one slow write
//! handler (one that reads a long history) delays the others in its batch.

use crate::call::{Caller, Context};
use crate::registry::{Output, Prepared};
use berth_aws::AwsError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The most writes answered with one commit.
const MAX_BATCH: usize = 256;
/// A batch takes no further writes once its handlers have run this long, so that a write
/// waits for at most about this much of others' work before its commit.
const MAX_BATCH_TIME: Duration = Duration::from_millis(5);

/// A decoded, authenticated write waiting for the writer.
pub(super) struct Write {
    /// Taken when it runs.
    pub prepared: Option<Prepared>,
    pub caller: Caller,
    pub now: f64,
    pub reply: tokio::sync::oneshot::Sender<Result<Output, AwsError>>,
}

/// Write requests waiting to be run, and whether a writer is running them.
pub(super) struct WriteQueue {
    cx: Arc<Context>,
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    waiting: Vec<Write>,
    running: bool,
}

impl WriteQueue {
    pub(super) fn new(cx: Arc<Context>) -> Self {
        Self {
            cx,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a write; its answer comes on its reply channel once it is committed.
    pub(super) fn submit(self: &Arc<Self>, write: Write) {
        let start = {
            let mut state = self.lock();
            state.waiting.push(write);
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            let queue = Arc::clone(self);
            tokio::task::spawn_blocking(move || run_writes(&queue));
        }
    }
}

fn failed(message: &str) -> AwsError {
    AwsError::with_status("InternalFailure", message, 500)
}

/// Runs batches until no write is waiting.
fn run_writes(queue: &WriteQueue) {
    let cx = &queue.cx;
    // Should the writer itself panic, the next write starts another, and the writes it held
    // are answered (as failed) when dropped.
    struct OnPanic<'q>(&'q WriteQueue);
    impl Drop for OnPanic<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.lock().running = false;
            }
        }
    }
    let _on_panic = OnPanic(queue);
    loop {
        let mut writes: Vec<Write> = {
            let mut state = queue.lock();
            if state.waiting.is_empty() {
                state.running = false;
                return;
            }
            let take = state.waiting.len().min(MAX_BATCH);
            state.waiting.drain(..take).collect()
        };
        let changes = cx.publishing();
        let mut answers = Vec::with_capacity(writes.len());
        let started = Instant::now();
        let committed = cx.store().batch(&mut || {
            for write in &mut writes {
                if !answers.is_empty() && started.elapsed() > MAX_BATCH_TIME {
                    break;
                }
                let answer = match write.prepared.take() {
                    Some(prepared) => cx.call(&write.caller, write.now, &changes, |call| {
                        catch_unwind(AssertUnwindSafe(|| prepared(call)))
                            .unwrap_or_else(|_| Err(failed("request handler failed")))
                    }),
                    None => Err(failed("a write was queued twice")),
                };
                answers.push(answer);
            }
        });
        // What the batch had no time for goes first into the next one.
        let later = writes.split_off(answers.len());
        if !later.is_empty() {
            let mut state = queue.lock();
            let arrived = std::mem::replace(&mut state.waiting, later);
            state.waiting.extend(arrived);
        }
        // Published also when the commit failed: readers within the batch may have brought
        // what it wrote into the index of tasks, which then reads those tasks again.
        drop(changes);
        if let Err(e) = &committed {
            tracing::error!(error = %e, "a batch of writes failed to commit");
        }
        for (write, answer) in writes.into_iter().zip(answers) {
            // Nothing the batch wrote is kept, whatever its handlers answered.
            let answer = match &committed {
                Ok(()) => answer,
                Err(e) => Err(failed(&format!("internal store failure: {e}"))),
            };
            let _ = write.reply.send(answer);
        }
    }
}
