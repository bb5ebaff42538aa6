//! Task-level sizes: `cpu` and `memory` as ECS reads them ("1024" or "1 vCPU", "2048" or
//! "2 GB"), and Fargate's table of the cpu and memory pairs it runs. Separate from the task
//! definition rules because a stored task definition's size is read back the same way
//! (`cpu_units`, `memory_mib`), and containers share the memory floor.

use super::check::{digits, ensure, error, CLIENT};
use crate::error::ApiError;

/// Docker 20.10 and later reserve 6 MiB for every container, so less can never start.
pub(super) const MIN_MEMORY_MIB: i64 = 6;

/// Fargate task-level cpu/memory table.
pub fn fargate_cpu_memory(cpu: &str, memory: &str) -> Result<(), ApiError> {
    let cpu = task_cpu(cpu)?;
    let memory = task_memory(memory)?;
    let Some(choices) = fargate_memory_choices(cpu) else {
        return Err(error(
            CLIENT,
            "cpu",
            format_args!(
                "no Fargate configuration exists for cpu {cpu}; Fargate takes 256, 512, 1024, 2048, 4096, 8192 or 16384"
            ),
        ));
    };
    ensure(
        choices.contains(&memory),
        CLIENT,
        "memory",
        format_args!(
            "no Fargate configuration exists for cpu {cpu} and memory {memory}; cpu {cpu} takes memory {}",
            describe_choices(&choices)
        ),
    )
}

/// The memory (MiB) Fargate pairs with a task cpu, from ECS's task size table.
fn fargate_memory_choices(cpu: i64) -> Option<Vec<i64>> {
    let (low, high, step) = match cpu {
        256 => return Some(vec![512, 1024, 2048]),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122880, 8192),
        _ => return None,
    };
    Some(
        (0..)
            .map(|n| low + n * step)
            .take_while(|&m| m <= high)
            .collect(),
    )
}

fn describe_choices(choices: &[i64]) -> String {
    match choices {
        [first, second, .., last] if choices.len() > 4 => {
            format!("{first} to {last} in steps of {}", second - first)
        }
        _ => choices
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// CPU units of a task-level `cpu` member ("1024" or "1 vCPU"), if it reads as one.
pub fn cpu_units(value: &str) -> Option<i64> {
    quantity(value, "vcpu")
}

/// MiB of a task-level `memory` member ("2048" or "2 GB"), if it reads as one.
pub fn memory_mib(value: &str) -> Option<i64> {
    quantity(value, "gb")
}

/// Task cpu as ECS accepts it: CPU units ("1024") or vCPUs ("1 vCPU", "0.25 vcpu").
pub(super) fn task_cpu(value: &str) -> Result<i64, ApiError> {
    let units = quantity(value, "vcpu").ok_or_else(|| {
        error(
            CLIENT,
            "cpu",
            format_args!(
                "must be CPU units such as 1024 or vCPUs such as \"1 vCPU\", got {value:?}"
            ),
        )
    })?;
    ensure(
        (128..=196_608).contains(&units),
        CLIENT,
        "cpu",
        format_args!("must be between 128 and 196608 CPU units (0.125 to 192 vCPUs), got {units}"),
    )?;
    Ok(units)
}

/// Task memory as ECS accepts it: MiB ("2048") or GB ("2 GB", "0.5GB").
pub(super) fn task_memory(value: &str) -> Result<i64, ApiError> {
    let mib = quantity(value, "gb").ok_or_else(|| {
        error(
            CLIENT,
            "memory",
            format_args!("must be MiB such as 2048 or GB such as \"2 GB\", got {value:?}"),
        )
    })?;
    ensure(
        mib >= MIN_MEMORY_MIB,
        CLIENT,
        "memory",
        format_args!("must be at least {MIN_MEMORY_MIB} MiB, got {mib}"),
    )?;
    Ok(mib)
}

/// A whole number of base units, or a decimal number of `unit`s, each worth 1024 base units
/// (vCPU → CPU units, GB → MiB); fractions that do not come out whole are refused.
fn quantity(value: &str, unit: &str) -> Option<i64> {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    match lower.strip_suffix(unit) {
        Some(number) => {
            let number = number.trim_end();
            let (whole_part, fraction) = number.split_once('.').unwrap_or((number, ""));
            if (whole_part.is_empty() && fraction.is_empty()) || fraction.len() > 6 {
                return None;
            }
            let whole_value = if whole_part.is_empty() {
                0
            } else {
                digits(whole_part)?
            };
            let fraction_value = if fraction.is_empty() {
                0
            } else {
                digits(fraction)?
            };
            let scale = 10_i64.pow(u32::try_from(fraction.len()).ok()?);
            let fraction_units = fraction_value * 1024;
            if fraction_units % scale != 0 {
                return None;
            }
            whole_value
                .checked_mul(1024)?
                .checked_add(fraction_units / scale)
        }
        None => digits(value),
    }
}

#[cfg(test)]
mod tests;
