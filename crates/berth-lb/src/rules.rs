//! Listener rules: which target group a request goes to, by host header and path, in
//! priority order, as an Application Load Balancer decides.

/// ALB's wildcard match: `*` is any run of characters (also none), `?` exactly one.
pub fn wildcard(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    // Iterative matching with one backtrack point: linear in practice, no recursion.
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((star_p, star_v)) = star {
            pi = star_p + 1;
            vi = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Matches when the Host header (without port, case-insensitively) matches any pattern.
    HostHeader(Vec<String>),
    /// Matches when the path (case-sensitively, without the query) matches any pattern.
    PathPattern(Vec<String>),
}

impl Condition {
    fn matches(&self, host: &str, path: &str) -> bool {
        match self {
            Condition::HostHeader(patterns) => {
                let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                    if port.chars().all(|c| c.is_ascii_digit()) {
                        h
                    } else {
                        host
                    }
                });
                let host = host.to_ascii_lowercase();
                patterns
                    .iter()
                    .any(|p| wildcard(&p.to_ascii_lowercase(), &host))
            }
            Condition::PathPattern(patterns) => patterns.iter().any(|p| wildcard(p, path)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<T> {
    /// Lower numbers are evaluated first (1–50000 on ALB).
    pub priority: u32,
    /// Every condition must match; a rule without conditions matches everything.
    pub conditions: Vec<Condition>,
    pub forward_to: T,
}

/// The target of the first matching rule by priority, else the listener's default. One pass
/// without allocating, since it runs on every request; of rules with equal priority the
/// earlier one wins.
pub fn route<'a, T>(
    rules: &'a [Rule<T>],
    default: Option<&'a T>,
    host: &str,
    path: &str,
) -> Option<&'a T> {
    let mut best: Option<&Rule<T>> = None;
    for rule in rules {
        if best.is_some_and(|b| b.priority <= rule.priority) {
            continue;
        }
        if rule.conditions.iter().all(|c| c.matches(host, path)) {
            best = Some(rule);
        }
    }
    best.map(|r| &r.forward_to).or(default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, proptest};

    #[test]
    fn wildcards_behave_like_alb() {
        for (pattern, value, expected) in [
            ("*.example.com", "a.example.com", true),
            ("*.example.com", "example.com", false),
            ("/api/*", "/api/v1/users", true),
            ("/api/*", "/api", false),
            ("/img/??.png", "/img/ab.png", true),
            ("/img/??.png", "/img/abc.png", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(wildcard(pattern, value), expected, "{pattern} ~ {value}");
        }
    }

    #[test]
    fn routes_by_priority_then_default() {
        let rules = vec![
            Rule {
                priority: 20,
                conditions: vec![Condition::PathPattern(vec!["/api/*".into()])],
                forward_to: "api",
            },
            Rule {
                priority: 10,
                conditions: vec![Condition::HostHeader(vec!["parks.city.gov".into()])],
                forward_to: "parks",
            },
            Rule {
                priority: 5,
                conditions: vec![
                    Condition::HostHeader(vec!["*.city.gov".into()]),
                    Condition::PathPattern(vec!["/admin*".into()]),
                ],
                forward_to: "admin",
            },
        ];
        let default = "fallback";
        assert_eq!(
            route(&rules, Some(&default), "Parks.City.Gov:8080", "/api/x"),
            Some(&"parks")
        );
        assert_eq!(
            route(&rules, Some(&default), "library.city.gov", "/admin/users"),
            Some(&"admin")
        );
        assert_eq!(
            route(&rules, Some(&default), "other.org", "/api/x"),
            Some(&"api")
        );
        assert_eq!(
            route(&rules, Some(&default), "other.org", "/"),
            Some(&"fallback")
        );
        assert_eq!(route::<&str>(&rules, None, "other.org", "/"), None);
    }

    proptest! {
        #[test]
        fn a_literal_pattern_matches_only_itself(a in "[a-z/.]{0,12}", b in "[a-z/.]{0,12}") {
            prop_assert!(wildcard(&a, &b) == (a == b));
        }

        #[test]
        fn star_matches_any_suffix(prefix in "[a-z]{0,6}", rest in "[a-z/]{0,10}") {
            let pattern = format!("{prefix}*");
            let value = format!("{prefix}{rest}");
            prop_assert!(wildcard(&pattern, &value));
        }
    }
}
