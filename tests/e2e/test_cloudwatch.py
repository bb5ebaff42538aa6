"""CloudWatch metrics through the real `aws` CLI and boto3 (botocore 1.44.5, which speaks
JSON 1.0 to CloudWatch), through an older boto3 (botocore 1.42.6, in .venv-query) that
speaks the query protocol, and through boto3 made to speak smithy-rpc-v2-cbor: datapoints with dimensions, values and statistic sets; statistics
and percentiles; metric math; listing with filters and pages; gzip-compressed bodies; and
AWS's errors."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import time
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION, REPO, BerthServer, RawResponse, send_http

QUERY_VENV_PYTHON = REPO / ".venv-query" / "bin" / "python"


def cloudwatch(server: BerthServer, **config):
    return server.client(service="cloudwatch", **config)


def minute_ago(minutes: int) -> int:
    """The start of the minute `minutes` before this one."""
    return int(time.time()) // 60 * 60 - minutes * 60


def sent_requests(client) -> list:
    """Every request `client` sends from now on, as botocore sends it."""
    sent = []
    client.meta.events.register("before-send.cloudwatch.*", lambda request, **_: sent.append(request))
    return sent


def test_the_cli_puts_dimensions_and_statistic_sets_and_reads_statistics(server: BerthServer):
    at = minute_ago(5)
    dimensions = [{"Name": "Service", "Value": "web"}, {"Name": "Cluster", "Value": "prod"}]
    server.aws("cloudwatch", "put-metric-data", "--namespace", "Portal", "--metric-data", json.dumps([
        {"MetricName": "Latency", "Dimensions": dimensions, "Timestamp": at + 5,
         "Values": [10, 20, 30, 40], "Counts": [1, 1, 1, 7], "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dimensions, "Timestamp": at + 65,
         "StatisticValues": {"SampleCount": 4, "Sum": 100, "Minimum": 5, "Maximum": 50},
         "Unit": "Milliseconds"},
        {"MetricName": "Latency", "Dimensions": dimensions, "Timestamp": at + 130,
         "Value": 7, "Unit": "Milliseconds", "StorageResolution": 1},
    ]))
    stats = server.aws("cloudwatch", "get-metric-statistics", "--namespace", "Portal",
                       "--metric-name", "Latency", "--dimensions", "Name=Cluster,Value=prod",
                       "Name=Service,Value=web", "--start-time", str(at), "--end-time", str(at + 180),
                       "--period", "60", "--statistics", "SampleCount", "Sum", "Average", "Minimum",
                       "Maximum")
    assert stats["Label"] == "Latency"
    points = sorted(stats["Datapoints"], key=lambda p: p["Timestamp"])
    assert [(p["SampleCount"], p["Sum"], p["Average"], p["Minimum"], p["Maximum"], p["Unit"])
            for p in points] == [(10.0, 340.0, 34.0, 10.0, 40.0, "Milliseconds"),
                                 (4.0, 100.0, 25.0, 5.0, 50.0, "Milliseconds"),
                                 (1.0, 7.0, 7.0, 7.0, 7.0, "Milliseconds")]
    percentiles = server.aws("cloudwatch", "get-metric-statistics", "--namespace", "Portal",
                             "--metric-name", "Latency", "--dimensions", "Name=Service,Value=web",
                             "Name=Cluster,Value=prod", "--start-time", str(at),
                             "--end-time", str(at + 180), "--period", "60",
                             "--extended-statistics", "p30", "p99.9", "--unit", "Milliseconds")
    by_time = {p["Timestamp"]: p.get("ExtendedStatistics") for p in percentiles["Datapoints"]}
    assert len(by_time) == 3
    values = [by_time[t] for t in sorted(by_time)]
    assert values == [{"p30": 30.0, "p99.9": 40.0}, None, {"p30": 7.0, "p99.9": 7.0}], \
        "a statistic set with a spread hides its values, as on AWS"
    empty = server.aws("cloudwatch", "get-metric-statistics", "--namespace", "Portal",
                       "--metric-name", "Latency", "--start-time", str(at), "--end-time", str(at + 180),
                       "--period", "60", "--statistics", "Sum")
    assert empty["Datapoints"] == [], "a metric is its exact dimensions"


def test_boto3_speaks_json_1_0_and_gets_metric_data_with_math_and_pages(server: BerthServer):
    cw = cloudwatch(server)
    sent = sent_requests(cw)
    t0 = minute_ago(10)
    def put(name, service, points):
        cw.put_metric_data(Namespace="Portal", MetricData=[
            {"MetricName": name, "Dimensions": [{"Name": "Service", "Value": service}],
             "Timestamp": t0 + offset, "Value": value, "Unit": "Count"} for offset, value in points])
    put("Errors", "web", [(0, 1), (60, 4), (120, 0)])
    put("Requests", "web", [(0, 10), (60, 20), (120, 0)])
    put("Requests", "api", [(0, 5), (120, 7)])
    assert sent[0].headers["Content-Type"] == b"application/x-amz-json-1.0"
    assert sent[0].headers["X-Amz-Target"] == b"GraniteServiceVersion20100801.PutMetricData"
    assert sent[0].headers["x-amzn-query-mode"] == b"true"

    def stat(id_, name, service):
        return {"Id": id_, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": "Portal", "MetricName": name,
                       "Dimensions": [{"Name": "Service", "Value": service}]},
            "Period": 60, "Stat": "Sum"}}
    queries = [stat("errors", "Errors", "web"), stat("web", "Requests", "web"),
               stat("api", "Requests", "api"),
               {"Id": "rate", "Expression": "100 * errors / web", "Label": "Error rate"},
               {"Id": "total", "Expression": "SUM(METRICS(\"Requests\"))"}]
    start = t0 - 60
    end = t0 + 180
    answer = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end,
                                ScanBy="TimestampAscending")
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    assert set(results) == {"rate", "total"}
    assert results["rate"]["Label"] == "Error rate"
    assert [int(t.timestamp()) for t in results["rate"]["Timestamps"]] == [t0, t0 + 60]
    assert results["rate"]["Values"] == [10.0, 20.0]
    assert results["total"]["Values"] == [15.0, 20.0, 7.0]
    assert all(r["StatusCode"] == "Complete" for r in results.values())

    newest_first = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    assert {r["Id"]: r["Values"] for r in newest_first["MetricDataResults"]}["total"] == [7.0, 20.0, 15.0]

    pages = cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending",
        MaxDatapoints=2)
    seen: dict[str, list[float]] = {}
    count = 0
    for page in pages:
        count += 1
        assert sum(len(r["Values"]) for r in page["MetricDataResults"]) <= 2
        for r in page["MetricDataResults"]:
            seen.setdefault(r["Id"], []).extend(r["Values"])
    assert count == 3
    assert seen == {"rate": [10.0, 20.0], "total": [15.0, 20.0, 7.0]}


def test_list_metrics_filters_and_pages(server: BerthServer):
    cw = cloudwatch(server)
    for chunk in range(3):
        cw.put_metric_data(Namespace="Fleet", MetricData=[
            {"MetricName": "Cpu", "Value": 1.0,
             "Dimensions": [{"Name": "Task", "Value": f"t{chunk * 250 + n:04d}"},
                            {"Name": "Cluster", "Value": "prod"}]} for n in range(250)])
    cw.put_metric_data(Namespace="Portal", MetricData=[
        {"MetricName": "QueueDepth", "Value": 3.0, "Dimensions": [{"Name": "Queue", "Value": "index"}]}])
    pages = list(cw.get_paginator("list_metrics").paginate(Namespace="Fleet"))
    assert [len(p["Metrics"]) for p in pages] == [500, 250]
    tasks = [m["Dimensions"] for p in pages for m in p["Metrics"]]
    assert len({json.dumps(d) for d in tasks}) == 750
    one = server.aws("cloudwatch", "list-metrics", "--dimensions", "Name=Task,Value=t0042")
    assert one["Metrics"] == [{"Namespace": "Fleet", "MetricName": "Cpu", "Dimensions": [
        {"Name": "Cluster", "Value": "prod"}, {"Name": "Task", "Value": "t0042"}]}]
    queue = server.aws("cloudwatch", "list-metrics", "--metric-name", "QueueDepth",
                       "--recently-active", "PT3H")
    assert [m["Namespace"] for m in queue["Metrics"]] == ["Portal"]
    every = server.aws("cloudwatch", "list-metrics")
    assert len(every["Metrics"]) == 751, "the CLI follows NextToken itself"


def test_large_bodies_are_sent_gzip_compressed(server: BerthServer):
    cw = cloudwatch(server)
    sent = sent_requests(cw)
    at = minute_ago(2)
    cw.put_metric_data(Namespace="Bulk", MetricData=[
        {"MetricName": "Size", "Timestamp": at, "Value": float(n), "Unit": "Bytes",
         "Dimensions": [{"Name": "Shard", "Value": f"shard-{n % 4}"}]} for n in range(400)])
    assert sent[0].headers["Content-Encoding"] == b"gzip", "botocore compresses bodies over 10 KiB"
    stats = cw.get_metric_statistics(Namespace="Bulk", MetricName="Size",
                                     Dimensions=[{"Name": "Shard", "Value": "shard-1"}],
                                     StartTime=at, EndTime=at + 60, Period=60,
                                     Statistics=["SampleCount", "Maximum"])
    assert [(p["SampleCount"], p["Maximum"]) for p in stats["Datapoints"]] == [(100.0, 397.0)]
    body = json.dumps({"Namespace": "Bulk", "MetricData": [{"MetricName": "Raw", "Value": 1}]}).encode()
    assert send_signed(server, gzip.compress(body), "PutMetricData", gzip=True).status == 200
    broken = send_signed(server, gzip.compress(body)[:-12], "PutMetricData", gzip=True)
    assert broken.status == 400
    assert broken.json["__type"] == "SerializationException"
    assert "gzip" in broken.json["message"]


def send_signed(server: BerthServer, body: bytes, action: str, gzip: bool) -> RawResponse:
    """A JSON 1.0 CloudWatch request, signed over its body as sent."""
    headers = {"Content-Type": "application/x-amz-json-1.0",
               "X-Amz-Target": f"GraniteServiceVersion20100801.{action}"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(*server.admin_credentials()), "monitoring", REGION).add_auth(request)
    return send_http(server.port, dict(request.headers.items()), body)


def error_of(call) -> tuple[str, str, dict]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"], caught.value.response["ResponseMetadata"]["HTTPHeaders"]


def test_bad_input_gets_cloudwatch_errors(server: BerthServer):
    cw = cloudwatch(server, parameter_validation=False)
    code, message, headers = error_of(lambda: cw.put_metric_data(
        Namespace="AWS/ECS", MetricData=[{"MetricName": "Cpu", "Value": 1.0}]))
    assert (code, message) == ("InvalidParameterValue", "The value AWS/ECS for parameter Namespace is invalid. "
                               "Namespaces beginning with AWS/ are reserved for metrics Berth itself publishes.")
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="AWS/ECS", MetricData=[{"MetricName": "Cpu", "Value": 1.0}])
    code, message, _ = error_of(lambda: cw.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Cpu", "Value": 1.0,
         "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]))
    assert code == "InvalidParameterCombination"
    assert "MetricData.member.1.Value and MetricData.member.1.StatisticValues" in message
    code, message, _ = error_of(lambda: cw.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Cpu", "Value": 1.0, "Dimensions": [{"Name": "Service"}]}]))
    assert (code, message) == ("MissingParameter",
                               "The parameter MetricData.member.1.Dimensions.member.1.Value is required.")
    code, message, _ = error_of(lambda: cw.get_metric_statistics(
        Namespace="App", MetricName="Cpu", StartTime=minute_ago(60), EndTime=minute_ago(0), Period=60,
        Statistics=["Sum"], ExtendedStatistics=["p99"]))
    assert (code, message) == ("InvalidParameterCombination",
                               "Must specify either Statistics or ExtendedStatistics, but not both.")
    code, message, _ = error_of(lambda: cw.get_metric_data(
        StartTime=minute_ago(60), EndTime=minute_ago(0),
        MetricDataQueries=[{"Id": "e1", "Expression": "SUM(m1"}]))
    assert code == "ValidationError" and message.startswith("Error in expression e1:")
    code, message = server.aws_error("cloudwatch", "put-metric-data", "--namespace", "App",
                                     "--metric-name", "Cpu", "--value", "1", "--unit", "Furlongs")
    assert code == "InvalidParameterValue"
    assert message.startswith("The value Furlongs for parameter MetricData.member.1.Unit is invalid.")


OLD_CLIENT = r"""
import json, sys, time
import boto3, botocore, botocore.exceptions
endpoint, key, secret, region, at = sys.argv[1:6]
at = int(at)
cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=region, aws_access_key_id=key,
                  aws_secret_access_key=secret,
                  config=botocore.config.Config(retries={"total_max_attempts": 1},
                                                parameter_validation=False))
sent = []
cw.meta.events.register("before-send.cloudwatch.*", lambda request, **_: sent.append(request))
out = {"botocore": botocore.__version__}
cw.put_metric_data(Namespace="Indexer", MetricData=[
    {"MetricName": "QueueDepth", "Dimensions": [{"Name": "Queue", "Value": "jobs"}],
     "Timestamp": at + 1, "Values": [3.0, 9.0], "Counts": [3.0, 1.0], "Unit": "Count"},
    {"MetricName": "QueueDepth", "Dimensions": [{"Name": "Queue", "Value": "jobs"}],
     "Timestamp": at + 2, "StatisticValues": {"SampleCount": 2, "Sum": 8, "Minimum": 4, "Maximum": 4},
     "Unit": "Count"}])
out["content_type"] = sent[0].headers["Content-Type"].decode()
out["form"] = sent[0].body.decode() if isinstance(sent[0].body, bytes) else sent[0].body
stats = cw.get_metric_statistics(Namespace="Indexer", MetricName="QueueDepth",
    Dimensions=[{"Name": "Queue", "Value": "jobs"}], StartTime=at, EndTime=at + 60, Period=60,
    Statistics=["SampleCount", "Sum", "Maximum"])
out["stats"] = [{k: (v.isoformat() if k == "Timestamp" else v) for k, v in p.items()}
                for p in stats["Datapoints"]]
pct = cw.get_metric_statistics(Namespace="Indexer", MetricName="QueueDepth",
    Dimensions=[{"Name": "Queue", "Value": "jobs"}], StartTime=at, EndTime=at + 60, Period=60,
    ExtendedStatistics=["p50", "p90"])
out["percentiles"] = [p.get("ExtendedStatistics") for p in pct["Datapoints"]]
data = cw.get_metric_data(StartTime=at, EndTime=at + 60, MetricDataQueries=[
    {"Id": "depth", "ReturnData": False, "MetricStat": {"Metric": {"Namespace": "Indexer",
     "MetricName": "QueueDepth", "Dimensions": [{"Name": "Queue", "Value": "jobs"}]},
     "Period": 60, "Stat": "Maximum"}},
    {"Id": "perTask", "Expression": "depth / 2", "Label": "per task"}])
out["data"] = [(r["Id"], r["Label"], r["Values"], [t.timestamp() for t in r["Timestamps"]])
               for r in data["MetricDataResults"]]
out["list"] = cw.list_metrics(Namespace="Indexer")["Metrics"]
try:
    cw.put_metric_data(Namespace="Indexer", MetricData=[{"MetricName": "QueueDepth"}])
except botocore.exceptions.ClientError as e:
    out["error"] = [e.response["Error"]["Code"], e.response["Error"]["Message"]]
print(json.dumps(out))
"""


def test_an_older_client_speaks_the_query_protocol(server: BerthServer):
    assert QUERY_VENV_PYTHON.exists(), "no .venv-query: run scripts/python-env.sh"
    at = minute_ago(3)
    key, secret = server.admin_credentials()
    result = subprocess.run([str(QUERY_VENV_PYTHON), "-c", OLD_CLIENT, server.endpoint, key, secret,
                             REGION, str(at)], capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/dev/null",
                                 "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                                 **({"AWS_CA_BUNDLE": str(server.ca_bundle)} if server.ca_bundle else {})})
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["botocore"] == "1.42.6"
    assert out["content_type"].startswith("application/x-www-form-urlencoded")
    assert "Action=PutMetricData" in out["form"] and "Version=2010-08-01" in out["form"]
    assert [(p["SampleCount"], p["Sum"], p["Maximum"]) for p in out["stats"]] == [(6.0, 26.0, 9.0)]
    assert out["stats"][0]["Timestamp"].startswith(time.strftime("%Y-%m-%dT%H:%M:00", time.gmtime(at)))
    assert out["percentiles"] == [{"p50": 3.0, "p90": 9.0}], "a set of one value keeps its percentiles"
    assert out["data"] == [["perTask", "per task", [4.5], [float(at)]]]
    assert out["list"] == [{"Namespace": "Indexer", "MetricName": "QueueDepth",
                            "Dimensions": [{"Name": "Queue", "Value": "jobs"}]}]
    assert out["error"][0] == "InvalidParameterCombination"
    assert "MetricData.member.1.Value" in out["error"][1]


def cbor_client(server: BerthServer, data_path: Path):
    """A boto3 CloudWatch client that speaks smithy-rpc-v2-cbor: botocore 1.44.5 has the
    protocol but prefers JSON for CloudWatch, so it is given the same model listing CBOR
    alone, through its data path."""
    model_dir = data_path / "cloudwatch" / "2010-08-01"
    model_dir.mkdir(parents=True)
    loader = botocore.loaders.Loader()
    model = loader.load_service_model("cloudwatch", "service-2")
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
    (model_dir / "service-2.json").write_text(json.dumps(model))
    core = botocore.session.Session()
    core.set_config_variable("config_file", os.devnull)
    core.set_config_variable("data_path", str(data_path))
    key, secret = server.admin_credentials()
    return boto3.session.Session(botocore_session=core).client(
        "cloudwatch", endpoint_url=server.endpoint, region_name=REGION, aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, parameter_validation=False))


def test_boto3_made_to_speak_cbor_is_answered_in_cbor(server: BerthServer, tmp_path: Path):
    cw = cbor_client(server, tmp_path / "models")
    sent = sent_requests(cw)
    answers = []
    cw.meta.events.register("after-call.cloudwatch.*",
                            lambda http_response, **_: answers.append(http_response))
    at = minute_ago(4)
    cw.put_metric_data(Namespace="Cbor", MetricData=[
        {"MetricName": "Depth", "Dimensions": [{"Name": "Queue", "Value": "jobs"}], "Timestamp": at + 3,
         "Values": [1.5, 2.5], "Counts": [1.0, 3.0], "Unit": "Count"}])
    assert sent[0].url.endswith("/service/GraniteServiceVersion20100801/operation/PutMetricData")
    assert sent[0].headers["Content-Type"] == b"application/cbor"
    stats = cw.get_metric_statistics(Namespace="Cbor", MetricName="Depth",
                                     Dimensions=[{"Name": "Queue", "Value": "jobs"}], StartTime=at,
                                     EndTime=at + 60, Period=60, Statistics=["Sum", "SampleCount"])
    assert answers[-1].headers["Content-Type"] == "application/cbor"
    assert [(int(p["Timestamp"].timestamp()), p["Sum"], p["SampleCount"], p["Unit"])
            for p in stats["Datapoints"]] == [(at, 9.0, 4.0, "Count")]
    pct = cw.get_metric_statistics(Namespace="Cbor", MetricName="Depth",
                                   Dimensions=[{"Name": "Queue", "Value": "jobs"}], StartTime=at,
                                   EndTime=at + 60, Period=60, ExtendedStatistics=["p25", "p50"])
    assert pct["Datapoints"][0]["ExtendedStatistics"] == {"p25": 1.5, "p50": 2.5}
    data = cw.get_metric_data(StartTime=at, EndTime=at + 60, MetricDataQueries=[
        {"Id": "depth", "ReturnData": False, "MetricStat": {"Metric": {
            "Namespace": "Cbor", "MetricName": "Depth", "Dimensions": [{"Name": "Queue", "Value": "jobs"}]},
            "Period": 60, "Stat": "Average"}},
        {"Id": "double", "Expression": "depth * 2"}])
    assert [(r["Id"], r["Values"], [int(t.timestamp()) for t in r["Timestamps"]])
            for r in data["MetricDataResults"]] == [("double", [4.5], [at])]
    assert cw.list_metrics(Namespace="Cbor")["Metrics"] == [
        {"Namespace": "Cbor", "MetricName": "Depth", "Dimensions": [{"Name": "Queue", "Value": "jobs"}]}]
    code, message, headers = error_of(lambda: cw.put_metric_data(
        Namespace="Cbor", MetricData=[{"MetricName": "Depth", "Value": float("nan")}]))
    assert (code, message) == ("InvalidParameterValue",
                               "The value NaN for parameter MetricData.member.1.Value is invalid. "
                               "Values must be finite numbers between -2^360 and 2^360.")
    assert headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
