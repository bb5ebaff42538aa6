//! ECS's `environmentFiles`, read where Berth can read them: on the agent's own host, named
//! by `file:///path` or an absolute path (a Berth extension; the `type` stays `s3`, the only
//! one ECS's API knows). An S3 object, or anything else Berth cannot fetch, fails the task
//! before any container starts, naming the file, instead of being skipped.
//!
//! A file holds `VARIABLE=VALUE` lines, split at the first `=` with nothing unquoted or
//! trimmed; blank lines and lines starting with `#` are skipped. When several files set a
//! variable, the first file wins, and the container's `environment` wins over them all, as
//! on ECS. A line that is neither is an error naming its line, where ECS's agent skips it.

use berth_model::resources::ContainerDefinition;
use serde_json::Value;
use std::path::PathBuf;

/// What ECS's stopped reason starts with when an environment file cannot be had.
pub const FAILURE_PREFIX: &str = "ResourceInitializationError: failed to download env files";

/// Where on this host an environment file's `value` points, or why Berth cannot read it.
pub fn location(value: &str) -> Result<PathBuf, String> {
    let path = value.strip_prefix("file://").unwrap_or(value);
    if path.starts_with('/') {
        return Ok(PathBuf::from(path));
    }
    if value.starts_with("arn:") {
        return Err(
            "Berth does not fetch S3 objects; put the file on the agent's host and name it \
             file:///path/to/file.env"
                .to_string(),
        );
    }
    Err("not a file:// URL or an absolute path on the agent's host".to_string())
}

/// The variables of one file's text, in order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                pairs.push((name.to_string(), value.to_string()))
            }
            _ => return Err(format!("line {} is not VARIABLE=VALUE", index + 1)),
        }
    }
    Ok(pairs)
}

/// Every variable a container's environment files set, the first file's value winning; the
/// error is ECS's stopped reason, naming each file that could not be had and why.
pub fn read(container: &ContainerDefinition) -> Result<Vec<(String, String)>, String> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut problems = Vec::new();
    for file in container.environment_files.iter().flatten() {
        let value = file
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let read = location(value).and_then(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            parse(&text)
        });
        match read {
            Ok(pairs) => {
                for (name, value) in pairs {
                    if !merged.iter().any(|(known, _)| *known == name) {
                        merged.push((name, value));
                    }
                }
            }
            Err(why) => problems.push(format!("{value}: {why}")),
        }
    }
    if problems.is_empty() {
        Ok(merged)
    } else {
        Err(format!("{FAILURE_PREFIX}: {}", problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lines_split_at_the_first_equals_sign_and_comments_are_skipped() {
        let text = "# settings\nA=1\n\nB=x=y\r\nC=\n  \nD= spaced \"quoted\" \n";
        assert_eq!(
            parse(text).unwrap(),
            pairs(&[
                ("A", "1"),
                ("B", "x=y"),
                ("C", ""),
                ("D", " spaced \"quoted\" ")
            ])
        );
        assert_eq!(parse("").unwrap(), pairs(&[]));
    }

    #[test]
    fn a_line_that_is_no_assignment_is_named() {
        assert_eq!(
            parse("A=1\nexport\n").unwrap_err(),
            "line 2 is not VARIABLE=VALUE"
        );
        assert_eq!(parse("=1").unwrap_err(), "line 1 is not VARIABLE=VALUE");
    }

    #[test]
    fn only_files_on_the_host_can_be_read() {
        assert_eq!(
            location("file:///etc/app.env").unwrap(),
            PathBuf::from("/etc/app.env")
        );
        assert_eq!(
            location("/etc/app.env").unwrap(),
            PathBuf::from("/etc/app.env")
        );
        assert!(location("arn:aws:s3:::bucket/app.env")
            .unwrap_err()
            .contains("does not fetch S3 objects"));
        for relative in ["app.env", "file://app.env", ""] {
            assert!(location(relative).is_err(), "{relative}");
        }
    }

    #[test]
    fn the_first_file_wins_and_every_failure_is_named() {
        let dir = std::env::temp_dir().join(format!("berth-env-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = dir.join("first.env");
        let second = dir.join("second.env");
        std::fs::write(&first, "A=first\nB=first\n").unwrap();
        std::fs::write(&second, "B=second\nC=second\n").unwrap();
        let container = |files: Value| -> ContainerDefinition {
            serde_json::from_value(json!({"name": "app", "environmentFiles": files})).unwrap()
        };
        let both = container(json!([
            {"value": format!("file://{}", first.display()), "type": "s3"},
            {"value": second.display().to_string(), "type": "s3"}
        ]));
        assert_eq!(
            read(&both).unwrap(),
            pairs(&[("A", "first"), ("B", "first"), ("C", "second")])
        );
        let broken = container(json!([
            {"value": "arn:aws:s3:::bucket/app.env", "type": "s3"},
            {"value": dir.join("missing.env").display().to_string(), "type": "s3"},
            {"value": first.display().to_string(), "type": "s3"}
        ]));
        let reason = read(&broken).unwrap_err();
        assert!(
            reason.starts_with(&format!(
                "{FAILURE_PREFIX}: arn:aws:s3:::bucket/app.env: Berth does not fetch S3 objects"
            )),
            "{reason}"
        );
        assert!(
            reason.contains("missing.env: No such file or directory"),
            "{reason}"
        );
        assert_eq!(read(&container(json!([]))).unwrap(), pairs(&[]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
