use super::*;

fn params(body: &str) -> Params {
    parse(format!("Action=X&Version=2015-12-01&{body}").as_bytes())
        .unwrap()
        .params
}

#[test]
fn reads_action_version_and_scalars() {
    let request = parse(b"Action=CreateTargetGroup&Version=2015-12-01&Name=web&Port=8080&HealthCheckEnabled=true&HealthCheckPath=%2Fhealth%3Fx%3D1").unwrap();
    assert_eq!(request.action, "CreateTargetGroup");
    assert_eq!(request.version.as_deref(), Some("2015-12-01"));
    let p = &request.params;
    assert_eq!(p.required("Name").unwrap(), "web");
    assert_eq!(p.int("Port", 1..=65535).unwrap(), Some(8080));
    assert_eq!(p.bool("HealthCheckEnabled").unwrap(), Some(true));
    assert_eq!(p.string("HealthCheckPath").unwrap(), Some("/health?x=1"));
    assert_eq!(p.string("Missing").unwrap(), None);
    assert!(!p.has("Action") && !p.has("Version"));
}

#[test]
fn action_and_version_may_be_absent() {
    let request = parse(b"Name=web").unwrap();
    assert_eq!((request.action.as_str(), request.version), ("", None));
}

#[test]
fn the_version_is_found_in_any_body() {
    assert_eq!(
        version_of(b"Action=X&Version=2010-08-01&A.B=").as_deref(),
        Some("2010-08-01")
    );
    assert_eq!(
        version_of(b"\xff&Version=2015-12-01").as_deref(),
        Some("2015-12-01")
    );
    assert_eq!(version_of(b"Action=X"), None);
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
    type Access = Box<dyn Fn(&Params) -> Result<(), ParamError>>;
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
        assert_eq!(error.member, member, "{body}");
        assert!(error.to_string().starts_with(member), "{body}: {error}");
    }
    let missing = params("").required("Name").unwrap_err();
    assert!(missing.missing);
    assert!(!params("Port=x").int("Port", 1..=2).unwrap_err().missing);
}

#[test]
fn refuses_malformed_bodies() {
    for body in [
        &b"Action=X&Name=a&Name=b"[..],
        b"Action=X&Name=a&Name.x=b",
        b"Action=X&Name.x=b&Name=a",
        b"Action=X&=a",
        b"Action=X&A..B=a",
        b"Action=X&Name=\xff",
        b"Action.x=X",
        b"Action=X&Action=Y",
    ] {
        assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn members_read_as_json() {
    let p = params(
        "MetricData.member.2.MetricName=b&MetricData.member.1.MetricName=a\
         &MetricData.member.1.Values.member.1=1.5&MetricData.member.1.Dimensions=\
         &MetricData.member.1.StatisticValues.Sum=3&Namespace=App",
    );
    assert_eq!(
        p.to_json().unwrap(),
        serde_json::json!({
            "Namespace": "App",
            "MetricData": [
                {"MetricName": "a", "Values": ["1.5"], "Dimensions": "",
                 "StatisticValues": {"Sum": "3"}},
                {"MetricName": "b"},
            ],
        })
    );
    let bad = params("Names.member.x=a");
    assert!(bad
        .to_json()
        .unwrap_err()
        .to_string()
        .contains("list indexes"));
}
