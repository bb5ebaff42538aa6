//! TLS for HTTPS listeners: a rustls server configuration from a certificate chain and its
//! private key as PEM text, the way a user hands them to Berth, offering HTTP/2 and HTTP/1.1
//! by ALPN.

use crate::DataPlaneError;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::sync::Arc;

/// ALPN protocols in order of preference: a client that speaks HTTP/2 gets it.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A server configuration for one certificate: `cert_chain_pem` holds the server's certificate
/// first, then any intermediates; `private_key_pem` its key (PKCS#8, PKCS#1 or SEC1). Errors
/// say what is wrong with the PEM text, for an API caller to pass on to its user.
pub fn server_config(
    cert_chain_pem: &str,
    private_key_pem: &str,
) -> Result<Arc<ServerConfig>, DataPlaneError> {
    build(cert_chain_pem, private_key_pem, &ALPN)
}

/// The same for a server that speaks HTTP/1.1 only (Berth's API endpoint).
pub fn http1_server_config(
    cert_chain_pem: &str,
    private_key_pem: &str,
) -> Result<Arc<ServerConfig>, DataPlaneError> {
    build(cert_chain_pem, private_key_pem, &[b"http/1.1"])
}

fn build(
    cert_chain_pem: &str,
    private_key_pem: &str,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, DataPlaneError> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(DataPlaneError::MalformedCertificate)?;
    if chain.is_empty() {
        return Err(DataPlaneError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes()).map_err(|e| match e {
        pem::Error::NoItemsFound => DataPlaneError::NoPrivateKey,
        e => DataPlaneError::MalformedPrivateKey(e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(DataPlaneError::NoProtocolVersion)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                DataPlaneError::KeyMismatch(e)
            }
            rustls::Error::General(ref message) if message.contains("key") => {
                DataPlaneError::UnusableKey(e)
            }
            e => DataPlaneError::UnusableCertificate(e),
        })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> rcgen::CertifiedKey {
        rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap()
    }

    #[test]
    fn a_matching_chain_and_key_make_a_config_offering_h2() {
        let cert = self_signed();
        let config = server_config(&cert.cert.pem(), &cert.key_pair.serialize_pem()).unwrap();
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let http1 = http1_server_config(&cert.cert.pem(), &cert.key_pair.serialize_pem()).unwrap();
        assert_eq!(http1.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cert = self_signed();
        let other = self_signed();
        let key = cert.key_pair.serialize_pem();
        for (chain, key, expected) in [
            ("", key.as_str(), "no certificate in the PEM text"),
            (
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
                key.as_str(),
                "the certificate PEM text is malformed",
            ),
            (&cert.cert.pem(), "", "no private key in the PEM text"),
            (
                &cert.cert.pem(),
                &cert.cert.pem(),
                "no private key in the PEM text",
            ),
            (
                &cert.cert.pem(),
                &other.key_pair.serialize_pem(),
                "the private key does not match the certificate",
            ),
        ] {
            let error = server_config(chain, key).unwrap_err().to_string();
            assert!(
                error.starts_with(expected),
                "{error:?}, wanted {expected:?}"
            );
        }
    }

    #[test]
    fn errors_keep_what_caused_them() {
        let cert = self_signed();
        let other = self_signed();
        let mismatch =
            server_config(&cert.cert.pem(), &other.key_pair.serialize_pem()).unwrap_err();
        assert!(matches!(
            std::error::Error::source(&mismatch).and_then(|e| e.downcast_ref::<rustls::Error>()),
            Some(rustls::Error::InconsistentKeys(_))
        ));
        let malformed = server_config(
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            &cert.key_pair.serialize_pem(),
        )
        .unwrap_err();
        assert!(std::error::Error::source(&malformed)
            .is_some_and(|e| e.downcast_ref::<pem::Error>().is_some()));
    }
}
