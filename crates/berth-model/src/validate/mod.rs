//! The checks ECS applies to a request before it stores anything.
//!
//! Each function returns the first problem it finds, with the exception kind ECS answers it
//! with: `ClientException` for task definitions, `InvalidParameterException` for service and
//! task parameters. Every message starts with the path of the offending member
//! (`containerDefinitions[1].healthCheck.interval: …`): a task definition nests dozens of
//! values, and naming the exact one is what lets a user fix it without guessing.
//!
//! The rules are grouped by the resource whose requests they check (`task_definitions`,
//! `services`, `tasks`, `clusters`, `tags`), with a module of its own for each part of a
//! request that several of those share or that a task definition nests deeply
//! (`containers`, `ports`, `dependencies`, `secrets`, `sizes`, `placement`, `deployments`,
//! `load_balancers`). `check` holds the helpers that build every message and imports no
//! other module here; `inputs` says which rules each action's input is checked against.

mod check;
mod clusters;
mod containers;
mod dependencies;
mod deployments;
mod inputs;
mod load_balancers;
mod placement;
mod ports;
mod secrets;
mod services;
mod sizes;
mod tags;
mod task_definitions;
mod tasks;
#[cfg(test)]
mod testing;

// Callers name every rule `validate::…`, whichever file it lives in.
pub use clusters::{attributes, cluster_name};
pub use services::{create_service, update_service};
pub use sizes::{cpu_units, fargate_cpu_memory, memory_mib};
pub use tags::tags;
pub use task_definitions::register_task_definition;
pub use tasks::run_task;
