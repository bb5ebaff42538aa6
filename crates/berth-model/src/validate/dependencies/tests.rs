//! The cycle search, including on chains far deeper than a recursive search could walk.

use super::find_cycle;

#[test]
fn finds_cycles_without_recursion() {
    assert_eq!(find_cycle(&[vec![1], vec![2], vec![]]), None);
    assert_eq!(find_cycle(&[vec![1, 2], vec![2], vec![]]), None);
    assert_eq!(
        find_cycle(&[vec![], vec![2], vec![3], vec![1]]),
        Some(vec![1, 2, 3, 1])
    );
    // A chain far longer than any real task: a recursive search would overflow here.
    let mut chain: Vec<Vec<usize>> = (1..200_000).map(|next| vec![next]).collect();
    chain.push(vec![0]);
    assert_eq!(find_cycle(&chain).map(|c| c.len()), Some(200_001));
}
