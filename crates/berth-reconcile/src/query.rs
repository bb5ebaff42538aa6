//! The subset of ECS's cluster query language that `memberOf` constraints use.
//!
//! ```text
//! expression := term (("and" | "or") term)*        -- evaluated left to right, and binds tighter
//! term       := "(" expression ")" | "not" term | comparison
//! comparison := subject op value | subject "exists" | subject "in" "[" value ("," value)* "]"
//!             | subject "not" "in" "[" … "]"
//! subject    := "attribute:" name | "ec2InstanceId"
//! op         := "==" | "!=" | "=~" (glob with *)
//! ```

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Equals(String, String),
    NotEquals(String, String),
    Matches(String, String),
    Exists(String),
    In(String, Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn tokenize(input: &str) -> Result<Vec<String>, QueryError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if matches!(c, '(' | ')' | '[' | ']' | ',') {
            tokens.push(c.to_string());
            i += 1;
        } else if matches!(c, '=' | '!') {
            let op: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if !matches!(op.as_str(), "==" | "!=" | "=~") {
                return Err(QueryError(format!(
                    "unknown operator {op:?} at position {i}"
                )));
            }
            tokens.push(op);
            i += 2;
        } else {
            let start = i;
            while i < chars.len()
                && !chars[i].is_whitespace()
                && !matches!(chars[i], '(' | ')' | '[' | ']' | ',' | '=' | '!')
            {
                i += 1;
            }
            tokens.push(chars[start..i].iter().collect());
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<String>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.position).map(String::as_str)
    }

    fn next(&mut self) -> Result<String, QueryError> {
        let token = self
            .tokens
            .get(self.position)
            .cloned()
            .ok_or_else(|| QueryError("expression ends too early".into()))?;
        self.position += 1;
        Ok(token)
    }

    fn expect(&mut self, want: &str) -> Result<(), QueryError> {
        let got = self.next()?;
        if got != want {
            return Err(QueryError(format!("expected {want:?}, found {got:?}")));
        }
        Ok(())
    }

    fn expression(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.conjunction()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.position += 1;
            left = Expr::Or(Box::new(left), Box::new(self.conjunction()?));
        }
        Ok(left)
    }

    fn conjunction(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.term()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.position += 1;
            left = Expr::And(Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        match self.peek() {
            Some("(") => {
                self.position += 1;
                let inner = self.expression()?;
                self.expect(")")?;
                Ok(inner)
            }
            Some(t) if t.eq_ignore_ascii_case("not") => {
                self.position += 1;
                Ok(Expr::Not(Box::new(self.term()?)))
            }
            _ => self.comparison(),
        }
    }

    fn subject(&mut self) -> Result<String, QueryError> {
        let token = self.next()?;
        if let Some(name) = token.strip_prefix("attribute:") {
            if name.is_empty() {
                return Err(QueryError("attribute: needs a name".into()));
            }
            return Ok(name.to_string());
        }
        if token == "ec2InstanceId" || token == "instanceId" {
            return Ok(INSTANCE_ID.to_string());
        }
        Err(QueryError(format!(
            "{token:?} is not a subject; use attribute:<name> or ec2InstanceId"
        )))
    }

    fn list(&mut self) -> Result<Vec<String>, QueryError> {
        self.expect("[")?;
        let mut values = vec![self.value()?];
        loop {
            match self.next()?.as_str() {
                "," => values.push(self.value()?),
                "]" => return Ok(values),
                other => {
                    return Err(QueryError(format!(
                        "expected , or ] in a list, found {other:?}"
                    )))
                }
            }
        }
    }

    fn value(&mut self) -> Result<String, QueryError> {
        let token = self.next()?;
        if matches!(token.as_str(), "(" | ")" | "[" | "]" | ",") {
            return Err(QueryError(format!("expected a value, found {token:?}")));
        }
        Ok(token)
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let subject = self.subject()?;
        let op = self.next()?;
        match op.to_ascii_lowercase().as_str() {
            "==" => Ok(Expr::Equals(subject, self.value()?)),
            "!=" => Ok(Expr::NotEquals(subject, self.value()?)),
            "=~" => Ok(Expr::Matches(subject, self.value()?)),
            "exists" => Ok(Expr::Exists(subject)),
            "in" => Ok(Expr::In(subject, self.list()?)),
            "not" => {
                self.expect("in")?;
                Ok(Expr::Not(Box::new(Expr::In(subject, self.list()?))))
            }
            other => Err(QueryError(format!(
                "unknown operator {other:?} after {subject:?}"
            ))),
        }
    }
}

/// The pseudo-attribute an `ec2InstanceId` subject compares against.
pub const INSTANCE_ID: &str = "ecs.instance-id";

pub fn parse(input: &str) -> Result<Expr, QueryError> {
    let mut parser = Parser {
        tokens: tokenize(input)?,
        position: 0,
    };
    let expr = parser.expression()?;
    if let Some(extra) = parser.peek() {
        return Err(QueryError(format!(
            "unexpected {extra:?} after the expression"
        )));
    }
    Ok(expr)
}

fn glob(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((prefix, rest)) => {
            let Some(tail) = value.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

impl Expr {
    pub fn matches(&self, attributes: &BTreeMap<String, String>) -> bool {
        let get = |name: &str| attributes.get(name);
        match self {
            Expr::And(a, b) => a.matches(attributes) && b.matches(attributes),
            Expr::Or(a, b) => a.matches(attributes) || b.matches(attributes),
            Expr::Not(e) => !e.matches(attributes),
            Expr::Equals(name, value) => get(name) == Some(value),
            Expr::NotEquals(name, value) => get(name) != Some(value),
            Expr::Matches(name, pattern) => get(name).is_some_and(|v| glob(pattern, v)),
            Expr::Exists(name) => get(name).is_some(),
            Expr::In(name, values) => get(name).is_some_and(|v| values.contains(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn evaluates_the_supported_forms() {
        let node = attrs(&[
            ("zone", "a"),
            ("ecs.instance-type", "t3.large"),
            (INSTANCE_ID, "i-1"),
        ]);
        let cases = [
            ("attribute:zone == a", true),
            ("attribute:zone != a", false),
            ("attribute:zone in [a, b]", true),
            ("attribute:zone not in [a, b]", false),
            ("attribute:zone exists", true),
            ("attribute:gpu exists", false),
            ("attribute:ecs.instance-type =~ t3.*", true),
            ("attribute:ecs.instance-type =~ m5.*", false),
            ("attribute:zone == b or attribute:zone == a", true),
            ("attribute:zone == a and attribute:gpu exists", false),
            ("not (attribute:zone == b)", true),
            ("ec2InstanceId in [i-1, i-2]", true),
            (
                "attribute:zone == b or attribute:zone == a and attribute:gpu exists",
                false,
            ),
        ];
        for (expression, expected) in cases {
            assert_eq!(
                parse(expression).unwrap().matches(&node),
                expected,
                "{expression}"
            );
        }
    }

    #[test]
    fn refuses_malformed_expressions_with_a_reason() {
        for bad in [
            "",
            "zone == a",
            "attribute: == a",
            "attribute:zone",
            "attribute:zone == ",
            "attribute:zone in a",
            "attribute:zone in [a",
            "attribute:zone <> a",
            "(attribute:zone == a",
            "attribute:zone == a b",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.0.is_empty(), "{bad}");
        }
    }

    #[test]
    fn glob_matches_like_a_shell_star() {
        assert!(glob("t3.*", "t3.micro"));
        assert!(glob("*large", "t3.xlarge"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b", "ac"));
        assert!(glob("*", ""));
    }
}
