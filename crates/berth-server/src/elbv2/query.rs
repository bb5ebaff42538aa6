//! The AWS query protocol's request side: a form-encoded body (`Action=…&Version=…&…`) read
//! into a tree of members, with typed accessors whose errors name the member. Lists arrive as
//! `Names.member.1`, structures as `Matcher.HttpCode`, and the two nest
//! (`Conditions.member.1.PathPatternConfig.Values.member.1`). Pure: no I/O.

use super::Error;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API version every ELBv2 request names.
pub const VERSION: &str = "2015-12-01";

/// A decoded request: the action and its members.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub action: String,
    pub params: Params,
}

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

/// Reads a form-encoded body. Refuses bodies that are not UTF-8, that give a member twice or
/// as both a value and a structure, and those without an `Action`.
pub fn parse(body: &[u8]) -> Result<Request, Error> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::validation("the request body is not UTF-8 form data"))?;
    let mut params = Params::default();
    for (key, value) in form_urlencoded::parse(text.as_bytes()) {
        if key.is_empty() {
            return Err(Error::validation(
                "the request body has a member without a name",
            ));
        }
        params.insert(&key, value.into_owned())?;
    }
    let action = match params.members.remove("Action") {
        Some(Node::Value(action)) if !action.is_empty() => action,
        _ => {
            return Err(Error::new(
                "MissingAction",
                "the request names no Action (send Action=<Operation>&Version=2015-12-01)",
            ))
        }
    };
    match params.members.remove("Version") {
        None => {}
        Some(Node::Value(version)) if version == VERSION => {}
        Some(_) => {
            return Err(Error::new(
                "NoSuchVersion",
                format!("Version: Berth answers ELBv2 version {VERSION}"),
            ))
        }
    }
    Ok(Request { action, params })
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl Params {
    fn insert(&mut self, key: &str, value: String) -> Result<(), Error> {
        let (head, rest) = match key.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (key, None),
        };
        let path = join(&self.path, head);
        if head.is_empty() {
            return Err(Error::validation(format!(
                "{}: a member name has an empty part",
                join(&self.path, key)
            )));
        }
        match rest {
            None => match self.members.insert(head.to_string(), Node::Value(value)) {
                None => Ok(()),
                Some(_) => Err(Error::validation(format!("{path}: given more than once"))),
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
                    Node::Value(_) => Err(Error::validation(format!(
                        "{path}: given both as a value and as a structure"
                    ))),
                }
            }
        }
    }

    fn path(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// Whether the request gives `name` at all.
    pub fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    pub fn string(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.members.get(name) {
            None => Ok(None),
            Some(Node::Value(value)) => Ok(Some(value)),
            Some(Node::Tree(_)) => Err(Error::validation(format!(
                "{}: expected a string, got a structure",
                self.path(name)
            ))),
        }
    }

    pub fn required(&self, name: &str) -> Result<&str, Error> {
        self.string(name)?.ok_or_else(|| {
            Error::validation(format!("{}: a required member is missing", self.path(name)))
        })
    }

    /// An integer member, which must lie in `range`.
    pub fn int(&self, name: &str, range: RangeInclusive<i64>) -> Result<Option<i64>, Error> {
        let Some(text) = self.string(name)? else {
            return Ok(None);
        };
        let n: i64 = text.parse().map_err(|_| {
            Error::validation(format!(
                "{}: expected an integer, got {text:?}",
                self.path(name)
            ))
        })?;
        if !range.contains(&n) {
            return Err(Error::validation(format!(
                "{}: {n} is not between {} and {}",
                self.path(name),
                range.start(),
                range.end()
            )));
        }
        Ok(Some(n))
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        match self.string(name)? {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(Error::validation(format!(
                "{}: expected true or false, got {other:?}",
                self.path(name)
            ))),
        }
    }

    /// A nested structure (`Name.Member=…`).
    pub fn structure(&self, name: &str) -> Result<Option<&Params>, Error> {
        match self.members.get(name) {
            None => Ok(None),
            Some(Node::Tree(tree)) => Ok(Some(tree)),
            // botocore sends an empty structure as `Name=`.
            Some(Node::Value(v)) if v.is_empty() => Ok(None),
            Some(Node::Value(_)) => Err(Error::validation(format!(
                "{}: expected a structure, got a value",
                self.path(name)
            ))),
        }
    }

    /// The entries of a list member (`Name.member.1`, `Name.member.2`, …) in index order.
    fn entries(&self, name: &str) -> Result<Option<Vec<&Node>>, Error> {
        let tree = match self.members.get(name) {
            None => return Ok(None),
            // botocore sends an empty list as `Name=`.
            Some(Node::Value(v)) if v.is_empty() => return Ok(Some(Vec::new())),
            Some(Node::Value(_)) => {
                return Err(Error::validation(format!(
                    "{}: expected a list ({}.member.N), got a value",
                    self.path(name),
                    self.path(name)
                )))
            }
            Some(Node::Tree(tree)) => tree,
        };
        let not_a_list = || {
            Error::validation(format!(
                "{}: expected a list ({}.member.N)",
                self.path(name),
                self.path(name)
            ))
        };
        let (Some(Node::Tree(members)), 1) = (tree.members.get("member"), tree.members.len())
        else {
            return Err(not_a_list());
        };
        let mut indexed = Vec::with_capacity(members.members.len());
        for (index, node) in &members.members {
            let n: u32 = index.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
                Error::validation(format!(
                    "{}.member.{index}: list indexes are numbers from 1",
                    self.path(name)
                ))
            })?;
            indexed.push((n, node));
        }
        indexed.sort_by_key(|(n, _)| *n);
        Ok(Some(indexed.into_iter().map(|(_, node)| node).collect()))
    }

    /// A list of strings.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, Error> {
        let Some(entries) = self.entries(name)? else {
            return Ok(None);
        };
        entries
            .into_iter()
            .map(|node| match node {
                Node::Value(v) => Ok(v.clone()),
                Node::Tree(t) => Err(Error::validation(format!(
                    "{}: expected a string, got a structure",
                    t.path
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A list of structures.
    pub fn structures(&self, name: &str) -> Result<Option<Vec<&Params>>, Error> {
        let Some(entries) = self.entries(name)? else {
            return Ok(None);
        };
        entries
            .into_iter()
            .map(|node| match node {
                Node::Tree(t) => Ok(t),
                Node::Value(_) => Err(Error::validation(format!(
                    "{}: expected a list of structures ({}.member.N.Member)",
                    self.path(name),
                    self.path(name)
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(body: &str) -> Params {
        parse(format!("Action=X&Version=2015-12-01&{body}").as_bytes())
            .unwrap()
            .params
    }

    #[test]
    fn reads_action_and_scalars() {
        let request = parse(b"Action=CreateTargetGroup&Version=2015-12-01&Name=web&Port=8080&HealthCheckEnabled=true&HealthCheckPath=%2Fhealth%3Fx%3D1").unwrap();
        assert_eq!(request.action, "CreateTargetGroup");
        let p = &request.params;
        assert_eq!(p.required("Name").unwrap(), "web");
        assert_eq!(p.int("Port", 1..=65535).unwrap(), Some(8080));
        assert_eq!(p.bool("HealthCheckEnabled").unwrap(), Some(true));
        assert_eq!(p.string("HealthCheckPath").unwrap(), Some("/health?x=1"));
        assert_eq!(p.string("Missing").unwrap(), None);
    }

    #[test]
    fn reads_lists_in_index_order() {
        let p = params("Names.member.2=b&Names.member.10=c&Names.member.1=a");
        assert_eq!(p.strings("Names").unwrap().unwrap(), ["a", "b", "c"]);
        assert_eq!(
            params("Names=").strings("Names").unwrap().unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn reads_nested_structures_and_lists() {
        let p = params(
            "Conditions.member.1.Field=path-pattern\
             &Conditions.member.1.PathPatternConfig.Values.member.1=%2Fapi%2F*\
             &Conditions.member.2.Field=host-header&Conditions.member.2.Values.member.1=a.example\
             &Attributes.member.1.Key=k&Attributes.member.1.Value=v&Matcher.HttpCode=200-299",
        );
        let conditions = p.structures("Conditions").unwrap().unwrap();
        assert_eq!(conditions.len(), 2);
        assert_eq!(conditions[0].required("Field").unwrap(), "path-pattern");
        let config = conditions[0]
            .structure("PathPatternConfig")
            .unwrap()
            .unwrap();
        assert_eq!(config.strings("Values").unwrap().unwrap(), ["/api/*"]);
        assert_eq!(
            conditions[1].strings("Values").unwrap().unwrap(),
            ["a.example"]
        );
        let attributes = p.structures("Attributes").unwrap().unwrap();
        assert_eq!(attributes[0].required("Value").unwrap(), "v");
        let matcher = p.structure("Matcher").unwrap().unwrap();
        assert_eq!(matcher.required("HttpCode").unwrap(), "200-299");
    }

    #[test]
    fn errors_name_the_member() {
        type Access = Box<dyn Fn(&Params) -> Result<(), Error>>;
        let cases: Vec<(&str, Access, &str)> = vec![
            (
                "Port=x",
                Box::new(|p| p.int("Port", 1..=65535).map(drop)),
                "Port",
            ),
            (
                "Port=0",
                Box::new(|p| p.int("Port", 1..=65535).map(drop)),
                "Port",
            ),
            ("", Box::new(|p| p.required("Name").map(drop)), "Name"),
            ("B=yes", Box::new(|p| p.bool("B").map(drop)), "B"),
            (
                "Names=a",
                Box::new(|p| p.strings("Names").map(drop)),
                "Names",
            ),
            (
                "Names.member.x=a",
                Box::new(|p| p.strings("Names").map(drop)),
                "Names.member.x",
            ),
            (
                "Names.foo=a",
                Box::new(|p| p.strings("Names").map(drop)),
                "Names",
            ),
            (
                "Conditions.member.1.Values.member.1.X=a",
                Box::new(|p| {
                    let c = p.structures("Conditions")?.unwrap_or_default();
                    c[0].strings("Values").map(drop)
                }),
                "Conditions.member.1.Values.member.1",
            ),
            (
                "Matcher=200",
                Box::new(|p| p.structure("Matcher").map(drop)),
                "Matcher",
            ),
            ("Name.x=a", Box::new(|p| p.string("Name").map(drop)), "Name"),
        ];
        for (body, access, member) in cases {
            let error = access(&params(body)).unwrap_err();
            assert_eq!(error.code, "ValidationError", "{body}");
            assert!(
                error.message.starts_with(member),
                "{body}: {}",
                error.message
            );
        }
    }

    #[test]
    fn refuses_malformed_bodies() {
        for (body, code) in [
            (&b"Version=2015-12-01"[..], "MissingAction"),
            (b"Action=&Version=2015-12-01", "MissingAction"),
            (b"Action=X&Version=2012-06-01", "NoSuchVersion"),
            (b"Action=X&Name=a&Name=b", "ValidationError"),
            (b"Action=X&Name=a&Name.x=b", "ValidationError"),
            (b"Action=X&Name.x=b&Name=a", "ValidationError"),
            (b"Action=X&=a", "ValidationError"),
            (b"Action=X&A..B=a", "ValidationError"),
            (b"Action=X&Name=\xff", "ValidationError"),
        ] {
            let error = parse(body).unwrap_err();
            assert_eq!(error.code, code, "{}", String::from_utf8_lossy(body));
            assert_eq!(error.status, 400);
        }
    }
}
