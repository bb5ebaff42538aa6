use super::*;
use proptest::prelude::*;
use std::{fs, io, path::Path};

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn header<'h>(headers: &'h [(String, String)], name: &'h str) -> &'h str {
    header_values(headers, name)
        .next()
        .unwrap_or_else(|| panic!("no {name} header"))
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value.to_owned()));
}

// ---- AWS's published SigV4 test vectors ----------------------------------
//
// They live as files under tests/sigv4/, one folder per vector in the layout of AWS's own
// suite; its README.md says where they come from and what each file holds.

/// Resolved when compiling, so the tests find the vectors whatever directory they run in.
const VECTORS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sigv4");

/// The files a vector folder `<name>/` may hold, as `<name>.<extension>`.
const VECTOR_FILES: [&str; 5] = ["req", "authz", "signer", "creq", "sts"];

// AWS's example credentials and time, which every vector is signed with.
const SUITE_KEY: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_DATE: &str = "20150830T123600Z";
const SUITE_NOW: i64 = 1_440_938_160;
const SUITE_SCOPE: &str = "20150830/us-east-1/service/aws4_request";

/// How a vector's published signature is reproduced: its `<name>.signer` file.
enum Signer {
    /// `botocore`: by the public `sign`, as the vector signs exactly botocore's set.
    Botocore,
    /// `all-headers`: only by signing every header, as the vector signs headers
    /// botocore leaves out (`my-header1`, `content-length`).
    AllHeaders,
    /// `botocore-without <header>`: by the public `sign` before this header was added
    /// to the request.
    BotocoreWithout(String),
}

impl Signer {
    fn parse(text: &str) -> Option<Self> {
        match text.split_once(' ') {
            None if text == "botocore" => Some(Self::Botocore),
            None if text == "all-headers" => Some(Self::AllHeaders),
            Some(("botocore-without", header)) => Some(Self::BotocoreWithout(header.to_owned())),
            _ => None,
        }
    }
}

struct Vector {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: String,
    /// The published `Authorization` header.
    authorization: String,
    signer: Signer,
    /// AWS's canonical request and string to sign, for the vectors that ship them.
    canonical_request: Option<String>,
    string_to_sign: Option<String>,
}

impl Vector {
    fn request<'a>(&'a self, headers: &'a [(String, String)]) -> RequestParts<'a> {
        RequestParts {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            headers,
            body: self.body.as_bytes(),
        }
    }
}

/// Every vector, by name. Anything missing or unreadable panics, so a moved folder or a
/// misnamed file fails the tests instead of leaving vectors unchecked.
fn vectors() -> Vec<Vector> {
    let entries = fs::read_dir(VECTORS_DIR).unwrap_or_else(|err| panic!("{VECTORS_DIR}: {err}"));
    let mut vectors: Vec<Vector> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|err| panic!("{VECTORS_DIR}: {err}"))
                .path()
        })
        .filter(|path| {
            let readme = path.file_name().is_some_and(|name| name == "README.md");
            // A vector's files dropped in without their folder would otherwise go unchecked.
            assert!(
                path.is_dir() || readme,
                "{}: not in a vector folder",
                path.display()
            );
            !readme
        })
        .map(|dir| load_vector(&dir))
        .collect();
    assert!(!vectors.is_empty(), "no vector folders in {VECTORS_DIR}");
    vectors.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    vectors
}

fn vector(name: &str) -> Vector {
    load_vector(&Path::new(VECTORS_DIR).join(name))
}

fn load_vector(dir: &Path) -> Vector {
    let name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_else(|| panic!("{}: not a UTF-8 vector name", dir.display()));
    for entry in fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
        let file = entry
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .file_name();
        let known = file
            .to_str()
            .and_then(|file| file.strip_prefix(name)?.strip_prefix('.'))
            .is_some_and(|extension| VECTOR_FILES.contains(&extension));
        assert!(
            known,
            "{}: {file:?} is none of {name}.{{{}}}",
            dir.display(),
            VECTOR_FILES.join(",")
        );
    }
    let read = |extension: &str| {
        let path = dir.join(format!("{name}.{extension}"));
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return None,
            Err(err) => panic!("{}: {err}", path.display()),
        };
        // A CR would silently become part of a header value or the body.
        assert!(!text.contains('\r'), "{}: CRLF line ends", path.display());
        Some(text)
    };
    let required = |extension: &str| {
        read(extension).unwrap_or_else(|| panic!("{}: no {name}.{extension}", dir.display()))
    };
    // Editors end files with a newline; only a request's body is taken byte for byte.
    let without_newline = |text: String| text.strip_suffix('\n').unwrap_or(&text).to_owned();

    let request = required("req");
    let (head, body) = request
        .split_once("\n\n")
        .unwrap_or((request.strip_suffix('\n').unwrap_or(&request), ""));
    let mut lines = head.split('\n');
    let request_line = lines.next().unwrap_or_default();
    // The target may hold spaces (get-space), so the version is split off the end.
    let (method, target) = request_line
        .split_once(' ')
        .and_then(|(method, rest)| {
            let (target, version) = rest.rsplit_once(' ')?;
            version.starts_with("HTTP/").then_some((method, target))
        })
        .unwrap_or_else(|| panic!("{name}.req: {request_line:?} is not `METHOD target HTTP/1.1`"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .map(|line| {
            let (header, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("{name}.req: {line:?} is not a `Name:value` header"));
            (header.to_owned(), value.to_owned())
        })
        .collect();

    let signer = without_newline(required("signer"));
    Vector {
        name: name.to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        body: body.to_owned(),
        authorization: without_newline(required("authz")),
        signer: Signer::parse(&signer).unwrap_or_else(|| {
            panic!("{name}.signer: {signer:?} is none of `botocore`, `all-headers`, `botocore-without <header>`")
        }),
        canonical_request: read("creq").map(without_newline),
        string_to_sign: read("sts").map(without_newline),
    }
}

fn suite_params() -> SigningParams<'static> {
    SigningParams {
        access_key_id: SUITE_KEY,
        secret: SUITE_SECRET,
        session_token: None,
        region: "us-east-1",
        service: "service",
        amz_date: SUITE_DATE,
    }
}

fn sign_vector(vector: &Vector) -> Vec<(String, String)> {
    let botocore = |headers: &[(String, String)]| {
        sign(
            &vector.request(headers),
            SUITE_KEY,
            SUITE_SECRET,
            "us-east-1",
            "service",
            SUITE_DATE,
        )
    };
    match &vector.signer {
        Signer::Botocore => botocore(&vector.headers),
        Signer::AllHeaders => {
            sign_selected(&vector.request(&vector.headers), &suite_params(), |_| true)
        }
        Signer::BotocoreWithout(name) => {
            let mut headers = vector.headers.clone();
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            botocore(&headers)
        }
    }
}

#[test]
fn signing_reproduces_every_published_authorization() {
    let mismatches: Vec<String> = vectors()
        .iter()
        .filter_map(|vector| {
            let added = sign_vector(vector);
            assert_eq!(header(&added, "x-amz-date"), SUITE_DATE, "{}", vector.name);
            let got = header(&added, "authorization");
            (got != vector.authorization).then(|| format!("{}: got {got}", vector.name))
        })
        .collect();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn verification_accepts_every_published_request() {
    let failures: Vec<String> = vectors()
        .iter()
        .filter_map(|vector| {
            let mut headers = vector.headers.clone();
            headers.push(("Authorization".to_owned(), vector.authorization.clone()));
            let result = verify(&vector.request(&headers), "service", SUITE_NOW, |key| {
                (key == SUITE_KEY).then(|| SUITE_SECRET.to_owned())
            });
            let expected = Verified {
                access_key_id: SUITE_KEY.to_owned(),
                region: "us-east-1".to_owned(),
                service: "service".to_owned(),
            };
            (result.as_ref() != Ok(&expected)).then(|| format!("{}: {result:?}", vector.name))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn intermediate_forms_match_every_published_creq_and_sts() {
    let mut compared = 0;
    for vector in vectors() {
        let signed_headers = parse_authorization(&vector.authorization, true)
            .unwrap_or_else(|err| panic!("{}: {err}", vector.name))
            .signed_headers;
        let canonical = canonical_request(
            &vector.method,
            &vector.path,
            &vector.query,
            &vector.headers,
            signed_headers,
            &hex_sha256(vector.body.as_bytes()),
        );
        if let Some(published) = &vector.canonical_request {
            assert_eq!(&canonical, published, "{}", vector.name);
            compared += 1;
        }
        if let Some(published) = &vector.string_to_sign {
            let computed = string_to_sign(SUITE_DATE, SUITE_SCOPE, &canonical);
            assert_eq!(&computed, published, "{}", vector.name);
            compared += 1;
        }
    }
    assert!(compared > 0, "no .creq or .sts file in {VECTORS_DIR}");
}

#[test]
fn session_token_is_added_and_signed() {
    let vector = vector("get-vanilla-with-session-token");
    let token = header(&vector.headers, "x-amz-security-token");
    let mut headers = vector.headers.clone();
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("x-amz-security-token"));
    let added = sign_with_session_token(
        &vector.request(&headers),
        SUITE_KEY,
        SUITE_SECRET,
        Some(token),
        "us-east-1",
        "service",
        SUITE_DATE,
    );
    assert_eq!(header(&added, "x-amz-security-token"), token);
    assert_eq!(header(&added, "authorization"), vector.authorization);
    let names: Vec<&str> = added.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["x-amz-date", "x-amz-security-token", "authorization"]
    );
}

// ---- canonical form pieces ---------------------------------------------

#[test]
fn paths_normalize_like_botocore() {
    for (raw, canonical) in [
        ("", "/"),
        ("/", "/"),
        ("//", "/"),
        ("/a/b/../c/./d", "/a/c/d"),
        ("/a/b/", "/a/b/"),
        ("/..", "/"),
        ("/a/.", "/a"),
        ("/example%20space/", "/example%2520space/"),
        ("/ሴ", "/%E1%88%B4"),
    ] {
        assert_eq!(canonical_uri(raw), canonical, "{raw:?}");
    }
}

#[test]
fn queries_are_decoded_reencoded_and_sorted() {
    for (raw, canonical) in [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("a=2&a=1", "a=1&a=2"),
        ("a-b=1&a=2", "a=2&a-b=1"),
        ("flag", "flag="),
        ("a=1&&b=2&", "a=1&b=2"),
        ("k=%7e%2f", "k=~%2F"),
        ("k=a b+c", "k=a%20b%2Bc"),
        ("k=%zz", "k=%25zz"),
    ] {
        assert_eq!(canonical_query(raw), canonical, "{raw:?}");
    }
}

#[test]
fn digests_are_lowercase_hex() {
    let digest = Sha256::digest(b"abc");
    assert_eq!(&*lower_hex(&digest), hex::encode(digest));
    assert_eq!(
        hex_sha256(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn header_values_are_trimmed_and_collapsed() {
    assert_eq!(canonical_header_value("  a \t  b  c  "), "a b c");
    assert_eq!(canonical_header_value(""), "");
}

#[test]
fn amz_dates_format_and_parse() {
    for (unix, text) in [
        (0, "19700101T000000Z"),
        (SUITE_NOW, SUITE_DATE),
        (951_782_400, "20000229T000000Z"),
        (1_709_251_199, "20240229T235959Z"),
        (253_402_300_799, "99991231T235959Z"),
        (-1, "19691231T235959Z"),
    ] {
        assert_eq!(format_amz_date(unix), text);
        assert_eq!(parse_amz_date(text), Some(unix), "{text}");
    }
    for bad in [
        "",
        "20150830",
        "20150830T123600",
        "20150830T123600z",
        "2015-08-30T12:36:00Z",
        "20150830 123600Z",
        "2015083OT123600Z",
        "+0150830T123600Z",
        "20150230T000000Z",
        "20230229T000000Z",
        "20151301T000000Z",
        "20150800T000000Z",
        "20150830T240000Z",
        "20150830T126000Z",
        "20150830T123660Z",
        "20150830T12360ሴ",
    ] {
        assert_eq!(parse_amz_date(bad), None, "{bad:?}");
    }
}

// ---- an ECS request, signed the way the aws CLI signs it --------------

const ECS_KEY: &str = "AKIDBERTHEXAMPLE";
const ECS_SECRET: &str = "berth/secret+EXAMPLEKEY";
const ECS_DATE: &str = "20240101T000000Z";
const ECS_NOW: i64 = 1_704_067_200;
const ECS_BODY: &[u8] = br#"{"maxResults":10}"#;

fn ecs_headers() -> Vec<(String, String)> {
    owned(&[
        ("Host", "localhost:7070"),
        ("Content-Type", "application/x-amz-json-1.1"),
        (
            "X-Amz-Target",
            "AmazonEC2ContainerServiceV20141113.ListClusters",
        ),
        ("User-Agent", "aws-cli/2.15.0 Python/3.11.6"),
        ("Content-Length", "17"),
    ])
}

fn ecs_request(headers: &[(String, String)]) -> RequestParts<'_> {
    RequestParts {
        method: "POST",
        path: "/",
        query: "",
        headers,
        body: ECS_BODY,
    }
}

/// `ecs_headers()` signed for `service` with `secret`, plus the added headers.
fn signed_ecs_headers_for(service: &str, secret: &str) -> Vec<(String, String)> {
    let mut headers = ecs_headers();
    let added = sign(
        &ecs_request(&headers),
        ECS_KEY,
        secret,
        "us-east-1",
        service,
        ECS_DATE,
    );
    headers.extend(added);
    headers
}

fn signed_ecs_headers() -> Vec<(String, String)> {
    signed_ecs_headers_for("ecs", ECS_SECRET)
}

fn verify_ecs(headers: &[(String, String)], body: &[u8], now: i64) -> Result<Verified, AuthError> {
    let request = RequestParts {
        body,
        ..ecs_request(headers)
    };
    verify(&request, "ecs", now, |key| {
        (key == ECS_KEY).then(|| ECS_SECRET.to_owned())
    })
}

fn edit_authorization(headers: &mut Vec<(String, String)>, edit: impl FnOnce(&str) -> String) {
    let edited = edit(header(headers, "authorization"));
    set_header(headers, "authorization", &edited);
}

fn ecs_verified() -> Verified {
    Verified {
        access_key_id: ECS_KEY.to_owned(),
        region: "us-east-1".to_owned(),
        service: "ecs".to_owned(),
    }
}

#[test]
fn ecs_request_round_trips() {
    let headers = signed_ecs_headers();
    assert!(header(&headers, "authorization").contains(
            "/20240101/us-east-1/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
        ));
    assert_eq!(verify_ecs(&headers, ECS_BODY, ECS_NOW), Ok(ecs_verified()));
}

#[test]
fn unsigned_headers_may_change_in_transit() {
    let mut headers = signed_ecs_headers();
    set_header(&mut headers, "user-agent", "a proxy");
    headers.push(("X-Forwarded-For".to_owned(), "10.0.0.1".to_owned()));
    assert_eq!(verify_ecs(&headers, ECS_BODY, ECS_NOW), Ok(ecs_verified()));
}

#[test]
fn parameter_spacing_is_tolerated() {
    for edit in [
        |a: &str| a.replace(", ", ","),
        |a: &str| a.replace(", ", ",   "),
        |a: &str| a.replacen(' ', "   ", 1),
    ] {
        let mut headers = signed_ecs_headers();
        edit_authorization(&mut headers, edit);
        assert_eq!(verify_ecs(&headers, ECS_BODY, ECS_NOW), Ok(ecs_verified()));
    }
}

#[test]
fn client_payload_hash_is_ignored() {
    // botocore signs x-amz-* headers, so a stale hash header is signed
    // too; the body is still what gets checked.
    let stale = hex_sha256(b"something else");
    let mut headers = ecs_headers();
    set_header(&mut headers, "X-Amz-Content-Sha256", &stale);
    let added = sign(
        &ecs_request(&headers),
        ECS_KEY,
        ECS_SECRET,
        "us-east-1",
        "ecs",
        ECS_DATE,
    );
    headers.extend(added);
    assert_eq!(verify_ecs(&headers, ECS_BODY, ECS_NOW), Ok(ecs_verified()));

    let mut headers = signed_ecs_headers();
    headers.push(("x-amz-content-sha256".to_owned(), hex_sha256(b"{}")));
    let err = verify_ecs(&headers, b"{}", ECS_NOW).unwrap_err();
    assert_eq!(err, AuthError::SignatureDoesNotMatch);
}

fn assert_rejected(result: Result<Verified, AuthError>, aws_type: &str) -> AuthError {
    let err = result.expect_err("request should be rejected");
    assert_eq!(err.aws_type(), aws_type, "{err}");
    assert_eq!(err.status(), 400);
    err
}

#[test]
fn missing_authorization_is_missing_authentication_token() {
    let mut headers = signed_ecs_headers();
    headers.retain(|(name, _)| name != "authorization");
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "MissingAuthenticationTokenException",
    );
    assert_eq!(err.to_string(), "Request is missing Authentication Token");

    set_header(&mut headers, "Authorization", "Bearer abc");
    assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "MissingAuthenticationTokenException",
    );
}

#[test]
fn malformed_authorization_is_incomplete_signature() {
    let scope = "Credential=AKIDBERTHEXAMPLE/20240101/us-east-1/ecs/aws4_request";
    let signed = "SignedHeaders=content-type;host;x-amz-date;x-amz-target";
    let signature = "Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let cases = [
            (
                format!("AWS4-HMAC-SHA256 {signed}, {signature}"),
                Some(format!(
                    "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 {signed}, {signature}"
                )),
            ),
            (format!("AWS4-HMAC-SHA256 {scope}, {signature}"), None),
            (format!("AWS4-HMAC-SHA256 {scope}, {signed}"), None),
            (format!("AWS4-HMAC-SHA256 {scope}, {signed}, Signature="), None),
            (
                "AWS4-HMAC-SHA256".to_owned(),
                Some(
                    "Authorization header requires 'Credential' parameter. \
                     Authorization header requires 'Signature' parameter. \
                     Authorization header requires 'SignedHeaders' parameter. \
                     Authorization=AWS4-HMAC-SHA256"
                        .to_owned(),
                ),
            ),
            (
                format!("AWS4-HMAC-SHA256 {scope}, {signed}, Signature"),
                Some(format!(
                    "'Signature' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 {scope}, {signed}, Signature'."
                )),
            ),
            (
                format!("AWS4-HMAC-SHA512 {scope}, {signed}, {signature}"),
                Some("Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now). ".to_owned()),
            ),
            (
                format!("AWS4-HMAC-SHA256 Credential=AKIDBERTHEXAMPLE/20240101/us-east-1/ecs, {signed}, {signature}"),
                Some("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDBERTHEXAMPLE/20240101/us-east-1/ecs'".to_owned()),
            ),
            (
                format!("AWS4-HMAC-SHA256 Credential=A/B/20240101/us-east-1/ecs/aws4_request, {signed}, {signature}"),
                None,
            ),
        ];
    for (authorization, message) in cases {
        let mut headers = signed_ecs_headers();
        set_header(&mut headers, "Authorization", &authorization);
        let err = assert_rejected(
            verify_ecs(&headers, ECS_BODY, ECS_NOW),
            "IncompleteSignatureException",
        );
        if let Some(message) = message {
            assert_eq!(err.to_string(), message);
        }
    }
}

#[test]
fn a_trailing_slash_after_the_credential_is_ignored() {
    let mut headers = signed_ecs_headers();
    edit_authorization(&mut headers, |a| {
        a.replace("aws4_request,", "aws4_request/,")
    });
    assert_eq!(verify_ecs(&headers, ECS_BODY, ECS_NOW), Ok(ecs_verified()));
}

#[test]
fn repeated_authorization_headers_are_rejected() {
    let mut headers = signed_ecs_headers();
    let authorization = header(&headers, "authorization").to_owned();
    headers.push(("Authorization".to_owned(), authorization));
    assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "IncompleteSignatureException",
    );
}

#[test]
fn the_date_must_be_an_x_amz_date() {
    let mut headers = signed_ecs_headers();
    headers.retain(|(name, _)| name != "x-amz-date");
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "IncompleteSignatureException",
    );
    assert!(err.to_string().starts_with(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=AWS4-HMAC-SHA256 Credential="
        ));

    headers.push((
        "Date".to_owned(),
        "Mon, 01 Jan 2024 00:00:00 GMT".to_owned(),
    ));
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "IncompleteSignatureException",
    );
    assert_eq!(
        err.to_string(),
        "x-amz-date header is required; signing with the date header is not supported"
    );

    set_header(&mut headers, "X-Amz-Date", "2024-01-01T00:00:00Z");
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "IncompleteSignatureException",
    );
    assert_eq!(
            err.to_string(),
            "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
        );
}

#[test]
fn wrong_service_in_scope_is_rejected() {
    let headers = signed_ecs_headers_for("sqs", ECS_SECRET);
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "InvalidSignatureException",
    );
    assert_eq!(
        err.to_string(),
        "Credential should be scoped to correct service: 'ecs'. "
    );
}

#[test]
fn every_scope_mismatch_is_reported() {
    let mut headers = signed_ecs_headers();
    edit_authorization(&mut headers, |a| {
        a.replace(
            "/20240101/us-east-1/ecs/aws4_request",
            "/20231231//sqs/aws5_request",
        )
    });
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "InvalidSignatureException",
    );
    assert_eq!(
            err.to_string(),
            "Credential should be scoped to a valid region, not ''. \
             Credential should be scoped to correct service: 'ecs'. \
             Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. \
             Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20231231' != '20240101', from '20240101T000000Z'."
        );
}

#[test]
fn scope_date_must_match_x_amz_date() {
    let mut headers = signed_ecs_headers();
    edit_authorization(&mut headers, |a| a.replace("/20240101/", "/20240102/"));
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "InvalidSignatureException",
    );
    assert_eq!(
            err.to_string(),
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20240102' != '20240101', from '20240101T000000Z'."
        );
}

#[test]
fn wrong_terminator_is_rejected() {
    let mut headers = signed_ecs_headers();
    edit_authorization(&mut headers, |a| {
        a.replace("/aws4_request", "/aws4_requests")
    });
    assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "InvalidSignatureException",
    );
}

#[test]
fn clock_skew_beyond_five_minutes_is_rejected() {
    let headers = signed_ecs_headers();
    assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW + 301),
        "InvalidSignatureException",
    );
    assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW - 301),
        "InvalidSignatureException",
    );

    let err = verify_ecs(&headers, ECS_BODY, ECS_NOW + 600).unwrap_err();
    assert_eq!(
            err.to_string(),
            "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z (20240101T001000Z - 5 min.)"
        );
    let err = verify_ecs(&headers, ECS_BODY, ECS_NOW - 600).unwrap_err();
    assert_eq!(
            err.to_string(),
            "Signature not yet current: 20240101T000000Z is still later than 20231231T235500Z (20231231T235000Z + 5 min.)"
        );
}

#[test]
fn clock_skew_of_exactly_five_minutes_is_accepted() {
    let headers = signed_ecs_headers();
    assert_eq!(
        verify_ecs(&headers, ECS_BODY, ECS_NOW + 300),
        Ok(ecs_verified())
    );
    assert_eq!(
        verify_ecs(&headers, ECS_BODY, ECS_NOW - 300),
        Ok(ecs_verified())
    );
}

/// Leaving out the headers `HeadersRead` says verification does not read changes no
/// outcome, including for requests with unsigned, repeated or missing headers.
#[test]
fn verification_reads_only_the_headers_it_says() {
    let only_read = |headers: &[(String, String)]| -> Vec<(String, String)> {
        let read = HeadersRead::new(header_values(headers, "authorization").next());
        headers
            .iter()
            .filter(|(name, _)| read.includes(&name.to_ascii_lowercase()))
            .cloned()
            .collect()
    };
    let mut cases = Vec::new();
    let signed = signed_ecs_headers();
    cases.push(signed.clone());
    let mut extra = signed.clone();
    extra.push(("X-Forwarded-For".to_owned(), "10.0.0.1".to_owned()));
    extra.push(("x-amz-target".to_owned(), "a second target".to_owned()));
    cases.push(extra);
    let mut tampered = signed.clone();
    set_header(&mut tampered, "content-type", "text/plain");
    cases.push(tampered);
    let mut undated = signed.clone();
    undated.retain(|(name, _)| !name.eq_ignore_ascii_case("x-amz-date"));
    cases.push(undated);
    let mut twice = signed.clone();
    twice.push((
        "Authorization".to_owned(),
        header(&signed, "authorization").to_owned(),
    ));
    cases.push(twice);
    cases.push(ecs_headers());
    for headers in cases {
        let kept = only_read(&headers);
        assert!(kept.len() <= headers.len());
        assert_eq!(
            verify_ecs(&kept, ECS_BODY, ECS_NOW),
            verify_ecs(&headers, ECS_BODY, ECS_NOW),
            "{headers:?}"
        );
    }
}

/// Remembered signing keys are told apart by everything they derive from: a request
/// verified once does not make the same signature pass with another secret, nor a
/// signature made with another secret pass.
#[test]
fn remembered_signing_keys_do_not_outlive_their_secret() {
    let headers = signed_ecs_headers();
    let with_secret = |secret: &'static str| {
        verify(&ecs_request(&headers), "ecs", ECS_NOW, |_| {
            Some(secret.to_owned())
        })
    };
    for _ in 0..2 {
        assert_eq!(with_secret(ECS_SECRET), Ok(ecs_verified()));
        assert_eq!(
            with_secret("another secret"),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }
    // More secrets than are remembered, then the first again.
    for n in 0..2 * SIGNING_KEYS_KEPT {
        let secret = format!("secret {n}");
        let signed = signed_ecs_headers_for("ecs", &secret);
        let verified = verify(&ecs_request(&signed), "ecs", ECS_NOW, |_| {
            Some(secret.clone())
        });
        assert_eq!(verified, Ok(ecs_verified()));
        assert_eq!(
            verify(&ecs_request(&signed), "ecs", ECS_NOW, |_| {
                Some(ECS_SECRET.to_owned())
            }),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }
    assert_eq!(with_secret(ECS_SECRET), Ok(ecs_verified()));
}

#[test]
fn unknown_access_key_is_unrecognized_client() {
    let headers = signed_ecs_headers();
    let err = assert_rejected(
        verify(&ecs_request(&headers), "ecs", ECS_NOW, |_| None),
        "UnrecognizedClientException",
    );
    assert_eq!(
        err.to_string(),
        "The security token included in the request is invalid."
    );
}

#[test]
fn tampered_body_is_rejected() {
    let headers = signed_ecs_headers();
    let err = assert_rejected(
        verify_ecs(&headers, br#"{"maxResults":99}"#, ECS_NOW),
        "InvalidSignatureException",
    );
    assert_eq!(
            err.to_string(),
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
        );
}

#[test]
fn tampered_signed_header_is_rejected() {
    let mut headers = signed_ecs_headers();
    set_header(
        &mut headers,
        "X-Amz-Target",
        "AmazonEC2ContainerServiceV20141113.DeleteCluster",
    );
    let err = verify_ecs(&headers, ECS_BODY, ECS_NOW).unwrap_err();
    assert_eq!(err, AuthError::SignatureDoesNotMatch);
    assert_eq!(err.aws_type(), "InvalidSignatureException");
}

#[test]
fn host_must_be_signed() {
    let mut headers = ecs_headers();
    let params = SigningParams {
        access_key_id: ECS_KEY,
        secret: ECS_SECRET,
        session_token: None,
        region: "us-east-1",
        service: "ecs",
        amz_date: ECS_DATE,
    };
    let added = sign_selected(&ecs_request(&headers), &params, |name| {
        name != "host" && botocore_signs(name)
    });
    headers.extend(added);
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "InvalidSignatureException",
    );
    assert_eq!(
        err.to_string(),
        "'Host' must be a 'SignedHeader' in the AWS Authorization."
    );
}

#[test]
fn wrong_secret_is_rejected() {
    let headers = signed_ecs_headers_for("ecs", "not the secret");
    let err = assert_rejected(
        verify_ecs(&headers, ECS_BODY, ECS_NOW),
        "InvalidSignatureException",
    );
    assert_eq!(err, AuthError::SignatureDoesNotMatch);
}

#[test]
fn garbled_signatures_are_mismatches() {
    for signature in ["", "zz", "00", &"0".repeat(64), &"a".repeat(65)] {
        let mut headers = signed_ecs_headers();
        edit_authorization(&mut headers, |a| {
            let (rest, _) = a.split_once("Signature=").expect("signature present");
            format!("{rest}Signature={signature}x")
        });
        assert_rejected(
            verify_ecs(&headers, ECS_BODY, ECS_NOW),
            "InvalidSignatureException",
        );
    }
}

proptest! {
    #[test]
    fn verify_never_panics_on_arbitrary_input(
        authorization in ".*",
        amz_date in ".{0,20}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        path in ".*",
        query in ".*",
        now in any::<i64>(),
    ) {
        let headers = owned(&[
            ("Host", "localhost"),
            ("X-Amz-Date", &amz_date),
            ("Authorization", &authorization),
        ]);
        let request = RequestParts { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        let _ = verify(&request, "ecs", now, |_| Some(ECS_SECRET.to_owned()));
    }

    #[test]
    fn verify_never_panics_on_near_miss_authorization(
        algorithm in "AWS4-[A-Z0-9-]{0,14}",
        credential in "[A-Za-z0-9/_ሴ-]{0,48}",
        signed_headers in "[A-Za-z;-]{0,40}",
        signature in "[0-9a-fA-Fx]{0,70}",
        separator in "[, ]{0,3}",
        amz_date in "[0-9TZ]{14,17}",
        body in proptest::collection::vec(any::<u8>(), 0..64),
        now in any::<i64>(),
    ) {
        let authorization = format!(
            "{algorithm} Credential={credential}{separator}SignedHeaders={signed_headers}{separator}Signature={signature}"
        );
        let headers = owned(&[
            ("Host", "localhost"),
            ("X-Amz-Date", &amz_date),
            ("Authorization", &authorization),
        ]);
        let request = RequestParts { method: "POST", path: "/", query: "", headers: &headers, body: &body };
        let _ = verify(&request, "ecs", now, |_| Some(ECS_SECRET.to_owned()));
    }

    #[test]
    fn whatever_sign_produces_verify_accepts(
        path in "/.{0,40}",
        query in ".{0,40}",
        target in "[ -~\t]{0,40}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        skew in -300_i64..=300,
    ) {
        let mut headers = ecs_headers();
        set_header(&mut headers, "X-Amz-Target", &target);
        let request = RequestParts { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        let added = sign(&request, ECS_KEY, ECS_SECRET, "us-east-1", "ecs", ECS_DATE);
        headers.extend(added);
        let request = RequestParts { method: "POST", path: &path, query: &query, headers: &headers, body: &body };
        let verified = verify(&request, "ecs", ECS_NOW + skew, |key| {
            (key == ECS_KEY).then(|| ECS_SECRET.to_owned())
        });
        prop_assert_eq!(verified, Ok(ecs_verified()));
    }

    #[test]
    fn amz_dates_round_trip(unix in 0_i64..253_402_300_800) {
        prop_assert_eq!(parse_amz_date(&format_amz_date(unix)), Some(unix));
    }

    #[test]
    fn format_amz_date_never_panics(unix in any::<i64>()) {
        let _ = format_amz_date(unix);
    }
}
