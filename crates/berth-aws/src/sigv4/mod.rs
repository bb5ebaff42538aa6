//! AWS Signature Version 4: verification of incoming requests (server side)
//! and signing of outgoing ones (our benchmark and tests).
//!
//! The canonical form follows what botocore, and so the `aws` CLI and boto3,
//! produces for non-S3 services. Failures mirror what AWS's JSON-protocol
//! services answer: the same `__type`s, the same order of checks and, where
//! AWS has a fixed wording, the same message text, so clients report our
//! errors exactly as they report AWS's.
//!
//! Everything here is a pure function of its arguments: the caller supplies
//! the clock and the secret lookup.

use berth_time::{civil_from_days, days_from_civil};
use hmac::{Hmac, Mac};
use percent_encoding::{
    percent_decode_str, percent_encode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC,
};
use sha2::{Digest, Sha256};
use std::borrow::Cow;

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
/// How far a request's timestamp may be from the server clock, either way.
/// The expiry messages spell this out as "5 min." to match AWS's text.
const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// SigV4 escapes everything except RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Paths additionally keep their segment separators.
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// One HTTP request as the verifier sees it. Header names may be any case; the verifier lowercases.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// Raw path as received, e.g. "/" (may contain percent-escapes).
    pub path: &'a str,
    /// Raw query string without '?', may be "".
    pub query: &'a str,
    /// All headers; repeated names allowed.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// What a successful verification proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// Why a request failed authentication. `Display` is the `message` to send
/// back with [`AuthError::aws_type`] as the `__type`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header, or one for a scheme other than SigV4.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    /// The `Authorization` header or the request date can't be parsed.
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now} - 5 min.)")]
    SignatureExpired {
        signed: String,
        earliest: String,
        now: String,
    },
    #[error("Signature not yet current: {signed} is still later than {latest} ({now} + 5 min.)")]
    SignatureNotYetCurrent {
        signed: String,
        latest: String,
        now: String,
    },
    #[error("'Host' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,
    /// The credential scope names the wrong service, terminator or date (or
    /// no region); the message lists every mismatch, as AWS's does.
    #[error("{0}")]
    CredentialScope(String),
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureDoesNotMatch,
}

impl AuthError {
    /// ECS/AWS error type name for the `__type` field.
    pub fn aws_type(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::SignatureExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::HostNotSigned
            | Self::CredentialScope(_)
            | Self::SignatureDoesNotMatch => "InvalidSignatureException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
        }
    }

    /// HTTP status AWS uses for this error.
    pub fn status(&self) -> u16 {
        // AWS's generic "Common Errors" pages list 403 for some of these and
        // even disagree with each other (IncompleteSignature is 400 on some,
        // 403 on others), but they describe the Query-protocol codes. The
        // JSON-protocol services ECS belongs to answer every authentication
        // failure with 400 and tell them apart by `__type` (seen in captured
        // DynamoDB, SageMaker, EMR and Cloud9 responses), so we do the same.
        400
    }
}

/// Verify a request. `lookup_secret(access_key_id)` returns the secret access key or None when the key is unknown/revoked.
/// `now_unix` is the server clock in Unix seconds; allowed clock skew is ±300 s.
/// `expected_service` is the service name the credential scope must carry ("ecs" for our JSON API).
/// Any non-empty region is accepted; it is returned in [`Verified`] for the caller to check.
///
/// The date must come from `x-amz-date`: every SDK sends it, and accepting
/// RFC 1123 `date` headers would add a second timestamp format to get right
/// for no client we serve. The payload hash is always computed from
/// `req.body`; a client-supplied `x-amz-content-sha256` is only S3's business.
pub fn verify(
    req: &RequestParts,
    expected_service: &str,
    now_unix: i64,
    lookup_secret: impl FnOnce(&str) -> Option<String>,
) -> Result<Verified, AuthError> {
    // Structure first, then time, then identity, then the signature itself: a request
    // with several problems is refused for the most fundamental one.
    let header = authorization_header(req.headers)?;
    let has_date = header_values(req.headers, "x-amz-date").next().is_some()
        || header_values(req.headers, "date").next().is_some();
    let auth = parse_authorization(header, has_date)?;
    // A malformed header is reported as such before its date is judged: the client's
    // problem is its signer, not its clock.
    if auth.algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{}' (only AWS4-HMAC-SHA256 for now). ",
            auth.algorithm
        )));
    }
    let credential = parse_credential(auth.credential)?;

    let amz_date = joined_header_values(req.headers, "x-amz-date").ok_or_else(|| {
        AuthError::IncompleteSignature(
            "x-amz-date header is required; signing with the date header is not supported".into(),
        )
    })?;
    let signed_at = parse_amz_date(&amz_date).ok_or_else(|| {
        AuthError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    })?;
    check_clock_skew(&amz_date, signed_at, now_unix)?;

    // Without `host` a signature could be replayed against another endpoint.
    if !auth
        .signed_headers
        .split(';')
        .any(|name| name.eq_ignore_ascii_case("host"))
    {
        return Err(AuthError::HostNotSigned);
    }
    check_scope(&credential, expected_service, &amz_date)?;

    let secret = lookup_secret(credential.access_key_id).ok_or(AuthError::UnrecognizedClient)?;
    // The canonical request is only ever hashed, so it is written straight into the hash.
    let mut canonical = Sha256::new();
    write_canonical_request(
        &mut canonical,
        req.method,
        req.path,
        req.query,
        req.headers,
        auth.signed_headers,
        &lower_hex(&Sha256::digest(req.body)),
    );
    let key = cached_signing_key(
        &secret,
        credential.date,
        credential.region,
        credential.service,
    );
    let mut provided = [0_u8; 32];
    hex::decode_to_slice(auth.signature, &mut provided)
        .map_err(|_| AuthError::SignatureDoesNotMatch)?;
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length");
    // The string to sign, piece by piece (see `string_to_sign`).
    for piece in [
        ALGORITHM,
        "\n",
        &amz_date,
        "\n",
        credential.date,
        "/",
        credential.region,
        "/",
        credential.service,
        "/",
        TERMINATOR,
        "\n",
        &lower_hex(&canonical.finalize()),
    ] {
        mac.update(piece.as_bytes());
    }
    // `verify_slice` compares in constant time, so response timing can't be
    // used to guess a valid signature byte by byte.
    mac.verify_slice(&provided)
        .map_err(|_| AuthError::SignatureDoesNotMatch)?;

    Ok(Verified {
        access_key_id: credential.access_key_id.to_owned(),
        region: credential.region.to_owned(),
        service: credential.service.to_owned(),
    })
}

/// The headers [`verify`] may look at, for a request whose first `Authorization` header is
/// the one given: the authorization and date headers, and every header named in a
/// `SignedHeaders` list. A verifier may leave all other headers out of [`RequestParts`] (and
/// save copying them): `verify` answers the same without them.
pub struct HeadersRead<'h> {
    /// Every `SignedHeaders` list in the header (`verify` uses the last; any will do here).
    signed: Vec<&'h str>,
}

impl<'h> HeadersRead<'h> {
    pub fn new(authorization: Option<&'h str>) -> Self {
        let signed = authorization
            .into_iter()
            .flat_map(|header| header.split([',', ' ']))
            .filter_map(|param| param.strip_prefix("SignedHeaders="))
            .collect();
        Self { signed }
    }

    /// Whether `verify` may read the header `name` (lowercase).
    pub fn includes(&self, name: &str) -> bool {
        matches!(name, "authorization" | "x-amz-date" | "date")
            || self
                .signed
                .iter()
                .any(|list| list.split(';').any(|n| n.eq_ignore_ascii_case(name)))
    }
}

/// The service a request's `Authorization` header says it was signed for, read without
/// checking anything else: what the front routes a request by when nothing else names its
/// API, and names in its answer when Berth does not answer that API.
pub fn signed_service(authorization: &str) -> Option<&str> {
    let (_, params) = authorization.split_once(' ')?;
    let credential = params
        .split([',', ' '])
        .find_map(|pair| pair.strip_prefix("Credential="))?;
    parse_credential(credential)
        .ok()
        .map(|credential| credential.service)
        .filter(|service| !service.is_empty())
}

/// Sign a request (client side). Returns the headers to add: `x-amz-date` and `authorization`.
/// Signs `host`, `x-amz-date`, and every header in `req.headers` whose lowercased name is
/// `content-type` or starts with `x-amz-`, the same set botocore signs; `req.headers` must
/// therefore already carry `host`. Any `x-amz-date` already in `req.headers` is left out of
/// the signature in favour of `amz_date` (`YYYYMMDDTHHMMSSZ`), so send the returned one instead.
/// A session token already in `req.headers` is signed like any other `x-amz-` header; see
/// [`sign_with_session_token`] to have it added.
pub fn sign(
    req: &RequestParts,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    sign_with_session_token(req, access_key_id, secret, None, region, service, amz_date)
}

/// [`sign`] for temporary credentials: when `session_token` is given it is signed and returned
/// as `x-amz-security-token` alongside `x-amz-date` and `authorization`.
pub fn sign_with_session_token(
    req: &RequestParts,
    access_key_id: &str,
    secret: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Vec<(String, String)> {
    let params = SigningParams {
        access_key_id,
        secret,
        session_token,
        region,
        service,
        amz_date,
    };
    sign_selected(req, &params, botocore_signs)
}

/// Format Unix seconds as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(unix: i64) -> String {
    let (year, month, day) = civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

struct SigningParams<'a> {
    access_key_id: &'a str,
    secret: &'a str,
    session_token: Option<&'a str>,
    region: &'a str,
    service: &'a str,
    amz_date: &'a str,
}

/// Whether botocore puts a header (by lowercased name) in `SignedHeaders`
/// for a JSON-protocol request.
fn botocore_signs(name: &str) -> bool {
    name == "host" || name == "content-type" || name.starts_with("x-amz-")
}

/// Signs `req` plus the headers we add, covering those `is_signed` picks by lowercased name.
fn sign_selected(
    req: &RequestParts,
    params: &SigningParams,
    is_signed: impl Fn(&str) -> bool,
) -> Vec<(String, String)> {
    let mut added = vec![("x-amz-date".to_owned(), params.amz_date.to_owned())];
    if let Some(token) = params.session_token {
        added.push(("x-amz-security-token".to_owned(), token.to_owned()));
    }
    // What we add replaces whatever the caller had under the same names;
    // signing both would make the server see a different header value.
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(name, _)| {
            !added
                .iter()
                .any(|(ours, _)| name.eq_ignore_ascii_case(ours))
        })
        .cloned()
        .collect();
    headers.extend(added.iter().cloned());

    let mut names: Vec<String> = headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| is_signed(name))
        .collect();
    names.sort_unstable();
    names.dedup();
    let signed_headers = names.join(";");

    let canonical = canonical_request(
        req.method,
        req.path,
        req.query,
        &headers,
        &signed_headers,
        &hex_sha256(req.body),
    );
    // A malformed `amz_date` only yields a signature the server rejects.
    let date = params.amz_date.get(..8).unwrap_or(params.amz_date);
    let scope = format!("{date}/{}/{}/{TERMINATOR}", params.region, params.service);
    let key = signing_key(params.secret, date, params.region, params.service);
    let signature = hex::encode(hmac(
        &key,
        string_to_sign(params.amz_date, &scope, &canonical).as_bytes(),
    ));
    added.push((
        "authorization".to_owned(),
        format!(
            "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            params.access_key_id
        ),
    ));
    added
}

/// The three parameters of a SigV4 `Authorization` header.
struct AuthorizationFields<'h> {
    algorithm: &'h str,
    credential: &'h str,
    signed_headers: &'h str,
    signature: &'h str,
}

/// The five parts of `Credential=<key>/<date>/<region>/<service>/<terminator>`.
struct Credential<'h> {
    access_key_id: &'h str,
    date: &'h str,
    region: &'h str,
    service: &'h str,
    terminator: &'h str,
}

fn header_values<'h>(
    headers: &'h [(String, String)],
    name: &'h str,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// All values of a header joined the way the canonical request joins them.
fn joined_header_values<'h>(
    headers: &'h [(String, String)],
    name: &'h str,
) -> Option<Cow<'h, str>> {
    let mut values = header_values(headers, name);
    let first = values.next()?;
    Some(match values.next() {
        None => Cow::Borrowed(first),
        Some(second) => {
            let mut joined = format!("{first},{second}");
            for value in values {
                joined.push(',');
                joined.push_str(value);
            }
            Cow::Owned(joined)
        }
    })
}

fn authorization_header(headers: &[(String, String)]) -> Result<&str, AuthError> {
    let mut values = header_values(headers, "authorization");
    let Some(value) = values.next() else {
        return Err(AuthError::MissingAuthenticationToken);
    };
    if values.next().is_some() {
        return Err(AuthError::IncompleteSignature(
            "request has more than one authorization header".into(),
        ));
    }
    let value = value.trim();
    // AWS treats any other scheme (Basic, Bearer, ...) as no credentials at
    // all, but a wrong SigV4 algorithm as a malformed signature.
    if !value.starts_with("AWS4-") {
        return Err(AuthError::MissingAuthenticationToken);
    }
    Ok(value)
}

fn parse_authorization(header: &str, has_date: bool) -> Result<AuthorizationFields<'_>, AuthError> {
    let (algorithm, params) = header.split_once(' ').unwrap_or((header, ""));
    let (mut credential, mut signed_headers, mut signature) = ("", "", "");
    // botocore separates the parameters with ", "; AWS accepts any mix of
    // commas and spaces, and so do we.
    for pair in params.split([',', ' ']).filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(AuthError::IncompleteSignature(format!(
                "'{pair}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'."
            )));
        };
        match key {
            "Credential" => credential = value,
            "SignedHeaders" => signed_headers = value,
            "Signature" => signature = value,
            _ => {}
        }
    }

    // AWS reports everything missing at once, then echoes the header.
    let mut missing = String::new();
    for (name, value) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if value.is_empty() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !has_date {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        missing.push_str("Authorization=");
        missing.push_str(header);
        return Err(AuthError::IncompleteSignature(missing));
    }

    Ok(AuthorizationFields {
        algorithm,
        credential,
        signed_headers,
        signature,
    })
}

fn parse_credential(credential: &str) -> Result<Credential<'_>, AuthError> {
    // AWS ignores trailing slashes here.
    let mut split = credential.trim_end_matches('/').split('/');
    let mut parts = [""; 5];
    let mut count = 0;
    for part in split.by_ref().take(parts.len()) {
        parts[count] = part;
        count += 1;
    }
    let exactly_five = count == parts.len() && split.next().is_none();
    match parts {
        [access_key_id, date, region, service, terminator] if exactly_five => Ok(Credential {
            access_key_id,
            date,
            region,
            service,
            terminator,
        }),
        _ => Err(AuthError::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        ))),
    }
}

fn check_scope(
    credential: &Credential,
    expected_service: &str,
    amz_date: &str,
) -> Result<(), AuthError> {
    // Each sentence is AWS's own, trailing space included: AWS concatenates
    // them into one message when several parts are wrong.
    let mut problems = String::new();
    if credential.region.is_empty() {
        problems.push_str("Credential should be scoped to a valid region, not ''. ");
    }
    if credential.service != expected_service {
        problems.push_str(&format!(
            "Credential should be scoped to correct service: '{expected_service}'. "
        ));
    }
    if credential.terminator != TERMINATOR {
        problems.push_str(&format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            credential.terminator
        ));
    }
    // `amz_date` has been validated, so its first 8 bytes are the ASCII date.
    let request_day = &amz_date[..8];
    if credential.date != request_day {
        problems.push_str(&format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{request_day}', from '{amz_date}'.",
            credential.date
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AuthError::CredentialScope(problems))
    }
}

fn check_clock_skew(amz_date: &str, signed_at: i64, now: i64) -> Result<(), AuthError> {
    // Saturating: `now` comes from the caller and may be anything.
    let age = now.saturating_sub(signed_at);
    if age > MAX_CLOCK_SKEW_SECS {
        Err(AuthError::SignatureExpired {
            signed: amz_date.to_owned(),
            earliest: format_amz_date(now.saturating_sub(MAX_CLOCK_SKEW_SECS)),
            now: format_amz_date(now),
        })
    } else if age < -MAX_CLOCK_SKEW_SECS {
        Err(AuthError::SignatureNotYetCurrent {
            signed: amz_date.to_owned(),
            latest: format_amz_date(now.saturating_add(MAX_CLOCK_SKEW_SECS)),
            now: format_amz_date(now),
        })
    } else {
        Ok(())
    }
}

/// Where a canonical request is written: a string (to sign, or to look at in tests) or,
/// when verifying, the hash that is all verification needs of it.
trait Canonical {
    fn push(&mut self, text: &str);
}

impl Canonical for String {
    fn push(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl Canonical for Sha256 {
    fn push(&mut self, text: &str) {
        self.update(text.as_bytes());
    }
}

fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256);
    write_canonical_request(
        &mut out,
        method,
        path,
        query,
        headers,
        signed_headers,
        payload_hash,
    );
    out
}

fn write_canonical_request(
    out: &mut impl Canonical,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    signed_headers: &str,
    payload_hash: &str,
) {
    out.push(method);
    out.push("\n");
    out.push(&canonical_uri(path));
    out.push("\n");
    out.push(&canonical_query(query));
    out.push("\n");
    // The signer chose the header order (sorted, for every SDK); reproducing
    // its list as given is what makes our canonical form match its own.
    for name in signed_headers.split(';') {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            out.push(&name.to_ascii_lowercase());
        } else {
            out.push(name);
        }
        out.push(":");
        for (index, value) in header_values(headers, name).enumerate() {
            if index > 0 {
                out.push(",");
            }
            write_canonical_header_value(out, value);
        }
        out.push("\n");
    }
    out.push("\n");
    out.push(signed_headers);
    out.push("\n");
    out.push(payload_hash);
}

/// Non-S3 services sign the normalized path with every segment escaped once
/// more, so a received `%20` is signed as `%2520`: that's what botocore does
/// to the already-escaped path it sends.
fn canonical_uri(path: &str) -> Cow<'static, str> {
    // What every ECS call posts to.
    if path == "/" {
        return Cow::Borrowed("/");
    }
    Cow::Owned(utf8_percent_encode(&normalize_path(path), UNRESERVED_AND_SLASH).to_string())
}

/// Drops `.`, `..` and empty segments the way botocore does before signing:
/// the result always starts with `/` and keeps a trailing `/` only when the
/// input had one and something is left before it.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let trailing_slash = path.ends_with('/') && !segments.is_empty();
    format!(
        "/{}{}",
        segments.join("/"),
        if trailing_slash { "/" } else { "" }
    )
}

fn canonical_query(query: &str) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (reencode(key), reencode(value))
        })
        .collect();
    // Sorting (key, value) tuples, not "key=value" strings: `a-b=1` must
    // sort after `a=2` because the key `a` is a prefix of `a-b`.
    pairs.sort_unstable();
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decoding first means `~` and `%7E`, or `%2f` and `%2F`, sign the same, as
/// they must since clients differ in which they send. A `+` stays a literal
/// plus (`%2B`): SDKs escape spaces in queries as `%20`.
fn reencode(component: &str) -> String {
    let bytes: Vec<u8> = percent_decode_str(component).collect();
    percent_encode(&bytes, UNRESERVED).to_string()
}

/// Trimmed, with inner whitespace runs collapsed to one space (botocore's
/// `' '.join(value.split())`).
#[cfg(test)]
fn canonical_header_value(value: &str) -> String {
    let mut out = String::new();
    write_canonical_header_value(&mut out, value);
    out
}

fn write_canonical_header_value(out: &mut impl Canonical, value: &str) {
    for (index, word) in value.split_ascii_whitespace().enumerate() {
        if index > 0 {
            out.push(" ");
        }
        out.push(word);
    }
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex_sha256(canonical_request.as_bytes())
    )
}

/// How many derived signing keys each thread remembers.
const SIGNING_KEYS_KEPT: usize = 8;

/// Where a derived signing key applies; the key is a function of exactly these.
#[derive(PartialEq, Eq)]
struct SigningScope {
    secret: String,
    date: String,
    region: String,
    service: String,
}

thread_local! {
    /// Recently derived signing keys, newest last. A key changes only with the date, so a
    /// client signing all day needs one derivation (four HMACs) per day, not per request.
    static SIGNING_KEYS: std::cell::RefCell<Vec<(SigningScope, [u8; 32])>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// [`signing_key`], remembered per thread.
fn cached_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let matches = |scope: &SigningScope| {
        scope.secret == secret
            && scope.date == date
            && scope.region == region
            && scope.service == service
    };
    SIGNING_KEYS.with_borrow_mut(|keys| {
        if let Some((_, key)) = keys.iter().rev().find(|(scope, _)| matches(scope)) {
            return *key;
        }
        let key = signing_key(secret, date, region, service);
        if keys.len() >= SIGNING_KEYS_KEPT {
            keys.remove(0);
        }
        let scope = SigningScope {
            secret: secret.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        };
        keys.push((scope, key));
        key
    })
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn hex_sha256(data: &[u8]) -> String {
    lower_hex(&Sha256::digest(data)).to_owned()
}

/// A SHA-256 digest in lowercase hex, without allocating.
struct Hex64([u8; 64]);

impl std::ops::Deref for Hex64 {
    type Target = str;
    fn deref(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

fn lower_hex(digest: &[u8]) -> Hex64 {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'0'; 64];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
    Hex64(out)
}

/// Parses `YYYYMMDDTHHMMSSZ` into Unix seconds; `None` unless it is exactly
/// that shape and names a real UTC time.
fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0_i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    if !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // The round trip rejects days the month doesn't have (Feb 30, Apr 31,
    // Feb 29 outside leap years) without a table of month lengths.
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

#[cfg(test)]
mod tests;
