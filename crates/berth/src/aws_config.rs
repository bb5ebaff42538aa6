//! Where the CLI's API calls go and whose key signs them, read from the variables and files the
//! aws CLI reads, so that a command works right after `eval`ing the `export …` line
//! `berth server` prints: `AWS_ENDPOINT_URL` (or `--endpoint`), `AWS_CA_BUNDLE` for an
//! `https://` endpoint, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, else the profile
//! `AWS_PROFILE` (`default`) of `AWS_SHARED_CREDENTIALS_FILE` (`~/.aws/credentials`), and the
//! region from `AWS_REGION` or `AWS_DEFAULT_REGION` (`us-east-1`).

use anyhow::{anyhow, bail, Context, Result};
use berth_client::aws::{Credentials, Server};
use berth_client::endpoint::Endpoint;
use std::path::{Path, PathBuf};

const EXPORT_HINT: &str = "`eval` the `export …` line `berth server` printed";

/// What the environment says, before any connection is made.
#[derive(Debug)]
pub struct Settings {
    pub endpoint_url: String,
    /// The CA an `https://` endpoint's certificate must chain to.
    pub ca_pem: Option<String>,
    pub credentials: Credentials,
    /// Where the key came from, for errors about it.
    pub key_source: String,
}

impl Settings {
    /// From this process's environment and files; `endpoint` is `--endpoint`.
    pub fn from_environment(endpoint: Option<&str>) -> Result<Settings> {
        resolve(endpoint, &|name| std::env::var(name).ok(), &|path| {
            std::fs::read_to_string(path)
        })
    }

    pub fn server(&self) -> Result<Server> {
        Ok(Server {
            endpoint: Endpoint::new(&self.endpoint_url, self.ca_pem.as_deref(), "AWS_CA_BUNDLE")?,
            credentials: self.credentials.clone(),
        })
    }
}

/// The settings `var` (an environment) and `read` (a file system) give, in the aws CLI's order.
fn resolve(
    endpoint: Option<&str>,
    var: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Settings> {
    // An empty variable is as good as unset, as for the aws CLI.
    let var = |name: &str| var(name).filter(|value| !value.is_empty());
    let endpoint_url = match endpoint
        .map(str::to_owned)
        .or_else(|| var("AWS_ENDPOINT_URL"))
    {
        Some(url) => url,
        None => bail!(
            "no endpoint: {EXPORT_HINT} (it sets AWS_ENDPOINT_URL and the key), \
             or pass --endpoint URL"
        ),
    };
    // The aws CLI ignores AWS_CA_BUNDLE for plain HTTP, so a bundle set for other uses is no
    // error here either.
    let ca_pem = match var("AWS_CA_BUNDLE") {
        Some(path) if endpoint_url.starts_with("https://") => {
            Some(read(Path::new(&path)).with_context(|| format!("reading AWS_CA_BUNDLE {path}"))?)
        }
        _ => None,
    };
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let (access_key_id, secret_access_key, key_source) =
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => (id, secret, "AWS_ACCESS_KEY_ID".to_owned()),
            (Some(_), None) | (None, Some(_)) => bail!(
                "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither to use a profile"
            ),
            (None, None) => {
                let file = match var("AWS_SHARED_CREDENTIALS_FILE") {
                    Some(file) => PathBuf::from(file),
                    None => match var("HOME") {
                        Some(home) => Path::new(&home).join(".aws").join("credentials"),
                        None => bail!(
                            "no access key: {EXPORT_HINT}, \
                             or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                        ),
                    },
                };
                let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
                let text = read(&file).with_context(|| {
                    format!("no access key: reading {}; {EXPORT_HINT}", file.display())
                })?;
                let source = format!("profile {profile} of {}", file.display());
                let (id, secret) = profile_key(&text, &profile)
                    .ok_or_else(|| anyhow!("no access key in {source}; {EXPORT_HINT}"))?;
                (id, secret, source)
            }
        };
    Ok(Settings {
        endpoint_url,
        ca_pem,
        credentials: Credentials {
            access_key_id,
            secret_access_key,
            region,
        },
        key_source,
    })
}

/// The key of `[profile]` in a shared-credentials file (INI: `name = value` lines, `#` and `;`
/// comments), when it has both halves.
fn profile_key(text: &str, profile: &str) -> Option<(String, String)> {
    let mut in_profile = false;
    let (mut id, mut secret) = (None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with(['#', ';']) || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = section.trim() == profile;
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if !in_profile {
            continue;
        }
        let value = Some(value.trim().to_owned());
        match name.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => id = value,
            "aws_secret_access_key" => secret = value,
            _ => {}
        }
    }
    id.zip(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const CREDENTIALS: &str =
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n\
                               # Berth's admin key\n[berth]\naws_access_key_id=BKIAADMIN\n\
                               aws_secret_access_key = s3cret\nregion = eu-west-1\n";

    fn resolved(vars: &[(&str, &str)], endpoint: Option<&str>) -> Result<Settings> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve(
            endpoint,
            &|name| vars.get(name).cloned(),
            &|path| match path.to_str() {
                Some("/home/me/.aws/credentials" | "/data/credentials") => Ok(CREDENTIALS.into()),
                Some("/ca.pem") => Ok("PEM".into()),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            },
        )
    }

    #[test]
    fn the_export_line_of_berth_server_is_enough() {
        let settings = resolved(
            &[
                ("AWS_SHARED_CREDENTIALS_FILE", "/data/credentials"),
                ("AWS_PROFILE", "berth"),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                ("AWS_DEFAULT_REGION", "eu-central-1"),
                ("AWS_CA_BUNDLE", "/ca.pem"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(settings.endpoint_url, "http://127.0.0.1:4566");
        assert_eq!(settings.credentials.access_key_id, "BKIAADMIN");
        assert_eq!(settings.credentials.secret_access_key, "s3cret");
        assert_eq!(settings.credentials.region, "eu-central-1");
        assert_eq!(settings.key_source, "profile berth of /data/credentials");
        assert_eq!(settings.ca_pem, None, "no CA for plain HTTP");
        settings.server().unwrap();
    }

    #[test]
    fn keys_in_the_environment_win_and_the_flag_beats_the_variable() {
        let settings = resolved(
            &[
                ("HOME", "/home/me"),
                ("AWS_ENDPOINT_URL", "http://ignored:1"),
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "e"),
                ("AWS_REGION", "ap-south-1"),
                ("AWS_DEFAULT_REGION", "eu-central-1"),
            ],
            Some("https://berth.internal:4566"),
        );
        let error = settings.unwrap().server().unwrap_err().to_string();
        assert!(error.contains("needs AWS_CA_BUNDLE"), "{error}");
        let settings = resolved(
            &[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "e"),
                ("AWS_REGION", "ap-south-1"),
                ("AWS_DEFAULT_REGION", "eu-central-1"),
                ("AWS_CA_BUNDLE", "/ca.pem"),
            ],
            Some("https://berth.internal:4566"),
        )
        .unwrap();
        assert_eq!(settings.endpoint_url, "https://berth.internal:4566");
        assert_eq!(settings.ca_pem.as_deref(), Some("PEM"));
        assert_eq!(settings.credentials.access_key_id, "AKIDENV");
        assert_eq!(settings.credentials.region, "ap-south-1");
    }

    #[test]
    fn the_default_profile_of_the_home_file_and_the_default_region() {
        let settings = resolved(
            &[
                ("HOME", "/home/me"),
                ("AWS_ENDPOINT_URL", "http://h:1"),
                ("AWS_PROFILE", ""),
            ],
            None,
        )
        .unwrap();
        assert_eq!(settings.credentials.access_key_id, "AKIDDEFAULT");
        assert_eq!(settings.credentials.region, "us-east-1");
    }

    #[test]
    fn what_is_missing_is_said_with_what_to_do() {
        let error = |vars: &[(&str, &str)]| resolved(vars, None).unwrap_err().to_string();
        let no_endpoint = error(&[("HOME", "/home/me")]);
        assert!(
            no_endpoint.contains("AWS_ENDPOINT_URL") && no_endpoint.contains("--endpoint"),
            "{no_endpoint}"
        );
        assert!(
            no_endpoint.contains("`berth server` printed"),
            "{no_endpoint}"
        );
        let endpoint = ("AWS_ENDPOINT_URL", "http://h:1");
        let no_profile = error(&[endpoint, ("HOME", "/home/me"), ("AWS_PROFILE", "prod")]);
        assert!(
            no_profile.contains("profile prod of /home/me/.aws/credentials"),
            "{no_profile}"
        );
        let no_file = format!(
            "{:#}",
            resolved(&[endpoint, ("AWS_SHARED_CREDENTIALS_FILE", "/gone")], None).unwrap_err()
        );
        assert!(no_file.contains("reading /gone"), "{no_file}");
        let half = error(&[endpoint, ("AWS_ACCESS_KEY_ID", "AKID")]);
        assert!(half.contains("both"), "{half}");
        let no_bundle = format!(
            "{:#}",
            resolved(
                &[
                    ("AWS_ENDPOINT_URL", "https://h:1"),
                    ("AWS_CA_BUNDLE", "/nope.pem")
                ],
                None
            )
            .unwrap_err()
        );
        assert!(no_bundle.contains("AWS_CA_BUNDLE /nope.pem"), "{no_bundle}");
    }

    #[test]
    fn profiles_are_read_from_their_own_section_only() {
        assert_eq!(
            profile_key(CREDENTIALS, "berth"),
            Some(("BKIAADMIN".into(), "s3cret".into()))
        );
        assert_eq!(profile_key(CREDENTIALS, "prod"), None);
        assert_eq!(
            profile_key(
                "[half]\naws_access_key_id = A\n[other]\naws_secret_access_key = B\n",
                "half"
            ),
            None
        );
    }
}
