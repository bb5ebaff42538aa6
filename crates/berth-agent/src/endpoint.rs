//! How the agent reaches its server: over plain TCP for `http://`, over TLS for `https://`,
//! trusting only the CA certificate it is given (secrets travel on this connection, so an
//! agent on another machine should use TLS).

use crate::AgentError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// A connection to the server, whichever way it was made.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// Why an endpoint cannot be used as given; the message says what to pass instead.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("server {0}: give an http:// or https:// URL, e.g. https://10.0.0.5:4566")]
    Scheme(String),
    #[error("server {0}: an https:// server needs --ca-file, the CA certificate (PEM) that signed its certificate")]
    NoCa(String),
    #[error("server {0}: --ca-file is for https:// servers only")]
    CaWithoutTls(String),
    #[error("CA file: {0}")]
    Ca(String),
}

#[derive(Clone)]
pub struct Endpoint {
    url: String,
    authority: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("url", &self.url).finish()
    }
}

impl Endpoint {
    /// The server at `url`; `ca_pem` is the CA certificate an `https://` server's
    /// certificate must chain to.
    pub fn new(url: &str, ca_pem: Option<&str>) -> Result<Endpoint, EndpointError> {
        let url = url.trim_end_matches('/').to_string();
        let (tls, authority) = match (url.split_once("://"), ca_pem) {
            (Some(("http", authority)), None) => (false, authority),
            (Some(("http", _)), Some(_)) => return Err(EndpointError::CaWithoutTls(url)),
            (Some(("https", authority)), Some(_)) => (true, authority),
            (Some(("https", _)), None) => return Err(EndpointError::NoCa(url)),
            _ => return Err(EndpointError::Scheme(url)),
        };
        let authority = authority.to_string();
        let tls = match ca_pem.filter(|_| tls) {
            Some(pem) => Some((connector(pem)?, server_name(&url, &authority)?)),
            None => None,
        };
        Ok(Endpoint {
            url,
            authority,
            tls,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host:port`, for the `host` header.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// A fresh connection, over TLS for an `https://` server.
    pub async fn connect(&self) -> Result<Box<dyn Connection>, AgentError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|source| AgentError::Unreachable {
                server: self.url.clone(),
                source,
            })?;
        match &self.tls {
            None => Ok(Box::new(stream)),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|source| AgentError::Tls {
                        server: self.url.clone(),
                        source,
                    })?;
                Ok(Box::new(stream))
            }
        }
    }
}

fn connector(ca_pem: &str) -> Result<TlsConnector, EndpointError> {
    let mut roots = rustls::RootCertStore::empty();
    let certificates = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EndpointError::Ca(format!("not PEM certificates: {e}")))?;
    if certificates.is_empty() {
        return Err(EndpointError::Ca("no certificate in the PEM text".into()));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|e| EndpointError::Ca(format!("not a usable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EndpointError::Ca(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the server's certificate must carry: the URL's host, a DNS name or an address.
fn server_name(url: &str, authority: &str) -> Result<ServerName<'static>, EndpointError> {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| EndpointError::Scheme(url.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> String {
        rcgen::generate_simple_self_signed(vec!["localhost".into()])
            .unwrap()
            .cert
            .pem()
    }

    #[test]
    fn a_url_and_a_ca_make_an_endpoint_or_say_what_is_missing() {
        let plain = Endpoint::new("http://10.0.0.5:4566/", None).unwrap();
        assert_eq!(
            (plain.url(), plain.authority()),
            ("http://10.0.0.5:4566", "10.0.0.5:4566")
        );
        assert!(plain.tls.is_none());
        let ca = ca();
        let tls = Endpoint::new("https://berth.internal:4566", Some(&ca)).unwrap();
        assert!(tls.tls.is_some());
        Endpoint::new("https://[::1]:4566", Some(&ca)).unwrap();
        for (url, ca, expected) in [
            ("https://10.0.0.5:4566", None, "needs --ca-file"),
            (
                "http://10.0.0.5:4566",
                Some(ca.as_str()),
                "for https:// servers only",
            ),
            ("10.0.0.5:4566", None, "give an http:// or https:// URL"),
            ("ftp://x", None, "give an http:// or https:// URL"),
            ("https://x:1", Some(""), "no certificate"),
            (
                "https://x:1",
                Some("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
                "CA file",
            ),
        ] {
            let error = Endpoint::new(url, ca).unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }
}
