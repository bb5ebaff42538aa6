//! What the front answers with: a body sent whole, or an event stream sent as its messages
//! come (chunked) until its sender is dropped.

use bytes::Bytes;
use http_body_util::{Either, Full};

/// An answer's body: whole, or an event stream.
pub(super) type Body = Either<Full<Bytes>, Events>;

/// The messages of an event stream as a body. Dropping the body (the client went away)
/// closes the channel, which tells the sender to stop.
pub(super) struct Events(pub(super) tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for Events {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|message| message.map(|bytes| Ok(hyper::body::Frame::data(bytes))))
    }
}
