//! Certificates for HTTPS listeners, imported from PEM files with `berth certs import` and
//! named by ACM-style ARNs (`arn:aws:acm:REGION:ACCOUNT:certificate/UUID`), which
//! CreateListener's `Certificates` member refers to.

use super::common::Error;
use super::resources::StoredCertificate;
use crate::call::Call;
use berth_store::Collection;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// `…:certificate/UUID` → UUID, the key certificates are stored under.
fn certificate_id(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:aws:acm:")?
        .split_once(":certificate/")
        .map(|(_, id)| id)
}

/// The imported certificate an ARN names, if any.
pub fn find(call: &Call<'_>, arn: &str) -> Result<Option<StoredCertificate>, Error> {
    let Some(id) = certificate_id(arn) else {
        return Ok(None);
    };
    Ok(call
        .get::<StoredCertificate>(Collection::Certificates, id)?
        .filter(|c| c.certificate_arn == arn))
}

/// Checks that `certificate` (and `chain`, if given) hold PEM certificates and `private_key`
/// a PEM private key. The messages name the file's role.
pub fn check_pem(certificate: &str, private_key: &str, chain: Option<&str>) -> Result<(), String> {
    let certificates = |role: &str, text: &str| -> Result<(), String> {
        let parsed: Vec<CertificateDer<'_>> = CertificateDer::pem_slice_iter(text.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("the {role} is not valid PEM: {e}"))?;
        if parsed.is_empty() {
            return Err(format!(
                "the {role} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            ));
        }
        Ok(())
    };
    certificates("certificate", certificate)?;
    if let Some(chain) = chain {
        certificates("certificate chain", chain)?;
    }
    PrivateKeyDer::from_pem_slice(private_key.as_bytes()).map_err(|e| {
        format!("the private key holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}")
    })?;
    Ok(())
}

/// Stores a certificate after checking its PEM text. Returns its ARN.
pub fn import(
    call: &Call<'_>,
    certificate: &str,
    private_key: &str,
    chain: Option<&str>,
) -> Result<String, Error> {
    check_pem(certificate, private_key, chain).map_err(Error::validation)?;
    let id = call.ids().uuid();
    let arns = call.arns();
    let stored = StoredCertificate {
        certificate_arn: format!(
            "arn:aws:acm:{}:{}:certificate/{id}",
            arns.region, arns.account
        ),
        certificate: certificate.to_string(),
        private_key: private_key.to_string(),
        certificate_chain: chain.map(str::to_string),
        imported_at: call.now(),
    };
    call.insert(Collection::Certificates, &id, "", &stored)?;
    Ok(stored.certificate_arn)
}

/// Every imported certificate, oldest first.
pub fn list(call: &Call<'_>) -> Result<Vec<StoredCertificate>, Error> {
    let mut all: Vec<StoredCertificate> = call.list(Collection::Certificates, None)?;
    all.sort_by(|a, b| a.imported_at.total_cmp(&b.imported_at));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A self-signed P-256 certificate for localhost and its key, made for these tests only.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIUaZymLTC83JEaos/Noq/yXFLyI1YwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MB4XDTI2MTEyMjAyNDA0NFoXDTM2MTExOTAy
NDA0NFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEzFIMuLcO5yKruLUupWiVvwHHXzs0VfFAR2ckKFqx3Hdr8JjJCRiqr9QI
wpUTdswrQX3kq/MNEKm61bPzNMOcmqNTMFEwHQYDVR0OBBYEFHX4Lq2rwFqq8+5O
A1e375/nqg08MB8GA1UdIwQYMBaAFHX4Lq2rwFqq8+5OA1e375/nqg08MA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgYFk5AFhtPfZI9iIBrBL62dIv
YODuo5GPJw60MSDg3xoCIQC26qvbX6K6dSGRGrAyPja6MGg+qyqcGhWfAARcCt6M
7w==
-----END CERTIFICATE-----
";
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/I+gXkj+kDdRR7i/
PKGpGnBhsf8ZGAnwBiY5wWJtzVOhRANCAATMUgy4tw7nIqu4tS6laJW/AcdfOzRV
8UBHZyQoWrHcd2vwmMkJGKqv1AjClRN2zCtBfeSr8w0QqbrVs/M0w5ya
-----END PRIVATE KEY-----
";

    #[test]
    fn certificate_arns_carry_the_id() {
        assert_eq!(
            certificate_id("arn:aws:acm:us-east-1:000000000000:certificate/abc"),
            Some("abc")
        );
        assert_eq!(
            certificate_id("arn:aws:iam::000000000000:server-certificate/x"),
            None
        );
    }

    #[test]
    fn pem_checks_name_what_is_wrong() {
        assert_eq!(check_pem(CERT, KEY, Some(CERT)), Ok(()));
        let missing_key = check_pem(CERT, "not a key", None).unwrap_err();
        assert!(missing_key.contains("private key"), "{missing_key}");
        let no_cert = check_pem("hello", "x", None).unwrap_err();
        assert!(no_cert.contains("certificate"), "{no_cert}");
        let bad_chain = check_pem(CERT, KEY, Some("nothing")).unwrap_err();
        assert!(bad_chain.contains("chain"), "{bad_chain}");
    }
}
