//! The client idle timeout: a connection that moves no byte in either direction for the
//! listener's idle timeout is closed, unless one of its requests is waiting for a target.
//!
//! `IdleIo` wraps the accepted TCP stream, under TLS when there is TLS, so handshakes,
//! keep-alive pauses, HTTP/2 connections and upgraded tunnels all fall under one rule. The
//! timer is only looked at when a read or write would block, and only re-armed when it fires,
//! so a busy connection pays one clock read per I/O call.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What a connection's requests tell its idle timer.
#[derive(Default)]
pub(crate) struct Activity {
    waiting: AtomicUsize,
}

impl Activity {
    /// Marks a request as waiting on its target until the guard is dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> Busy {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    fn is_busy(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) > 0
    }
}

pub(crate) struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) struct IdleIo<T> {
    inner: T,
    timeout: Duration,
    activity: Arc<Activity>,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleIo<T> {
    pub(crate) fn new(inner: T, timeout: Duration, activity: Arc<Activity>) -> Self {
        let now = Instant::now();
        Self {
            inner,
            timeout,
            activity,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now + timeout)),
        }
    }

    /// Ready with an error once the connection has been idle for the whole timeout; until
    /// then the timer holds the task's waker so a blocked read or write is woken to fail.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        while self.timer.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            if self.activity.is_busy() {
                self.last = now;
            }
            let deadline = self.last + self.timeout;
            if deadline <= now {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client connection idle",
                ));
            }
            self.timer.as_mut().reset(deadline);
        }
        Poll::Pending
    }

    fn moved(&mut self) {
        self.last = Instant::now();
    }

    /// Passes on a finished I/O call (noting that bytes moved) or, for one that would block,
    /// whether the connection has now been idle too long.
    fn after<R>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<R>>,
        moved: impl FnOnce(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(result) => {
                if result.as_ref().is_ok_and(moved) {
                    self.moved();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                let error = ready!(self.poll_idle(cx));
                Poll::Ready(Err(error))
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len() > before;
        this.after(cx, poll, |_| read)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.after(cx, poll, |n| *n > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.after(cx, poll, |n| *n > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.after(cx, poll, |_| false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn an_idle_read_fails_after_the_timeout_and_traffic_resets_it() {
        let (near, mut far) = tokio::io::duplex(64);
        let activity = Arc::new(Activity::default());
        let mut io = IdleIo::new(near, Duration::from_secs(60), Arc::clone(&activity));
        tokio::time::advance(Duration::from_secs(59)).await;
        far.write_all(b"x").await.unwrap();
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await.unwrap();
        let started = Instant::now();
        let error = io.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(60),
            "counted from the last byte"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_waiting_for_its_target_is_not_idle() {
        let (near, _far) = tokio::io::duplex(64);
        let activity = Arc::new(Activity::default());
        let mut io = IdleIo::new(near, Duration::from_secs(60), Arc::clone(&activity));
        let busy = activity.busy();
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(300), io.read(&mut byte)).await;
        assert!(read.is_err(), "still open after 300 s of waiting: {read:?}");
        drop(busy);
        let started = Instant::now();
        assert!(io.read(&mut byte).await.is_err());
        assert!(started.elapsed() <= Duration::from_secs(60));
    }
}
