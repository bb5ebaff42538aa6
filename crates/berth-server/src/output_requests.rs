//! Readers waiting for container output that only an agent's machine keeps.
//!
//! The server cannot call an agent; it can only answer the agent's poll. So a reader (a
//! `berth logs` request) leaves an [`OutputRequest`] here for the instance that runs the
//! container and rings the instance's bell, which a held poll watches; the poll takes the
//! requests not yet sent into its answer, and the agent posts each page back, which
//! [`OutputRequests::answer`] hands to the reader still waiting for it.
//!
//! Kept in memory only, and bounded: at most [`MAX_PENDING_PER_INSTANCE`] requests wait per
//! instance, and each lives exactly as long as its [`Waiting`], which the reader drops when
//! it is answered, gives up, or goes away. Nothing here grows with the number of tasks.

use berth_model::agent::{OutputRequest, OutputResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{oneshot, watch};

/// How many requests may wait for one instance's agent at once.
pub const MAX_PENDING_PER_INSTANCE: usize = 32;

#[derive(Default)]
pub struct OutputRequests {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    instances: HashMap<String, Instance>,
}

struct Instance {
    pending: Vec<Pending>,
    /// Counts requests added; a held poll watches it.
    bell: watch::Sender<u64>,
}

impl Default for Instance {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            bell: watch::channel(0).0,
        }
    }
}

struct Pending {
    request: OutputRequest,
    sent: bool,
    reply: oneshot::Sender<OutputResult>,
}

/// The instance already has [`MAX_PENDING_PER_INSTANCE`] requests waiting.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl OutputRequests {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leaves the request `make` builds (given its id) for the agent of `instance`, and wakes
    /// its poll. The request is withdrawn when the returned [`Waiting`] is dropped.
    pub fn ask(
        self: &Arc<Self>,
        instance: &str,
        make: impl FnOnce(u64) -> OutputRequest,
    ) -> Result<Waiting, Busy> {
        let mut inner = self.inner();
        inner.next_id += 1;
        let id = inner.next_id;
        let queue = inner.instances.entry(instance.to_string()).or_default();
        if queue.pending.len() >= MAX_PENDING_PER_INSTANCE {
            return Err(Busy);
        }
        let (reply, answer) = oneshot::channel();
        queue.pending.push(Pending {
            request: make(id),
            sent: false,
            reply,
        });
        queue.bell.send_modify(|n| *n = n.wrapping_add(1));
        Ok(Waiting {
            requests: Arc::clone(self),
            instance: instance.to_string(),
            id,
            answer: Some(answer),
        })
    }

    /// A watch that changes whenever a request for `instance` is added. Watch it before
    /// [`OutputRequests::take`], so that none added in between is missed.
    pub fn bell(&self, instance: &str) -> watch::Receiver<u64> {
        self.inner()
            .instances
            .entry(instance.to_string())
            .or_default()
            .bell
            .subscribe()
    }

    /// The requests for `instance` not yet sent to its agent, now counted as sent.
    pub fn take(&self, instance: &str) -> Vec<OutputRequest> {
        let mut inner = self.inner();
        let Some(queue) = inner.instances.get_mut(instance) else {
            return Vec::new();
        };
        queue
            .pending
            .iter_mut()
            .filter(|pending| !pending.sent)
            .map(|pending| {
                pending.sent = true;
                pending.request.clone()
            })
            .collect()
    }

    /// Hands `result` to the reader waiting for request `id` of `instance`. False when no
    /// one waits for it any more (it gave up, or the id is not this instance's).
    pub fn answer(&self, instance: &str, id: u64, result: OutputResult) -> bool {
        let mut inner = self.inner();
        let Some(queue) = inner.instances.get_mut(instance) else {
            return false;
        };
        let Some(index) = queue
            .pending
            .iter()
            .position(|p| p.request.request_id == id)
        else {
            return false;
        };
        let pending = queue.pending.swap_remove(index);
        pending.reply.send(result).is_ok()
    }

    fn withdraw(&self, instance: &str, id: u64) {
        let mut inner = self.inner();
        if let Some(queue) = inner.instances.get_mut(instance) {
            queue.pending.retain(|p| p.request.request_id != id);
            if queue.pending.is_empty() && queue.bell.receiver_count() == 0 {
                inner.instances.remove(instance);
            }
        }
    }

    #[cfg(test)]
    fn pending(&self, instance: &str) -> usize {
        self.inner()
            .instances
            .get(instance)
            .map_or(0, |queue| queue.pending.len())
    }
}

/// A reader's request, waiting for the agent's answer; dropping it withdraws the request.
pub struct Waiting {
    requests: Arc<OutputRequests>,
    instance: String,
    id: u64,
    answer: Option<oneshot::Receiver<OutputResult>>,
}

impl Waiting {
    /// The agent's answer, once it comes.
    pub async fn answer(mut self) -> OutputResult {
        let answer = self
            .answer
            .take()
            .expect("a waiting request is answered once");
        match answer.await {
            Ok(result) => result,
            // The sender lives in the table until answered or withdrawn, and only `Drop`
            // withdraws it: it cannot go while this waits.
            Err(_) => OutputResult::Failed("the request was withdrawn".into()),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.requests.withdraw(&self.instance, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::agent::OutputPage;

    fn request(id: u64) -> OutputRequest {
        OutputRequest {
            request_id: id,
            task_id: "t".into(),
            container_name: "web".into(),
            runtime_id: "c1".into(),
            after: None,
            start_time: None,
        }
    }

    #[tokio::test]
    async fn a_request_reaches_its_instance_once_and_its_answer_reaches_the_reader() {
        let requests = Arc::new(OutputRequests::default());
        let bell = requests.bell("i-1");
        let waiting = requests.ask("i-1", request).unwrap();
        assert!(bell.has_changed().unwrap(), "the poll is woken");
        assert!(requests.take("i-2").is_empty());
        let taken = requests.take("i-1");
        assert_eq!(taken.len(), 1);
        assert!(requests.take("i-1").is_empty(), "sent once");
        let page = OutputResult::Page(OutputPage::default());
        assert!(!requests.answer("i-2", taken[0].request_id, page.clone()));
        assert!(requests.answer("i-1", taken[0].request_id, page.clone()));
        assert_eq!(waiting.answer().await, page);
        assert_eq!(requests.pending("i-1"), 0);
    }

    #[test]
    fn a_reader_that_gives_up_withdraws_its_request() {
        let requests = Arc::new(OutputRequests::default());
        let waiting = requests.ask("i-1", request).unwrap();
        let id = requests.take("i-1")[0].request_id;
        drop(waiting);
        assert_eq!(requests.pending("i-1"), 0);
        assert!(!requests.answer("i-1", id, OutputResult::Gone));
        assert!(
            requests.inner().instances.is_empty(),
            "nothing is kept for an instance no one waits on"
        );
    }

    #[test]
    fn requests_per_instance_are_bounded() {
        let requests = Arc::new(OutputRequests::default());
        let held: Vec<Waiting> = (0..MAX_PENDING_PER_INSTANCE)
            .map(|_| requests.ask("i-1", request).unwrap())
            .collect();
        assert_eq!(requests.ask("i-1", request).err(), Some(Busy));
        assert!(
            requests.ask("i-2", request).is_ok(),
            "other instances are not held up"
        );
        drop(held);
        assert!(requests.ask("i-1", request).is_ok());
    }
}
