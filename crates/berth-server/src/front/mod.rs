//! The HTTP front: accepts connections, answers the agent protocol (`agents`) and every AWS
//! API in the [`Registry`] (`aws`): route, read the body, check the signature, decode the
//! typed request, then run it. Reads run on the runtime worker that read the request (or on
//! the blocking pool when their cost is unbounded); writes go to a writer that commits them
//! in batches (`writer`). Only this module touches sockets; everything it calls is tested
//! without one.

mod agents;
mod aws;
mod shared;
mod writer;

pub use shared::Front;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, front: Arc<Front>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Running out of file descriptors must not end the server; wait and retry.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let front = Arc::clone(&front);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let front = Arc::clone(&front);
                async move { Ok::<_, std::convert::Infallible>(answer(&front, request).await) }
            });
            // Half-closes are allowed: a client that shuts down its sending side after a
            // request still gets the answer. It also keeps hyper from probing the socket for
            // an early EOF while each request is answered, a read that costs a system call
            // and, since the request still borrows the read buffer, a fresh buffer per request.
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .half_close(true)
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn answer(front: &Arc<Front>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.uri().path().starts_with(agents::PREFIX) {
        agents::answer(front, request).await
    } else {
        aws::answer(front, request).await
    }
}
