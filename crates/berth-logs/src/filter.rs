//! CloudWatch Logs filter patterns, as FilterLogEvents (and `aws logs tail --filter-pattern`)
//! takes them:
//!
//! - unstructured: `ERROR` (every term must occur, case-sensitive), `"quoted phrase"` (with
//!   `\"` for a quote), `-term` (must not occur), `?term ?other` (at least one must occur);
//!   an empty pattern matches every event;
//! - JSON selectors over events that are JSON objects: `{ $.level = "error" }`, `!=`, numeric
//!   `= != < > <= >=` (`{ $.latency > 200 }`), `&&`, `||`, parentheses, nested members
//!   `$.a.b`, array elements `$.list[0]`, `*` wildcards in strings (`"err*"`), `IS NULL`,
//!   `IS TRUE`, `IS FALSE`, `NOT EXISTS`. An event that is not JSON never matches one.
//!
//! Space-delimited patterns (`[ip, user, ...]`) are refused with an error that says so.

use serde_json::Value;
use std::fmt;

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern(Kind);

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Terms(Terms),
    Json(Expr),
}

/// An unstructured pattern's terms, by what they require.
#[derive(Debug, Clone, Default, PartialEq)]
struct Terms {
    all: Vec<String>,
    none: Vec<String>,
    any: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Test(Path, Test),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Member(String),
    Index(usize),
}

type Path = Vec<Step>;

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Compare(Op, Literal),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Number(f64),
    Text(String),
}

/// Why a pattern cannot be used, and where (a character position counted from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub at: usize,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.message, self.at)
    }
}

impl std::error::Error for PatternError {}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let trimmed = text.trim_start();
        let offset = text.len() - trimmed.len();
        let chars: Vec<char> = text.chars().collect();
        let start = text[..offset].chars().count();
        match trimmed.chars().next() {
            Some('{') => {
                let mut parser = Parser {
                    chars: &chars,
                    at: start + 1,
                };
                let expr = parser.or()?;
                parser.skip_spaces();
                parser.expect('}')?;
                parser.skip_spaces();
                if parser.at < chars.len() {
                    return Err(parser.error("nothing may follow the closing }"));
                }
                Ok(Pattern(Kind::Json(expr)))
            }
            Some('[') => Err(PatternError {
                at: start + 1,
                message: "space-delimited patterns ([field, ...]) are not supported by Berth; \
                          use terms or a JSON selector"
                    .into(),
            }),
            _ => terms(&chars).map(|t| Pattern(Kind::Terms(t))),
        }
    }

    pub fn matches(&self, message: &str) -> bool {
        match &self.0 {
            Kind::Terms(terms) => {
                terms.all.iter().all(|t| message.contains(t.as_str()))
                    && !terms.none.iter().any(|t| message.contains(t.as_str()))
                    && (terms.any.is_empty()
                        || terms.any.iter().any(|t| message.contains(t.as_str())))
            }
            Kind::Json(expr) => match serde_json::from_str::<Value>(message) {
                Ok(value) => evaluate(expr, &value),
                Err(_) => false,
            },
        }
    }

    /// Text every matching event contains, for a store to skip events cheaply; may be empty.
    pub fn required_terms(&self) -> Vec<String> {
        match &self.0 {
            Kind::Terms(terms) => terms.all.clone(),
            Kind::Json(_) => Vec::new(),
        }
    }
}

fn terms(chars: &[char]) -> Result<Terms, PatternError> {
    let mut terms = Terms::default();
    let mut at = 0;
    while at < chars.len() {
        if chars[at].is_whitespace() {
            at += 1;
            continue;
        }
        let start = at;
        let list = match chars[at] {
            '-' => {
                at += 1;
                &mut terms.none
            }
            '?' => {
                at += 1;
                &mut terms.any
            }
            _ => &mut terms.all,
        };
        let term = if chars.get(at) == Some(&'"') {
            let (text, end) = quoted(chars, at)?;
            at = end;
            text
        } else {
            let end = (at..chars.len())
                .find(|&i| chars[i].is_whitespace())
                .unwrap_or(chars.len());
            let text: String = chars[at..end].iter().collect();
            if let Some(quote) = text.find('"') {
                return Err(PatternError {
                    at: at + text[..quote].chars().count() + 1,
                    message: "a quote inside a term; quote the whole term".into(),
                });
            }
            at = end;
            text
        };
        if term.is_empty() && chars[start] != '"' {
            return Err(PatternError {
                at: start + 1,
                message: "an operator with no term after it".into(),
            });
        }
        // `""` is an empty phrase, which every event contains.
        if !term.is_empty() {
            list.push(term);
        }
    }
    Ok(terms)
}

/// The text of the quoted string opening at `chars[at]`, and the position after it.
fn quoted(chars: &[char], at: usize) -> Result<(String, usize), PatternError> {
    let mut text = String::new();
    let mut i = at + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                text.push(chars[i + 1]);
                i += 2;
            }
            '"' => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    Err(PatternError {
        at: at + 1,
        message: "unbalanced quote".into(),
    })
}

struct Parser<'a> {
    chars: &'a [char],
    at: usize,
}

impl Parser<'_> {
    fn error(&self, message: &str) -> PatternError {
        PatternError {
            at: self.at + 1,
            message: message.to_string(),
        }
    }

    fn skip_spaces(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, text: &str) -> bool {
        let wanted: Vec<char> = text.chars().collect();
        if self.chars[self.at.min(self.chars.len())..].starts_with(&wanted) {
            self.at += wanted.len();
            true
        } else {
            false
        }
    }

    /// Eats a keyword, case-insensitively, when a word boundary follows it.
    fn eat_word(&mut self, word: &str) -> bool {
        let end = self.at + word.len();
        let Some(found) = self.chars.get(self.at..end) else {
            return false;
        };
        let matches = found
            .iter()
            .zip(word.chars())
            .all(|(a, b)| a.eq_ignore_ascii_case(&b));
        let bounded = !self
            .chars
            .get(end)
            .is_some_and(|c| c.is_alphanumeric() || *c == '_');
        if matches && bounded {
            self.at = end;
        }
        matches && bounded
    }

    fn expect(&mut self, c: char) -> Result<(), PatternError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {c}")))
        }
    }

    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut left = self.and()?;
        loop {
            self.skip_spaces();
            if !self.eat("||") {
                return Ok(left);
            }
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
    }

    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut left = self.unary()?;
        loop {
            self.skip_spaces();
            if !self.eat("&&") {
                return Ok(left);
            }
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, PatternError> {
        self.skip_spaces();
        if self.peek() == Some('(') {
            self.at += 1;
            let inner = self.or()?;
            self.skip_spaces();
            self.expect(')')?;
            return Ok(inner);
        }
        let path = self.path()?;
        self.skip_spaces();
        let test = if self.eat_word("IS") {
            self.skip_spaces();
            if self.eat_word("NULL") {
                Test::IsNull
            } else if self.eat_word("TRUE") {
                Test::IsTrue
            } else if self.eat_word("FALSE") {
                Test::IsFalse
            } else {
                return Err(self.error("expected NULL, TRUE or FALSE after IS"));
            }
        } else if self.eat_word("NOT") {
            self.skip_spaces();
            if !self.eat_word("EXISTS") {
                return Err(self.error("expected EXISTS after NOT"));
            }
            Test::NotExists
        } else {
            let op = self.op()?;
            self.skip_spaces();
            let literal = self.literal()?;
            if matches!(literal, Literal::Text(_)) && !matches!(op, Op::Eq | Op::Ne) {
                return Err(self.error("strings compare with = and != only"));
            }
            Test::Compare(op, literal)
        };
        Ok(Expr::Test(path, test))
    }

    fn path(&mut self) -> Result<Path, PatternError> {
        if !self.eat("$") {
            return Err(self.error("expected a selector starting with $"));
        }
        let mut path = Vec::new();
        loop {
            if self.eat(".") {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
                {
                    self.at += 1;
                }
                if self.at == start {
                    return Err(self.error("expected a member name after ."));
                }
                path.push(Step::Member(self.chars[start..self.at].iter().collect()));
            } else if self.eat("[") {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits: String = self.chars[start..self.at].iter().collect();
                let index = digits
                    .parse::<usize>()
                    .map_err(|_| self.error("expected an array index"))?;
                self.expect(']')?;
                path.push(Step::Index(index));
            } else {
                return Ok(path);
            }
        }
    }

    fn op(&mut self) -> Result<Op, PatternError> {
        for (text, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat(text) {
                return Ok(op);
            }
        }
        Err(self.error("expected =, !=, <, >, <=, >=, IS or NOT EXISTS"))
    }

    fn literal(&mut self) -> Result<Literal, PatternError> {
        if self.peek() == Some('"') {
            let (text, end) = quoted(self.chars, self.at)?;
            self.at = end;
            return Ok(Literal::Text(text));
        }
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && !matches!(c, ')' | '}' | '&' | '|'))
        {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected a value"));
        }
        let word: String = self.chars[start..self.at].iter().collect();
        Ok(match word.parse::<f64>() {
            Ok(number) if number.is_finite() => Literal::Number(number),
            _ => Literal::Text(word),
        })
    }
}

fn select<'v>(value: &'v Value, path: &[Step]) -> Option<&'v Value> {
    path.iter().try_fold(value, |value, step| match step {
        Step::Member(name) => value.get(name),
        Step::Index(index) => value.get(index),
    })
}

fn evaluate(expr: &Expr, event: &Value) -> bool {
    match expr {
        Expr::And(left, right) => evaluate(left, event) && evaluate(right, event),
        Expr::Or(left, right) => evaluate(left, event) || evaluate(right, event),
        Expr::Test(path, test) => {
            let found = select(event, path);
            match test {
                Test::NotExists => found.is_none(),
                Test::IsNull => found.is_some_and(Value::is_null),
                Test::IsTrue => found == Some(&Value::Bool(true)),
                Test::IsFalse => found == Some(&Value::Bool(false)),
                Test::Compare(op, literal) => found.is_some_and(|v| compare(v, *op, literal)),
            }
        }
    }
}

fn compare(value: &Value, op: Op, literal: &Literal) -> bool {
    match literal {
        Literal::Number(wanted) => {
            let Some(number) = value.as_f64() else {
                return false;
            };
            match op {
                Op::Eq => number == *wanted,
                Op::Ne => number != *wanted,
                Op::Lt => number < *wanted,
                Op::Gt => number > *wanted,
                Op::Le => number <= *wanted,
                Op::Ge => number >= *wanted,
            }
        }
        Literal::Text(wanted) => {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return false,
            };
            let equal = wildcard(wanted, &text);
            if op == Op::Eq {
                equal
            } else {
                !equal
            }
        }
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(found) => rest = &rest[found + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ERROR_JSON: &str = r#"{"level": "error", "latency": 250, "user": {"id": 7, "name": "ana"}, "tags": ["web", "eu"], "ok": false, "gone": null, "code": "E42"}"#;
    const INFO_JSON: &str =
        r#"{"level": "info", "latency": 12, "user": {"id": 8}, "tags": [], "ok": true}"#;

    #[test]
    fn patterns_match_as_cloudwatch_matches_them() {
        let table: &[(&str, &str, bool)] = &[
            ("", "anything", true),
            ("   ", "", true),
            ("ERROR", "ERROR: disk full", true),
            ("ERROR", "error: disk full", false),
            ("ERROR disk", "disk ERROR", true),
            ("ERROR disk", "ERROR only", false),
            ("\"disk full\"", "ERROR: disk full now", true),
            ("\"disk full\"", "full disk", false),
            ("\"say \\\"hi\\\"\"", "they say \"hi\" twice", true),
            ("\"\"", "anything at all", true),
            ("ERROR -timeout", "ERROR: disk full", true),
            ("ERROR -timeout", "ERROR: timeout", false),
            ("?ERROR ?WARN", "WARN: slow", true),
            ("?ERROR ?WARN", "INFO: fine", false),
            ("GET ?500 ?503", "GET /a 503", true),
            ("GET ?500 ?503", "POST /a 503", false),
            ("GET ?500 ?503", "GET /a 200", false),
            ("ünï", "ünïcode", true),
            ("/api/v1", "GET /api/v1/users", true),
            ("{ $.level = \"error\" }", ERROR_JSON, true),
            ("{ $.level = \"error\" }", INFO_JSON, false),
            ("{$.level=error}", ERROR_JSON, true),
            ("{ $.level != \"error\" }", INFO_JSON, true),
            ("{ $.latency > 200 }", ERROR_JSON, true),
            ("{ $.latency > 200 }", INFO_JSON, false),
            ("{ $.latency >= 250 && $.latency <= 250 }", ERROR_JSON, true),
            ("{ $.latency < 12 }", INFO_JSON, false),
            ("{ $.latency = 12.0 }", INFO_JSON, true),
            (
                "{ $.level = \"error\" && $.latency > 200 }",
                ERROR_JSON,
                true,
            ),
            (
                "{ $.level = \"error\" && $.latency > 300 }",
                ERROR_JSON,
                false,
            ),
            (
                "{ $.level = \"info\" || $.latency > 200 }",
                ERROR_JSON,
                true,
            ),
            (
                "{ ($.level = \"info\" || $.latency > 200) && $.user.id = 7 }",
                ERROR_JSON,
                true,
            ),
            (
                "{ ($.level = \"info\" || $.latency > 200) && $.user.id = 8 }",
                ERROR_JSON,
                false,
            ),
            ("{ $.user.name = \"ana\" }", ERROR_JSON, true),
            ("{ $.tags[1] = \"eu\" }", ERROR_JSON, true),
            ("{ $.tags[5] = \"eu\" }", ERROR_JSON, false),
            ("{ $.code = \"E*\" }", ERROR_JSON, true),
            ("{ $.code = \"*42\" }", ERROR_JSON, true),
            ("{ $.code = \"E*3\" }", ERROR_JSON, false),
            ("{ $.level = \"e*x*r\" }", ERROR_JSON, false),
            ("{ $.level = \"e*r*or\" }", ERROR_JSON, true),
            ("{ $.gone IS NULL }", ERROR_JSON, true),
            ("{ $.gone IS NULL }", INFO_JSON, false),
            ("{ $.ok IS TRUE }", INFO_JSON, true),
            ("{ $.ok is false }", ERROR_JSON, true),
            ("{ $.missing NOT EXISTS }", ERROR_JSON, true),
            ("{ $.user NOT EXISTS }", ERROR_JSON, false),
            ("{ $.latency = \"250\" }", ERROR_JSON, true),
            ("{ $.level = \"error\" }", "not json at all", false),
            ("{ $.level = \"error\" }", "", false),
            ("{ $.latency > 1 }", r#"{"latency": "250"}"#, false),
            (
                "{ $.a.b.c.d = 1 }",
                r#"{"a": {"b": {"c": {"d": 1}}}}"#,
                true,
            ),
        ];
        for (pattern, message, expected) in table {
            let parsed = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(
                parsed.matches(message),
                *expected,
                "{pattern:?} against {message:?}"
            );
        }
    }

    #[test]
    fn malformed_patterns_say_what_and_where() {
        let table: &[(&str, &str)] = &[
            ("\"unclosed", "unbalanced quote at character 1"),
            ("ERROR \"disk", "unbalanced quote at character 7"),
            ("ER\"ROR", "a quote inside a term; quote the whole term at character 3"),
            ("ERROR -", "an operator with no term after it at character 7"),
            ("{ $.level = \"error\" ", "expected } at character 21"),
            ("{ level = 1 }", "expected a selector starting with $ at character 3"),
            ("{ $.level }", "expected =, !=, <, >, <=, >=, IS or NOT EXISTS at character 11"),
            ("{ $.level = }", "expected a value at character 13"),
            ("{ $.level > \"a\" }", "strings compare with = and != only at character 16"),
            ("{ $.a IS MAYBE }", "expected NULL, TRUE or FALSE after IS at character 10"),
            ("{ $.a NOT THERE }", "expected EXISTS after NOT at character 11"),
            ("{ $. = 1 }", "expected a member name after . at character 5"),
            ("{ $.a[x] = 1 }", "expected an array index at character 7"),
            ("{ $.a = 1 } extra", "nothing may follow the closing } at character 13"),
            ("{ ($.a = 1 }", "expected ) at character 12"),
            ("[ip, user]", "space-delimited patterns ([field, ...]) are not supported by Berth; use terms or a JSON selector at character 1"),
        ];
        for (pattern, expected) in table {
            let error = Pattern::parse(pattern).unwrap_err();
            assert_eq!(error.to_string(), *expected, "{pattern:?}");
        }
    }

    #[test]
    fn required_terms_are_the_plain_ones() {
        let pattern = Pattern::parse("ERROR \"disk full\" -timeout ?a ?b").unwrap();
        assert_eq!(pattern.required_terms(), ["ERROR", "disk full"]);
        assert!(Pattern::parse("{ $.a = 1 }")
            .unwrap()
            .required_terms()
            .is_empty());
    }

    #[test]
    fn wildcards_anchor_at_both_ends() {
        for (pattern, text, expected) in [
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "abc", true),
            ("a*c", "ac", true),
            ("a*b*c", "abc", true),
            ("ab*bc", "abc", false),
            ("*", "", true),
            ("a", "ab", false),
        ] {
            assert_eq!(wildcard(pattern, text), expected, "{pattern} {text}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,40}") {
            let _ = Pattern::parse(&text);
        }

        #[test]
        fn a_match_contains_every_required_term(
            terms in proptest::collection::vec("[a-z]{1,4}", 1..4),
            message in "[a-z ]{0,40}",
        ) {
            let pattern = Pattern::parse(&terms.join(" ")).unwrap();
            if pattern.matches(&message) {
                for term in pattern.required_terms() {
                    prop_assert!(message.contains(&term));
                }
            }
        }
    }
}
