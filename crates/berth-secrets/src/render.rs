//! One key of a JSON secret, printed as ECS's agent prints it: the agent decodes the secret
//! into Go's `map[string]interface{}` and formats the value with `%v`, so strings come out as
//! they are, numbers as Go's shortest `%g` (`5432`, `1e+06`, `1.23456789e+08`), objects as
//! `map[a:1 b:2]` with sorted keys, arrays as `[1 2]` and null as `<nil>`. Users who moved
//! from ECS depend on exactly these strings.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the secret's value is not a JSON object, so it has no key {key:?}")]
    NotAnObject { key: String },
    #[error(
        "retrieved secret from Secrets Manager did not contain json key {key} (it has: {})",
        if available.is_empty() { "no keys".to_string() } else { available.join(", ") }
    )]
    Missing { key: String, available: Vec<String> },
}

/// The value of `key` in the JSON object `secret`, rendered as ECS renders it.
pub fn json_key(secret: &str, key: &str) -> Result<String, KeyError> {
    let object: Map<String, Value> =
        serde_json::from_str(secret).map_err(|_| KeyError::NotAnObject {
            key: key.to_string(),
        })?;
    match object.get(key) {
        Some(value) => Ok(go_value(value)),
        None => {
            let mut available: Vec<String> = object.keys().cloned().collect();
            available.sort();
            Err(KeyError::Missing {
                key: key.to_string(),
                available,
            })
        }
    }
}

/// `fmt.Sprintf("%v", v)` of a value Go's `encoding/json` decoded into an `interface{}`.
pub fn go_value(value: &Value) -> String {
    let mut out = String::new();
    write_go(&mut out, value);
    out
}

fn write_go(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(s),
        Value::Number(n) => out.push_str(&go_float(n.as_f64().unwrap_or(f64::NAN))),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_go(out, &map[key]);
            }
            out.push(']');
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: the shortest digits that read back as `f`,
/// in exponent form when the exponent is below -4 or at least 6.
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // Rust's `{:e}` also gives the shortest round-tripping digits: `1.23456789e8`.
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_print_as_ecs_prints_them() {
        for (value, printed) in [
            (json!("s3cr3t"), "s3cr3t"),
            (json!(""), ""),
            (json!(5432), "5432"),
            (json!(-17), "-17"),
            (json!(100000), "100000"),
            (json!(1000000), "1e+06"),
            (json!(123456789), "1.23456789e+08"),
            (json!(1.5), "1.5"),
            (json!(0.0001), "0.0001"),
            (json!(0.00001), "1e-05"),
            (json!(1e21), "1e+21"),
            (json!(1e100), "1e+100"),
            (json!(0), "0"),
            (json!(true), "true"),
            (json!(false), "false"),
            (json!(null), "<nil>"),
            (json!([1, "a", null]), "[1 a <nil>]"),
            (json!({"b": 2, "a": 1}), "map[a:1 b:2]"),
            (json!({"n": {"x": [true]}}), "map[n:map[x:[true]]]"),
            (json!({}), "map[]"),
        ] {
            assert_eq!(go_value(&value), printed, "{value}");
        }
    }

    #[test]
    fn a_key_is_picked_from_an_object() {
        let secret = r#"{"username": "app", "password": "hunter2", "port": 5432}"#;
        assert_eq!(json_key(secret, "password").unwrap(), "hunter2");
        assert_eq!(json_key(secret, "port").unwrap(), "5432");
    }

    #[test]
    fn a_missing_key_names_the_keys_there_are_but_no_value() {
        let secret = r#"{"username": "app", "password": "hunter2"}"#;
        let error = json_key(secret, "DATABASE_PASSWORD").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("did not contain json key DATABASE_PASSWORD"),
            "{text}"
        );
        assert!(text.contains("password, username"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_value_that_is_not_an_object_has_no_keys() {
        for secret in ["hunter2", "[1,2]", "\"x\"", ""] {
            assert!(matches!(
                json_key(secret, "k"),
                Err(KeyError::NotAnObject { .. })
            ));
        }
    }
}
