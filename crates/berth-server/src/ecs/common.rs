//! Small rules several ECS actions share.

/// Whether an `include` member asks for tags.
pub fn wants_tags(include: &Option<Vec<String>>) -> bool {
    include
        .as_ref()
        .is_some_and(|fields| fields.iter().any(|f| f == "TAGS"))
}
