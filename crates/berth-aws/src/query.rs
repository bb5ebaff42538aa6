//! The query protocol's request side: a form-encoded body (`Action=…&Version=…&…`) read into
//! a tree of members, with typed accessors whose errors name the member. Lists arrive as
//! `Names.member.1`, structures as `Matcher.HttpCode`, and the two nest
//! (`Conditions.member.1.PathPatternConfig.Values.member.1`).
//!
//! A malformed member is a [`ParamError`]; each API turns it into its own error code
//! (ELBv2 says `ValidationError`, CloudWatch `InvalidParameterValue`).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

/// A decoded request: the action, the API version it names, and its members.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Empty when the body names none.
    pub action: String,
    pub version: Option<String>,
    pub params: Params,
}

/// A member that is missing, malformed or of the wrong kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// Where it sits in the request (`Conditions.member.1.Field`); empty for the body itself.
    pub member: String,
    pub problem: String,
    /// Whether the member is required and was not given.
    pub missing: bool,
}

impl ParamError {
    fn at(member: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            member: member.into(),
            problem: problem.into(),
            missing: false,
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.member.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.member, self.problem)
        }
    }
}

impl std::error::Error for ParamError {}

/// The members of a request or of one structure inside it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params {
    /// Where this structure sits in the request, for error messages (`""` at the top).
    path: String,
    members: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Value(String),
    Tree(Params),
}

/// Reads a form-encoded body. Refuses bodies that are not UTF-8 and those that give a member
/// twice or as both a value and a structure.
pub fn parse(body: &[u8]) -> Result<Request, ParamError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ParamError::at("", "the request body is not UTF-8 form data"))?;
    let mut params = Params::default();
    for (key, value) in form_urlencoded::parse(text.as_bytes()) {
        if key.is_empty() {
            return Err(ParamError::at(
                "",
                "the request body has a member without a name",
            ));
        }
        params.insert(&key, value.into_owned())?;
    }
    let mut top_level = |name: &str| match params.members.remove(name) {
        Some(Node::Value(value)) => Ok(Some(value)),
        Some(Node::Tree(_)) => Err(ParamError::at(name, "expected a string, got a structure")),
        None => Ok(None),
    };
    let action = top_level("Action")?.unwrap_or_default();
    let version = top_level("Version")?;
    Ok(Request {
        action,
        version,
        params,
    })
}

/// The `Version` a form body names, if it can be found; nothing is refused here. The front
/// uses it to pick the API before the signature is checked and the body decoded.
pub fn version_of(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "Version")
        .map(|(_, value)| value.into_owned())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl Params {
    fn insert(&mut self, key: &str, value: String) -> Result<(), ParamError> {
        let (head, rest) = match key.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (key, None),
        };
        let path = join(&self.path, head);
        if head.is_empty() {
            return Err(ParamError::at(
                join(&self.path, key),
                "a member name has an empty part",
            ));
        }
        match rest {
            None => match self.members.insert(head.to_string(), Node::Value(value)) {
                None => Ok(()),
                Some(_) => Err(ParamError::at(path, "given more than once")),
            },
            Some(rest) => {
                let node = self.members.entry(head.to_string()).or_insert_with(|| {
                    Node::Tree(Params {
                        path: path.clone(),
                        members: BTreeMap::new(),
                    })
                });
                match node {
                    Node::Tree(tree) => tree.insert(rest, value),
                    Node::Value(_) => Err(ParamError::at(
                        path,
                        "given both as a value and as a structure",
                    )),
                }
            }
        }
    }

    fn path(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// An error about the member `name` of this structure.
    pub fn error(&self, name: &str, problem: impl Into<String>) -> ParamError {
        ParamError::at(self.path(name), problem)
    }

    /// Whether the request gives `name` at all.
    pub fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    pub fn string(&self, name: &str) -> Result<Option<&str>, ParamError> {
        match self.members.get(name) {
            None => Ok(None),
            Some(Node::Value(value)) => Ok(Some(value)),
            Some(Node::Tree(_)) => Err(self.error(name, "expected a string, got a structure")),
        }
    }

    pub fn required(&self, name: &str) -> Result<&str, ParamError> {
        self.string(name)?.ok_or_else(|| ParamError {
            missing: true,
            ..self.error(name, "a required member is missing")
        })
    }

    /// An integer member, which must lie in `range`.
    pub fn int(&self, name: &str, range: RangeInclusive<i64>) -> Result<Option<i64>, ParamError> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        let n: i64 = text
            .parse()
            .map_err(|_| self.error(name, format!("expected an integer, got {text:?}")))?;
        if !range.contains(&n) {
            return Err(self.error(
                name,
                format!("{n} is not between {} and {}", range.start(), range.end()),
            ));
        }
        Ok(Some(n))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ParamError> {
        match self.string(name)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(self.error(name, format!("expected true or false, got {other:?}"))),
        }
    }

    /// A nested structure (`Name.Member=…`).
    pub fn structure(&self, name: &str) -> Result<Option<&Params>, ParamError> {
        match self.members.get(name) {
            None => Ok(None),
            Some(Node::Tree(tree)) => Ok(Some(tree)),
            // botocore sends an empty structure as `Name=`.
            Some(Node::Value(v)) if v.is_empty() => Ok(None),
            Some(Node::Value(_)) => Err(self.error(name, "expected a structure, got a value")),
        }
    }

    /// The entries of a list member (`Name.member.1`, `Name.member.2`, …) in index order.
    fn entries(&self, name: &str) -> Result<Option<Vec<&Node>>, ParamError> {
        let list = self.path(name);
        let tree = match self.members.get(name) {
            None => return Ok(None),
            // botocore sends an empty list as `Name=`.
            Some(Node::Value(v)) if v.is_empty() => return Ok(Some(Vec::new())),
            Some(Node::Value(_)) => {
                return Err(ParamError::at(
                    &list,
                    format!("expected a list ({list}.member.N), got a value"),
                ))
            }
            Some(Node::Tree(tree)) => tree,
        };
        let (Some(Node::Tree(members)), 1) = (tree.members.get("member"), tree.members.len())
        else {
            return Err(ParamError::at(
                &list,
                format!("expected a list ({list}.member.N)"),
            ));
        };
        let mut indexed = Vec::with_capacity(members.members.len());
        for (index, node) in &members.members {
            let n: u32 = index.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ParamError::at(
                    format!("{list}.member.{index}"),
                    "list indexes are numbers from 1",
                )
            })?;
            indexed.push((n, node));
        }
        indexed.sort_by_key(|(n, _)| *n);
        Ok(Some(indexed.into_iter().map(|(_, node)| node).collect()))
    }

    /// The members as JSON, for an API that reads both protocols into one set of types: a
    /// list (`Name.member.N`) becomes an array in index order, a structure an object, and
    /// every value a string, which such types read numbers and booleans from.
    pub fn to_json(&self) -> Result<serde_json::Value, ParamError> {
        let mut object = serde_json::Map::new();
        for (name, node) in &self.members {
            let value = match node {
                Node::Value(value) => serde_json::Value::String(value.clone()),
                Node::Tree(tree)
                    if tree.members.len() == 1 && tree.members.contains_key("member") =>
                {
                    let items = self
                        .entries(name)?
                        .unwrap_or_default()
                        .into_iter()
                        .map(|node| match node {
                            Node::Value(value) => Ok(serde_json::Value::String(value.clone())),
                            Node::Tree(tree) => tree.to_json(),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    serde_json::Value::Array(items)
                }
                Node::Tree(tree) => tree.to_json()?,
            };
            object.insert(name.clone(), value);
        }
        Ok(serde_json::Value::Object(object))
    }

    /// A list of strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ParamError> {
        let Some(entries) = self.entries(name)? else {
            return Ok(None);
        };
        entries
            .into_iter()
            .map(|node| match node {
                Node::Value(v) => Ok(v.clone()),
                Node::Tree(t) => Err(ParamError::at(
                    &t.path,
                    "expected a string, got a structure",
                )),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A list of structures.
    pub fn structures(&self, name: &str) -> Result<Option<Vec<&Params>>, ParamError> {
        let Some(entries) = self.entries(name)? else {
            return Ok(None);
        };
        let list = self.path(name);
        entries
            .into_iter()
            .map(|node| match node {
                Node::Tree(t) => Ok(t),
                Node::Value(_) => Err(ParamError::at(
                    &list,
                    format!("expected a list of structures ({list}.member.N.Member)"),
                )),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests;
