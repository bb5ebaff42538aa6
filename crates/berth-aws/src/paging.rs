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

/// The `size` items of `items` that follow `after` in the order of their keys (`key` gives
/// each item's; items with the same key, as one asked for twice, are shown once), and the
/// key of the last item when a page follows: the
/// next page starts after that item wherever it now is, or would be if it is gone, so a
/// change between two pages neither skips nor repeats another item.
pub fn keyed_page<T, K: Ord>(
    items: Vec<T>,
    after: Option<&K>,
    size: usize,
    key: impl Fn(&T) -> K,
) -> (Vec<T>, Option<K>) {
    let mut keyed: Vec<(K, T)> = items.into_iter().map(|item| (key(&item), item)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    let start = after.map_or(0, |after| keyed.partition_point(|(k, _)| k <= after));
    let mut following: Vec<(K, T)> = keyed
        .into_iter()
        .skip(start)
        .take(size.saturating_add(1))
        .collect();
    let more = following.len() > size;
    following.truncate(size);
    let (keys, page): (Vec<K>, Vec<T>) = following.into_iter().unzip();
    (page, keys.into_iter().last().filter(|_| more))
}

/// A time in seconds as part of a page's key: whole microseconds (a key must be ordered,
/// and a float is not).
pub fn time_key(seconds: f64) -> i64 {
    (seconds * 1e6) as i64
}

/// The token of the page after the item whose key is `key` (see [`keyed_page`]).
pub fn encode_key<K: serde::Serialize>(key: &K) -> String {
    // A key is plain data (strings, numbers, tuples of them): it always serializes.
    encode_cursor(&serde_json::to_string(key).unwrap_or_default())
}

/// The key a token from [`encode_key`] names; `None` for anything else.
pub fn decode_key<K: serde::de::DeserializeOwned>(token: &str) -> Option<K> {
    serde_json::from_str(&decode_cursor(token)?).ok()
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
    fn keyed_pages_neither_skip_nor_repeat_when_the_list_changes_between_pages() {
        // Each page, an item before the cursor and one after it come and go: every item
        // present throughout is seen exactly once, in order.
        for size in 1..6 {
            let mut items: Vec<i64> = (0..30).map(|i| i * 10).collect();
            let mut seen: Vec<i64> = Vec::new();
            let mut after: Option<i64> = None;
            let mut turn = 0;
            loop {
                let (page, next) = keyed_page(items.clone(), after.as_ref(), size, |i| -*i);
                assert!(page.len() <= size);
                seen.extend(&page);
                let Some(token) = next.map(|key| encode_key(&key)) else {
                    break;
                };
                after = decode_key(&token);
                turn += 1;
                let cursor = -after.unwrap();
                items.retain(|i| *i != cursor || turn % 2 == 0);
                items.push(cursor + 1000 + turn);
                if turn < 10 {
                    items.push(-turn);
                }
            }
            let throughout: Vec<i64> = (0..30).rev().map(|i| i * 10).collect();
            let kept: Vec<i64> = seen
                .iter()
                .copied()
                .filter(|i| throughout.contains(i))
                .collect();
            let mut once = kept.clone();
            once.dedup();
            assert_eq!(kept, once, "size {size}: repeated");
            assert_eq!(kept, throughout, "size {size}: skipped or out of order");
        }
        assert_eq!(
            keyed_page(vec![3, 1, 3, 2], None, 10, |i| *i),
            (vec![1, 2, 3], None),
            "an item asked for twice is shown once"
        );
        assert_eq!(decode_key::<i64>("berth2-zz"), None);
        assert_eq!(decode_key::<(String, i64)>(&encode_key(&7)), None);
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
