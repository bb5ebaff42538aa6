//! ECS's `nextToken` / `maxResults` paging over an already ordered list of ARNs or names.

use berth_aws::paging;
use berth_model::requests::Pagination;
use berth_model::ApiError;
use std::cmp::Ordering;

/// Returns one page of `items` (sorted by `order`) and the token for the next, if any. A
/// token names the last item of its page, so the next page starts after it even when items
/// came or went between the two calls; it is opaque to clients and checked on the way in.
pub fn page_by(
    items: Vec<String>,
    request: &Pagination,
    default_limit: usize,
    order: impl Fn(&str, &str) -> Ordering,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    let window = Window::of(request, default_limit)?;
    Ok(paging::cursor_page(
        items,
        window.after.as_deref(),
        window.limit,
        order,
    ))
}

/// What a request asks of a page: how many items at most, and the item its token names (the
/// page starts after it).
pub struct Window {
    pub limit: usize,
    pub after: Option<String>,
}

impl Window {
    pub fn of(request: &Pagination, default_limit: usize) -> Result<Window, ApiError> {
        let limit = match request.max_results {
            None => default_limit,
            Some(n) if (1..=100).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::invalid(format!(
                    "maxResults: must be between 1 and 100, got {n}"
                )))
            }
        };
        let after =
            match request.next_token.as_deref() {
                None | Some("") => None,
                Some(token) => Some(paging::decode_cursor(token).ok_or_else(|| {
                    ApiError::invalid("nextToken: the token is invalid or expired")
                })?),
            };
        Ok(Window { limit, after })
    }

    /// The page of `items` (in the order of their text) that the window shows, and the token
    /// of the next: each item is looked at only until the page is full, and only the page's
    /// items are copied.
    pub fn page<'i>(
        &self,
        items: impl IntoIterator<Item = &'i str>,
    ) -> (Vec<String>, Option<String>) {
        let following = items
            .into_iter()
            .filter(|item| self.after.as_deref().is_none_or(|after| *item > after))
            .take(self.limit + 1)
            .map(str::to_string)
            .collect();
        paging::cursor_page_of(following, self.limit)
    }
}

/// [`page_by`] over items in the order of their text: ARNs of one cluster and kind (their
/// keys follow one prefix), and names.
pub fn page(
    items: Vec<String>,
    request: &Pagination,
    default_limit: usize,
) -> Result<(Vec<String>, Option<String>), ApiError> {
    page_by(items, request, default_limit, str::cmp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(max: Option<i32>, token: Option<&str>) -> Pagination {
        Pagination {
            max_results: max,
            next_token: token.map(str::to_string),
        }
    }

    #[test]
    fn walks_every_item_exactly_once() {
        for total in 0..25 {
            for size in 1..8 {
                let items: Vec<String> = (0..total).map(|i| format!("i{i:03}")).collect();
                let mut seen = Vec::new();
                let mut token = None;
                loop {
                    let asked = request(Some(size), token.as_deref());
                    let (page, next) = page(items.clone(), &asked, 100).unwrap();
                    assert_eq!(
                        Window::of(&asked, 100)
                            .unwrap()
                            .page(items.iter().map(String::as_str)),
                        (page.clone(), next.clone()),
                        "a window's page is the same page"
                    );
                    assert!(page.len() <= size as usize);
                    seen.extend(page);
                    match next {
                        Some(t) => token = Some(t),
                        None => break,
                    }
                }
                assert_eq!(seen, items);
            }
        }
    }

    #[test]
    fn applies_the_default_limit() {
        let items: Vec<String> = (0..30).map(|i| format!("i{i:03}")).collect();
        let (first, next) = page(items, &request(None, None), 10).unwrap();
        assert_eq!(first.len(), 10);
        assert!(next.is_some());
    }

    #[test]
    fn refuses_bad_limits_and_tokens() {
        for bad in [0, 101, -1] {
            assert!(page(vec!["a".into()], &request(Some(bad), None), 10).is_err());
        }
        for bad in ["x", "berth2-zz", "berth1-0a"] {
            assert!(page(vec!["a".into()], &request(None, Some(bad)), 10).is_err());
        }
    }

    #[test]
    fn a_token_past_the_end_gives_an_empty_page() {
        let token = paging::encode_cursor("zz");
        let (items, next) = page(
            vec!["a".into(), "b".into()],
            &request(None, Some(&token)),
            10,
        )
        .unwrap();
        assert!(items.is_empty());
        assert!(next.is_none());
    }

    /// Items added or removed between pages neither skip nor repeat another: the next page
    /// starts after the last item shown, wherever it is now.
    #[test]
    fn pages_stay_true_while_the_list_changes() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let (first, next) =
            page(names(&["a", "c", "e", "g"]), &request(Some(2), None), 10).unwrap();
        assert_eq!(first, ["a", "c"]);
        // "a" and "c" went, "b" and "f" came: the rest is still "e", "f", "g".
        let (second, next) = page(
            names(&["b", "e", "f", "g"]),
            &request(Some(2), next.as_deref()),
            10,
        )
        .unwrap();
        assert_eq!(second, ["e", "f"]);
        let (third, next) = page(
            names(&["b", "e", "f", "g"]),
            &request(Some(2), next.as_deref()),
            10,
        )
        .unwrap();
        assert_eq!(third, ["g"]);
        assert!(next.is_none());
    }

    #[test]
    fn an_order_of_its_own_pages_by_it() {
        let by_number = |a: &str, b: &str| {
            let n = |s: &str| s.rsplit(':').next().unwrap().parse::<u32>().unwrap();
            n(a).cmp(&n(b))
        };
        let items = || vec!["f:2".to_string(), "f:9".into(), "f:10".into()];
        let (first, next) = page_by(items(), &request(Some(2), None), 10, by_number).unwrap();
        assert_eq!(first, ["f:2", "f:9"]);
        let (rest, _) =
            page_by(items(), &request(Some(2), next.as_deref()), 10, by_number).unwrap();
        assert_eq!(rest, ["f:10"]);
    }
}
