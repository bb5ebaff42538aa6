//! A container's portMappings: protocols, single ports and ranges, host ports by network
//! mode, mapping names, and no port mapped twice. Separate from `containers` because these
//! rules read nothing of the task but its network mode, and compare a container's mappings
//! with each other.

use super::check::{between, digits, ensure, error, one_of, optional_one_of, Check, CLIENT};
use crate::error::ApiError;
use crate::resources::PortMapping;

const PROTOCOLS: &[&str] = &["tcp", "udp"];
const APP_PROTOCOLS: &[&str] = &["http", "http2", "grpc"];

pub(super) fn port_mappings(network_mode: &str, at: &str, mappings: &[PortMapping]) -> Check {
    if mappings.is_empty() {
        return Ok(());
    }
    ensure(
        network_mode != "none",
        CLIENT,
        format!("{at}.portMappings"),
        "not allowed when networkMode is none",
    )?;
    let mut mapped: Vec<(&str, i32, i32, usize)> = Vec::new();
    for (j, mapping) in mappings.iter().enumerate() {
        let path = format!("{at}.portMappings[{j}]");
        let protocol = mapping.protocol.as_deref().unwrap_or("tcp");
        one_of(CLIENT, format!("{path}.protocol"), protocol, PROTOCOLS)?;
        optional_one_of(
            CLIENT,
            format!("{path}.appProtocol"),
            mapping.app_protocol.as_deref(),
            APP_PROTOCOLS,
        )?;
        if let Some(name) = &mapping.name {
            port_mapping_name(&format!("{path}.name"), name)?;
        }
        let (field, first, last) = ports(network_mode, &path, mapping)?;
        let overlap = mapped
            .iter()
            .find(|&&(other, low, high, _)| other == protocol && first <= high && low <= last);
        if let Some(&(_, _, _, k)) = overlap {
            let ports = if first == last {
                first.to_string()
            } else {
                format!("{first}-{last}")
            };
            return Err(error(
                CLIENT,
                format!("{path}.{field}"),
                format_args!("{ports}/{protocol} is already mapped by portMappings[{k}]"),
            ));
        }
        mapped.push((protocol, first, last, j));
    }
    Ok(())
}

/// The member that names a mapping's container ports, and the ports it covers, in a task
/// whose networkMode is `mode`.
fn ports(
    mode: &str,
    path: &str,
    mapping: &PortMapping,
) -> Result<(&'static str, i32, i32), ApiError> {
    match (
        mapping.container_port,
        mapping.container_port_range.as_deref(),
    ) {
        (Some(_), Some(_)) => Err(error(
            CLIENT,
            path,
            "give containerPort or containerPortRange, not both",
        )),
        (None, None) => Err(error(
            CLIENT,
            format!("{path}.containerPort"),
            "required unless containerPortRange is given",
        )),
        (Some(port), None) => {
            between(CLIENT, format!("{path}.containerPort"), port, 1, 65535, "")?;
            if let Some(host) = mapping.host_port {
                between(CLIENT, format!("{path}.hostPort"), host, 0, 65535, "")?;
                // These modes put the container on the host's (or the task's own) network
                // stack, so there is no translation from one port to another.
                ensure(
                    !matches!(mode, "awsvpc" | "host") || host == port,
                    CLIENT,
                    format!("{path}.hostPort"),
                    format_args!(
                        "must equal containerPort ({port}) when networkMode is {mode}, got {host}"
                    ),
                )?;
            }
            Ok(("containerPort", port, port))
        }
        (None, Some(range)) => {
            let range_path = format!("{path}.containerPortRange");
            let (first, last) = port_range(range).ok_or_else(|| {
                error(
                    CLIENT,
                    &range_path,
                    format_args!(
                        "must be \"start-end\" with 1 <= start < end <= 65535, got {range:?}"
                    ),
                )
            })?;
            ensure(
                matches!(mode, "bridge" | "awsvpc"),
                CLIENT,
                &range_path,
                format_args!("needs networkMode bridge or awsvpc, got {mode}"),
            )?;
            ensure(
                mapping.host_port.is_none(),
                CLIENT,
                format!("{path}.hostPort"),
                "must be omitted when containerPortRange is given",
            )?;
            Ok(("containerPortRange", first, last))
        }
    }
}

/// Service Connect and VPC Lattice refer to port mappings by these names.
fn port_mapping_name(path: &str, name: &str) -> Check {
    let length = name.chars().count();
    ensure(
        (1..=64).contains(&length),
        CLIENT,
        path,
        format_args!("must be 1 to 64 characters, got {length}"),
    )?;
    ensure(
        !name.starts_with('-')
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')),
        CLIENT,
        path,
        format_args!(
            "may contain only lowercase letters, numbers, underscores and hyphens, and not start with a hyphen, got {name:?}"
        ),
    )
}

fn port_range(range: &str) -> Option<(i32, i32)> {
    let (first, last) = range.split_once('-')?;
    let first = i32::try_from(digits(first)?).ok()?;
    let last = i32::try_from(digits(last)?).ok()?;
    (1 <= first && first < last && last <= 65535).then_some((first, last))
}
