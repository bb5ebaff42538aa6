//! Tag limits, reserved prefixes and duplicates.

use crate::resources::Tag;
use crate::validate::check::INVALID;
use crate::validate::testing::assert_rejected;

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: Some(key.to_string()),
        value: Some(value.to_string()),
    }
}

#[test]
fn tag_rules() {
    let fifty: Vec<Tag> = (0..50).map(|i| tag(&format!("k{i}"), "v")).collect();
    let valid = [
        fifty.clone(),
        vec![tag(&"k".repeat(128), &"v".repeat(256))],
        // Lengths count characters, not UTF-8 bytes.
        vec![tag(&"é".repeat(128), &"ü".repeat(256))],
        vec![
            tag("empty", ""),
            Tag {
                key: Some("none".to_string()),
                value: None,
            },
        ],
        vec![tag("awsome", "aws:values-are-not-checked")],
        Vec::new(),
    ];
    for tags in valid {
        assert_eq!(super::tags(&tags), Ok(()), "{tags:?}");
    }
    let fifty_one = [fifty, vec![tag("one-more", "v")]].concat();
    let cases = [
        (
            "fifty-one tags",
            fifty_one,
            "tags: at most 50 tags per resource, got 51",
        ),
        (
            "missing key",
            vec![Tag {
                key: None,
                value: Some("v".to_string()),
            }],
            "tags[0].key: required",
        ),
        (
            "empty key",
            vec![tag("ok", "v"), tag("", "v")],
            "tags[1].key: required",
        ),
        (
            "long key",
            vec![tag(&"k".repeat(129), "v")],
            "tags[0].key: must be at most 128 characters, got 129",
        ),
        (
            "long value",
            vec![tag("k", &"v".repeat(257))],
            "tags[0].value: must be at most 256 characters, got 257",
        ),
        (
            "aws prefix",
            vec![tag("aws:cloudformation:stack-name", "x")],
            "tags[0].key: the aws: prefix is reserved for AWS use",
        ),
        (
            "AWS prefix in capitals",
            vec![tag("AwS:owner", "x")],
            "tags[0].key: the aws: prefix is reserved",
        ),
        (
            "duplicate keys",
            vec![tag("team", "a"), tag("team", "b")],
            "tags[1].key: duplicate tag key \"team\", also used by tags[0]",
        ),
    ];
    for (name, tags, needle) in cases {
        assert_rejected(name, super::tags(&tags), INVALID, needle);
    }
}
