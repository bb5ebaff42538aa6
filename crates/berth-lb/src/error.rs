//! The data plane's one error type. Its messages are for the person who handed Berth the
//! certificate or chose the port, or who reads why a target failed, so each says what is
//! wrong in their terms; the error it came from stays reachable as its source, for logs that
//! want the whole chain.

use rustls::pki_types::pem;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    #[error("no certificate in the PEM text")]
    NoCertificate,
    #[error("the certificate PEM text is malformed: {}", describe_pem(.0))]
    MalformedCertificate(#[source] pem::Error),
    #[error("no private key in the PEM text")]
    NoPrivateKey,
    #[error("the private key PEM text is malformed: {}", describe_pem(.0))]
    MalformedPrivateKey(#[source] pem::Error),
    #[error("the private key does not match the certificate")]
    KeyMismatch(#[source] rustls::Error),
    #[error("the private key is not usable: {}", describe_tls(.0))]
    UnusableKey(#[source] rustls::Error),
    #[error("the certificate is not usable: {}", describe_tls(.0))]
    UnusableCertificate(#[source] rustls::Error),
    #[error("no usable TLS protocol version: {0}")]
    NoProtocolVersion(#[source] rustls::Error),
    /// A request's target refused the connection or was unreachable; answered 502.
    #[error("connecting to the target: {0}")]
    TargetConnect(#[source] std::io::Error),
    /// A request's target broke HTTP or the connection; answered 502.
    #[error("target connection: {0}")]
    Target(#[source] hyper::Error),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("starting proxy thread {thread}: {source}")]
    ProxyThread {
        thread: String,
        source: std::io::Error,
    },
}

/// The PEM parser's errors, with the offending marker or line as text rather than bytes.
fn describe_pem(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("missing {:?}", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("bad BEGIN line {:?}", String::from_utf8_lossy(line))
        }
        e => e.to_string(),
    }
}

/// rustls's errors without the "unexpected error" it puts before the ones it has no kind
/// for, such as a key it cannot parse: that is the usual case here, not an unexpected one.
fn describe_tls(error: &rustls::Error) -> String {
    match error {
        rustls::Error::General(message) => message.clone(),
        e => e.to_string(),
    }
}
