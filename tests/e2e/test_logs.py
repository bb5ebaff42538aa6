"""CloudWatch Logs through the real `aws` CLI and boto3: groups, streams, retention and tags;
5,000 lines written and read back in order, forward and backward; a search with a quoted
term across streams; AWS's errors; every line still there after `kill -9`; and a live tail
read as boto3 reads AWS's event stream."""

from __future__ import annotations

import threading
import time

import botocore.exceptions
import pytest

from conftest import BerthServer, REGION


def logs_client(server: BerthServer):
    return server.client(service="logs")


def now_ms() -> int:
    return int(time.time() * 1000)


def put_lines(logs, group: str, stream: str, lines: list[str], start: int) -> None:
    """In batches, as an agent or a tool writes them."""
    for offset in range(0, len(lines), 1000):
        batch = lines[offset:offset + 1000]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[
            {"timestamp": start + offset + n, "message": line} for n, line in enumerate(batch)])


def read_all(logs, group: str, stream: str) -> list[str]:
    """Forward from the head until the same token comes back, as the SDKs' docs say to."""
    messages, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=700, **kwargs)
        messages += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            return messages
        token = page["nextForwardToken"]


def test_groups_streams_retention_and_tags_through_the_cli(server: BerthServer):
    server.aws("logs", "create-log-group", "--log-group-name", "/ecs/portal", "--tags", "team=portal")
    code, message = server.aws_error("logs", "create-log-group", "--log-group-name", "/ecs/portal")
    assert (code, message) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    server.aws("logs", "put-retention-policy", "--log-group-name", "/ecs/portal", "--retention-in-days", "30")
    code, message = server.aws_error("logs", "put-retention-policy", "--log-group-name", "/ecs/portal",
                                     "--retention-in-days", "10")
    assert code == "InvalidParameterException" and "retentionInDays" in message
    groups = server.aws("logs", "describe-log-groups", "--log-group-name-prefix", "/ecs/")["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in groups] == [("/ecs/portal", 30)]
    assert groups[0]["arn"] == f"arn:aws:logs:{REGION}:000000000000:log-group:/ecs/portal:*"
    tags = server.aws("logs", "list-tags-for-resource", "--resource-arn", groups[0]["logGroupArn"])
    assert tags["tags"] == {"team": "portal"}
    server.aws("logs", "create-log-stream", "--log-group-name", "/ecs/portal", "--log-stream-name", "ecs/web/1")
    streams = server.aws("logs", "describe-log-streams", "--log-group-name", "/ecs/portal")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["ecs/web/1"]
    code, message = server.aws_error("logs", "describe-log-streams", "--log-group-name", "/ecs/missing")
    assert (code, message) == ("ResourceNotFoundException", "The specified log group does not exist.")
    server.aws("logs", "delete-retention-policy", "--log-group-name", "/ecs/portal")
    groups = server.aws("logs", "describe-log-groups")["logGroups"]
    assert "retentionInDays" not in groups[0]
    server.aws("logs", "delete-log-group", "--log-group-name", "/ecs/portal")
    assert server.aws("logs", "describe-log-groups")["logGroups"] == []


def test_lines_come_back_in_order_are_searchable_and_survive_a_crash(server: BerthServer):
    logs = logs_client(server)
    logs.create_log_group(logGroupName="/ecs/indexer")
    for stream in ["ecs/indexer/a", "ecs/indexer/b"]:
        logs.create_log_stream(logGroupName="/ecs/indexer", logStreamName=stream)
    start = now_ms() - 60_000
    lines = [f"line {n:05d} indexed {n * 7 % 1000} documents" for n in range(5000)]
    put_lines(logs, "/ecs/indexer", "ecs/indexer/a", lines, start)
    logs.put_log_events(logGroupName="/ecs/indexer", logStreamName="ecs/indexer/b", logEvents=[
        {"timestamp": start + 2500, "message": "ERROR queue depth 930 over limit"},
        {"timestamp": start + 2501, "message": "error: lower case is another word"}])
    assert read_all(logs, "/ecs/indexer", "ecs/indexer/a") == lines

    tail = logs.get_log_events(logGroupName="/ecs/indexer", logStreamName="ecs/indexer/a", limit=3)
    assert [e["message"] for e in tail["events"]] == lines[-3:]
    before = logs.get_log_events(logGroupName="/ecs/indexer", logStreamName="ecs/indexer/a", limit=3,
                                 nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in before["events"]] == lines[-6:-3]

    found = server.aws("logs", "filter-log-events", "--log-group-name", "/ecs/indexer",
                       "--filter-pattern", '"queue depth"')["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [
        ("ecs/indexer/b", "ERROR queue depth 930 over limit")]
    interleaved = logs.filter_log_events(logGroupName="/ecs/indexer", startTime=start + 2499,
                                         endTime=start + 2501)["events"]
    assert [e["logStreamName"][-1] for e in interleaved] == ["a", "a", "b", "a", "b"], \
        "by time, then stream"
    paginated = [e for page in logs.get_paginator("filter_log_events").paginate(
        logGroupName="/ecs/indexer", logStreamNames=["ecs/indexer/a"], PaginationConfig={"PageSize": 999})
        for e in page["events"]]
    assert [e["message"] for e in paginated] == lines
    assert len({e["eventId"] for e in paginated}) == 5000

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        logs.put_log_events(logGroupName="/ecs/indexer", logStreamName="ecs/indexer/missing",
                            logEvents=[{"timestamp": start, "message": "x"}])
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"

    server.restart_after_crash()
    logs = logs_client(server)
    assert read_all(logs, "/ecs/indexer", "ecs/indexer/a") == lines
    again = logs.filter_log_events(logGroupName="/ecs/indexer", logStreamNames=["ecs/indexer/a"],
                                   filterPattern='"line 04999"')["events"]
    assert [e["eventId"] for e in again] == [paginated[-1]["eventId"]], "ids survive a restart"


def test_live_tail_streams_what_arrives_as_boto3_reads_it(server: BerthServer):
    # botocore prefixes this operation's host (stream-127.0.0.1); the README says to turn that
    # off for an endpoint of your own, as here.
    logs = server.client(service="logs", inject_host_prefix=False)
    logs.create_log_group(logGroupName="/ecs/tail")
    logs.create_log_stream(logGroupName="/ecs/tail", logStreamName="web/1")
    logs.put_log_events(logGroupName="/ecs/tail", logStreamName="web/1",
                        logEvents=[{"timestamp": now_ms(), "message": "ERROR from before the session"}])
    arn = f"arn:aws:logs:{REGION}:000000000000:log-group:/ecs/tail"
    answer = logs.start_live_tail(logGroupIdentifiers=[arn], logEventFilterPattern="ERROR")
    stream = answer["responseStream"]
    events = iter(stream)
    started = next(events)
    assert started["sessionStart"]["logGroupIdentifiers"] == [arn], started

    # The session knows where each stream stood when sessionStart came; what is written from
    # now on is new to it.
    def write_later():
        writer = logs_client(server)
        writer.put_log_events(logGroupName="/ecs/tail", logStreamName="web/1", logEvents=[
            {"timestamp": now_ms(), "message": "INFO all well"},
            {"timestamp": now_ms(), "message": "ERROR boom"}])
        writer.create_log_stream(logGroupName="/ecs/tail", logStreamName="web/2")
        writer.put_log_events(logGroupName="/ecs/tail", logStreamName="web/2", logEvents=[
            {"timestamp": now_ms(), "message": "ERROR in a new stream"}])

    writer = threading.Thread(target=write_later)
    writer.start()
    seen, updates = [], 0
    try:
        for event in events:
            update = event["sessionUpdate"]
            updates += 1
            assert update["sessionMetadata"]["sampled"] is False
            seen += [(r["logStreamName"], r["message"]) for r in update["sessionResults"]]
            if len(seen) >= 2 or updates >= 10:
                break
    finally:
        stream.close()
        writer.join()
    assert sorted(seen) == [("web/1", "ERROR boom"), ("web/2", "ERROR in a new stream")], (seen, updates)

    with pytest.raises(botocore.exceptions.ClientError) as caught:
        logs.start_live_tail(logGroupIdentifiers=["/ecs/missing"])
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
