//! What agents ship of their containers' output (`POST /agent/v1/logs`), kept through the log
//! store's captured appends, the whole shipment at once (one commit per segment it touches):
//! each stream remembers the last position it holds, so an agent that resends after a lost
//! answer or its own restart adds nothing twice, and reads on from what the answer says is
//! kept.

use berth_logs::store::{CapturedEvent, CapturedStream, LogError, LogStore, Millis, NewEvent};
use berth_model::agent::{ShipLogsRequest, ShipLogsResponse, StreamPosition};

/// Keeps what `request` carries. A stream whose group is gone is answered with why, and the
/// others are kept; any other failure is the store's, and fails the whole request.
pub fn keep(
    store: &dyn LogStore,
    request: ShipLogsRequest,
    now: Millis,
) -> Result<ShipLogsResponse, LogError> {
    let shipped: Vec<(String, String, bool, Vec<CapturedEvent>)> = request
        .streams
        .into_iter()
        .map(|shipped| {
            let events = shipped
                .events
                .into_iter()
                .map(|e| CapturedEvent {
                    position: e.position,
                    event: NewEvent {
                        timestamp: e.timestamp,
                        message: e.message,
                    },
                })
                .collect();
            (shipped.group, shipped.stream, shipped.create_group, events)
        })
        .collect();
    let streams: Vec<CapturedStream<'_>> = shipped
        .iter()
        .map(|(group, stream, create_group, events)| CapturedStream {
            group,
            stream,
            create_group: *create_group,
            events,
        })
        .collect();
    let kept = store.append_captured(&streams, now)?;
    let streams = kept
        .into_iter()
        .map(|kept| match kept {
            Ok(captured_through) => Ok(StreamPosition {
                captured_through,
                error: None,
            }),
            Err(missing @ LogError::GroupNotFound(_)) => Ok(StreamPosition {
                captured_through: None,
                error: Some(missing.to_string()),
            }),
            Err(fault) => Err(fault),
        })
        .collect::<Result<_, _>>()?;
    Ok(ShipLogsResponse { streams })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_logs::store::{MemoryLogStore, Position};
    use berth_model::agent::{ShippedEvent, ShippedStream};

    fn shipped(group: &str, create_group: bool, positions: &[u64]) -> ShippedStream {
        ShippedStream {
            group: group.into(),
            stream: "ecs/web/t1".into(),
            create_group,
            events: positions
                .iter()
                .map(|p| ShippedEvent {
                    position: *p,
                    timestamp: 1_000 + *p as i64,
                    message: format!("line {p}"),
                })
                .collect(),
        }
    }

    #[test]
    fn a_resend_adds_nothing_twice_and_a_missing_group_is_told() {
        let store = MemoryLogStore::default();
        let request = |streams| ShipLogsRequest {
            container_instance_arn: "arn".into(),
            streams,
        };
        let first = keep(&store, request(vec![shipped("/app", true, &[1, 2])]), 5).unwrap();
        assert_eq!(first.streams[0].captured_through, Some(2));
        let again = request(vec![
            shipped("/app", true, &[2, 3]),
            shipped("/missing", false, &[1]),
        ]);
        let answer = keep(&store, again, 6).unwrap();
        assert_eq!(answer.streams[0].captured_through, Some(3));
        assert_eq!(answer.streams[1].captured_through, None);
        assert!(answer.streams[1]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("/missing")));
        let page = store
            .read("/app", "ecs/web/t1", (None, None), Position::Head, 10)
            .unwrap();
        let messages: Vec<&str> = page.events.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["line 1", "line 2", "line 3"]);
    }
}
