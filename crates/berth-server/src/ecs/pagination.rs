//! ECS's `nextToken` / `maxResults` paging over an already ordered list.

use berth_aws::paging;
use berth_model::requests::Pagination;
use berth_model::ApiError;

/// Returns one page of `items` and the token for the next, if any. A token encodes the offset
/// of the next page; it is opaque to clients and checked on the way in.
pub fn page<T>(
    items: Vec<T>,
    request: &Pagination,
    default_limit: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let limit = match request.max_results {
        None => default_limit,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "maxResults: must be between 1 and 100, got {n}"
            )))
        }
    };
    let start = match request.next_token.as_deref() {
        None | Some("") => 0,
        Some(token) => paging::decode_token(token)
            .ok_or_else(|| ApiError::invalid("nextToken: the token is invalid or expired"))?,
    };
    Ok(paging::offset_page(items, start, limit))
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
                let items: Vec<usize> = (0..total).collect();
                let mut seen = Vec::new();
                let mut token = None;
                loop {
                    let (page, next) =
                        page(items.clone(), &request(Some(size), token.as_deref()), 100).unwrap();
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
        let (first, next) = page((0..30).collect::<Vec<_>>(), &request(None, None), 10).unwrap();
        assert_eq!(first.len(), 10);
        assert!(next.is_some());
    }

    #[test]
    fn refuses_bad_limits_and_tokens() {
        for bad in [0, 101, -1] {
            assert!(page(vec![1], &request(Some(bad), None), 10).is_err());
        }
        for bad in ["x", "berth1-zz", "berth1-"] {
            assert!(page(vec![1], &request(None, Some(bad)), 10).is_err());
        }
    }

    #[test]
    fn a_token_past_the_end_gives_an_empty_page() {
        let (items, next) = page(vec![1, 2], &request(None, Some("berth1-ff")), 10).unwrap();
        assert!(items.is_empty());
        assert!(next.is_none());
    }
}
