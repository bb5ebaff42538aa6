//! Paging tokens: an API's `nextToken`, `NextToken` or `Marker` is either the offset of the
//! next page in an ordered list, or (a cursor) the last item of the page before, so that
//! the next page starts after it wherever it now is: an item added or removed between two
//! pages then neither skips nor repeats another. Both are written so that clients treat them
//! as opaque and a token from elsewhere is refused rather than misread. Each API reads its
//! own page-size member and answers a bad token in its own words.

const TOKEN_PREFIX: &str = "berth1-";
const CURSOR_PREFIX: &str = "berth2-";

/// The token of the page after the item `last`.
pub fn encode_cursor(last: &str) -> String {
    format!("{CURSOR_PREFIX}{}", hex::encode(last))
}

/// The item a token from [`encode_cursor`] names; `None` for anything else.
pub fn decode_cursor(token: &str) -> Option<String> {
    String::from_utf8(hex::decode(token.strip_prefix(CURSOR_PREFIX)?).ok()?).ok()
}

/// The `size` items that sort after `after` in `items` (sorted by `order`), and the cursor
/// of the page after them, if any.
pub fn cursor_page(
    items: Vec<String>,
    after: Option<&str>,
    size: usize,
    order: impl Fn(&str, &str) -> std::cmp::Ordering,
) -> (Vec<String>, Option<String>) {
    let start = after.map_or(0, |after| {
        items.partition_point(|item| order(item, after) != std::cmp::Ordering::Greater)
    });
    let following = items.into_iter().skip(start).take(size.saturating_add(1));
    cursor_page_of(following.collect(), size)
}

/// A page of `size` items from `following`, the items after the cursor in order and at most
/// `size + 1` of them (the one more says whether a page follows), and the cursor of the page
/// after it, if any: for a caller that finds the items itself and stops once it has enough.
pub fn cursor_page_of(mut following: Vec<String>, size: usize) -> (Vec<String>, Option<String>) {
    let more = following.len() > size;
    following.truncate(size);
    let next = following
        .last()
        .filter(|_| more)
        .map(|last| encode_cursor(last));
    (following, next)
}

/// The token of the page that starts at `offset`.
pub fn encode_token(offset: usize) -> String {
    format!("{TOKEN_PREFIX}{offset:x}")
}

/// The offset a token from [`encode_token`] stands for; `None` for anything else.
pub fn decode_token(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix(TOKEN_PREFIX)?, 16).ok()
}

/// The `size` items from offset `start` and the token of the page after them, if any.
pub fn offset_page<T>(items: Vec<T>, start: usize, size: usize) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let end = start.saturating_add(size).min(total);
    let next = (end < total).then(|| encode_token(end));
    (
        items
            .into_iter()
            .skip(start)
            .take(end.saturating_sub(start))
            .collect(),
        next,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_walk_every_item_exactly_once() {
        for total in 0..25 {
            for size in 1..8 {
                let items: Vec<usize> = (0..total).collect();
                let mut seen = Vec::new();
                let mut start = 0;
                loop {
                    let (page, next) = offset_page(items.clone(), start, size);
                    assert!(page.len() <= size);
                    seen.extend(page);
                    match next {
                        Some(token) => start = decode_token(&token).unwrap(),
                        None => break,
                    }
                }
                assert_eq!(seen, items);
            }
        }
    }

    #[test]
    fn only_its_own_tokens_decode() {
        assert_eq!(decode_token(&encode_token(300)), Some(300));
        for bad in ["x", "berth1-zz", "berth1-", "300"] {
            assert_eq!(decode_token(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_start_past_the_end_gives_an_empty_last_page() {
        assert_eq!(offset_page(vec![1, 2], 255, 10), (Vec::new(), None));
    }
}
