//! Cycles in the graph that containers' dependsOn entries draw across a task definition.
//! Separate from `containers`, which checks each entry of one container, because a cycle
//! belongs to the whole task and takes a graph search of its own.

use super::check::{error, Check, CLIENT};
use crate::resources::ContainerDefinition;
use std::collections::HashMap;

/// A dependency cycle would leave every container in it waiting for another forever.
/// `by_name` gives each container's index in `containers`.
pub(super) fn dependency_cycles(
    containers: &[ContainerDefinition],
    by_name: &HashMap<&str, usize>,
) -> Check {
    let edges: Vec<Vec<usize>> = containers
        .iter()
        .map(|c| {
            c.depends_on
                .iter()
                .flatten()
                .filter_map(|d| by_name.get(d.container_name.as_str()).copied())
                .collect()
        })
        .collect();
    let Some(cycle) = find_cycle(&edges) else {
        return Ok(());
    };
    let names: Vec<&str> = cycle
        .iter()
        .map(|&i| containers[i].name.as_deref().unwrap_or_default())
        .collect();
    Err(error(
        CLIENT,
        format_args!("containerDefinitions[{}].dependsOn", cycle[0]),
        format_args!("dependency cycle {}", names.join(" -> ")),
    ))
}

/// The first cycle in a directed graph, as the nodes along it with the first one repeated at
/// the end. Iterative, so a long dependency chain cannot exhaust the stack.
fn find_cycle(edges: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::Unvisited; edges.len()];
    for start in 0..edges.len() {
        if marks[start] != Mark::Unvisited {
            continue;
        }
        marks[start] = Mark::OnPath;
        let mut path = vec![(start, 0)];
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(&target) = edges[node].get(*next) else {
                marks[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match marks[target] {
                Mark::Unvisited => {
                    marks[target] = Mark::OnPath;
                    path.push((target, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|&(n, _)| n == target).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[from..].iter().map(|&(n, _)| n).collect();
                    cycle.push(target);
                    return Some(cycle);
                }
                Mark::Done => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
