//! Cluster names and container instance attributes, accepted and refused.

use super::{attributes, cluster_name};
use crate::resources::Attribute;
use crate::validate::check::INVALID;
use crate::validate::testing::assert_rejected;

#[test]
fn cluster_names() {
    for name in ["default", "prod-eu_1", &"c".repeat(255)] {
        assert_eq!(cluster_name(name), Ok(()), "{name}");
    }
    for (name, needle) in [
        ("", "clusterName: must not be empty"),
        (
            "my cluster",
            "clusterName: may contain only letters, numbers, hyphens and underscores",
        ),
        ("prod/eu", "clusterName: may contain only"),
        (
            &"c".repeat(256),
            "clusterName: must be at most 255 characters, got 256",
        ),
    ] {
        assert_rejected(name, cluster_name(name), INVALID, needle);
    }
}

#[test]
fn attribute_rules() {
    let attribute = |name: &str, value: Option<&str>| Attribute {
        name: name.into(),
        value: value.map(str::to_string),
    };
    attributes(&[
        attribute("zone", Some("a")),
        attribute("ecs.os-type", Some("linux")),
        attribute("team/x_y\\z", None),
        attribute("path", Some("s3://bucket/key @v1")),
    ])
    .expect("valid attributes");
    let cases = [
        (
            "empty name",
            vec![attribute("", None)],
            "attributes[0].name: required",
        ),
        (
            "space in name",
            vec![attribute("my zone", None)],
            "attributes[0].name: 1 to 128",
        ),
        (
            "long name",
            vec![attribute(&"n".repeat(129), None)],
            "attributes[0].name: 1 to 128",
        ),
        (
            "duplicate",
            vec![attribute("zone", Some("a")), attribute("zone", Some("b"))],
            "attributes[1].name: duplicate attribute \"zone\", also given as attributes[0]",
        ),
        (
            "empty value",
            vec![attribute("zone", Some(""))],
            "attributes[0].value: 1 to 128",
        ),
        (
            "leading space",
            vec![attribute("zone", Some(" a"))],
            "attributes[0].value",
        ),
        (
            "bad character",
            vec![attribute("zone", Some("a=b"))],
            "attributes[0].value",
        ),
    ];
    for (name, given, needle) in cases {
        assert_rejected(name, attributes(&given), INVALID, needle);
    }
}
