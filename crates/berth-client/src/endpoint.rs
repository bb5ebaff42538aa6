//! How a program reaches the server: over plain TCP for `http://`, over TLS for `https://`,
//! trusting only the CA certificate it is given (secrets travel to agents, and access keys
//! sign requests, on this connection, so anything on another machine should use TLS).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

/// A connection to the server, whichever way it was made.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// Why an endpoint cannot be used as given; the message says what to pass instead, naming
/// the setting the CA comes from (`ca_setting` of [`Endpoint::new`]).
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "server {0}: give an http:// or https:// URL without a path, e.g. https://10.0.0.5:4566"
    )]
    Url(String),
    #[error("server {server}: an https:// server needs {ca_setting}, the CA certificate (PEM) that signed its certificate")]
    NoCa {
        server: String,
        ca_setting: &'static str,
    },
    #[error("server {server}: {ca_setting} is for https:// servers only")]
    CaWithoutTls {
        server: String,
        ca_setting: &'static str,
    },
    #[error("CA file: {0}")]
    Ca(String),
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server's address did not take a connection.
    #[error("server {server}: {source}")]
    Unreachable {
        server: String,
        source: std::io::Error,
    },
    /// The TLS handshake failed: most often a certificate the CA did not sign, or one that
    /// does not name the server's host.
    #[error("server {server}: TLS: {source} (is {ca_setting} the CA that signed the server's certificate, and does the certificate name this host?)")]
    Tls {
        server: String,
        ca_setting: &'static str,
        source: std::io::Error,
    },
}

#[derive(Clone)]
pub struct Endpoint {
    url: String,
    authority: String,
    /// `host:port`, with the scheme's port when the URL names none.
    address: String,
    ca_setting: &'static str,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("url", &self.url).finish()
    }
}

impl Endpoint {
    /// The server at `url`; `ca_pem` is the CA certificate an `https://` server's
    /// certificate must chain to, and `ca_setting` what the program's user sets it with
    /// (`--ca-file`, `AWS_CA_BUNDLE`), for errors to say what to set.
    pub fn new(
        url: &str,
        ca_pem: Option<&str>,
        ca_setting: &'static str,
    ) -> Result<Endpoint, EndpointError> {
        let url = url.trim_end_matches('/').to_string();
        let (tls, authority) = match (url.split_once("://"), ca_pem) {
            (Some(("http", authority)), None) => (false, authority),
            (Some(("http", _)), Some(_)) => {
                return Err(EndpointError::CaWithoutTls {
                    server: url,
                    ca_setting,
                })
            }
            (Some(("https", authority)), Some(_)) => (true, authority),
            (Some(("https", _)), None) => {
                return Err(EndpointError::NoCa {
                    server: url,
                    ca_setting,
                })
            }
            _ => return Err(EndpointError::Url(url)),
        };
        // The APIs are all answered at `/`; a path would be silently dropped.
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(EndpointError::Url(url));
        }
        let authority = authority.to_string();
        let address = match port_of(&authority) {
            Some(_) => authority.clone(),
            None if tls => format!("{authority}:443"),
            None => format!("{authority}:80"),
        };
        let tls = match ca_pem.filter(|_| tls) {
            Some(pem) => Some((connector(pem)?, server_name(&url, &authority)?)),
            None => None,
        };
        Ok(Endpoint {
            url,
            authority,
            address,
            ca_setting,
            tls,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `host[:port]` as the URL spells it, for the `host` header (what SigV4 signs).
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// A fresh connection, over TLS for an `https://` server.
    pub async fn connect(&self) -> Result<Box<dyn Connection>, ConnectError> {
        let stream = tokio::net::TcpStream::connect(&self.address)
            .await
            .map_err(|source| ConnectError::Unreachable {
                server: self.url.clone(),
                source,
            })?;
        // Requests are small and sent whole; Nagle would only add delay.
        stream
            .set_nodelay(true)
            .map_err(|source| ConnectError::Unreachable {
                server: self.url.clone(),
                source,
            })?;
        match &self.tls {
            None => Ok(Box::new(stream)),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|source| ConnectError::Tls {
                        server: self.url.clone(),
                        ca_setting: self.ca_setting,
                        source,
                    })?;
                Ok(Box::new(stream))
            }
        }
    }
}

/// The port an authority names, if any (`[::1]:4566` has one, `[::1]` has none).
fn port_of(authority: &str) -> Option<&str> {
    let (host, port) = authority.rsplit_once(':')?;
    let bracketed_or_plain = host.ends_with(']') || !host.contains(':');
    (bracketed_or_plain && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
        .then_some(port)
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
    let host = match port_of(authority) {
        Some(port) => &authority[..authority.len() - port.len() - 1],
        None => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| EndpointError::Url(url.to_string()))
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
        let plain = Endpoint::new("http://10.0.0.5:4566/", None, "--ca-file").unwrap();
        assert_eq!(
            (plain.url(), plain.authority(), plain.address.as_str()),
            ("http://10.0.0.5:4566", "10.0.0.5:4566", "10.0.0.5:4566")
        );
        assert!(plain.tls.is_none());
        let ca = ca();
        let tls = Endpoint::new("https://berth.internal:4566", Some(&ca), "--ca-file").unwrap();
        assert!(tls.tls.is_some());
        Endpoint::new("https://[::1]:4566", Some(&ca), "--ca-file").unwrap();
        for (url, ca, expected) in [
            ("https://10.0.0.5:4566", None, "needs --ca-file"),
            (
                "http://10.0.0.5:4566",
                Some(ca.as_str()),
                "--ca-file is for https:// servers only",
            ),
            ("10.0.0.5:4566", None, "give an http:// or https:// URL"),
            ("ftp://x", None, "give an http:// or https:// URL"),
            ("http://x:1/ecs", None, "without a path"),
            ("http://x:1?a=b", None, "without a path"),
            ("http://", None, "without a path"),
            ("https://x:1", Some(""), "no certificate"),
            (
                "https://x:1",
                Some("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"),
                "CA file",
            ),
        ] {
            let error = Endpoint::new(url, ca, "--ca-file").unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
        }
        let bundle = Endpoint::new("https://x:1", None, "AWS_CA_BUNDLE").unwrap_err();
        assert!(
            bundle.to_string().contains("needs AWS_CA_BUNDLE"),
            "{bundle}"
        );
    }

    #[test]
    fn a_url_without_a_port_connects_to_its_schemes_port() {
        let plain = Endpoint::new("http://localhost", None, "--ca-file").unwrap();
        assert_eq!(
            (plain.authority(), plain.address.as_str()),
            ("localhost", "localhost:80")
        );
        let ca = ca();
        let tls = Endpoint::new("https://[::1]", Some(&ca), "--ca-file").unwrap();
        assert_eq!(
            (tls.authority(), tls.address.as_str()),
            ("[::1]", "[::1]:443")
        );
        assert_eq!(port_of("[::1]:4566"), Some("4566"));
        assert_eq!(port_of("::1"), None);
        assert_eq!(port_of("host:"), None);
    }
}
