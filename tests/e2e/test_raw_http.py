"""Malformed requests, sent as raw HTTP so botocore's own validation cannot
stop them first. They are signed, so authentication passes and the request
parser is what answers: always HTTP 400 with a JSON `__type` and `message`,
never a 5xx, and nothing changes on the server."""

import json
from typing import NamedTuple

import pytest

from conftest import BerthServer, assert_mentions, container, register, snapshot

INPUT_ERRORS = ("SerializationException", "ClientException", "InvalidParameterException")
A_CONTAINER = container()


class Populated(NamedTuple):
    server: BerthServer
    before: dict

    def raw(self, *args, **kwargs):
        return self.server.raw(*args, **kwargs)


@pytest.fixture
def populated(server) -> Populated:
    """Some of everything, and a snapshot of it taken before the test. The
    service wants no tasks, so no scheduler activity can move the snapshot."""
    ecs = server.ecs
    ecs.create_cluster(clusterName="prod")
    register(ecs, "web")
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web", desiredCount=0)
    ecs.run_task(cluster="prod", taskDefinition="web")
    return Populated(server, snapshot(ecs))


def assert_refused(populated: Populated, response, codes=INPUT_ERRORS, mentions=()) -> dict:
    assert response.status == 400, f"HTTP {response.status}: {response.body[:500]!r}"
    error = response.json
    assert error["__type"] in codes, error
    assert isinstance(error["message"], str) and error["message"], error
    assert_mentions(error["message"], mentions)
    assert snapshot(populated.server.ecs) == populated.before, "a refused request changed state"
    return error


# (test id, operation, body, words the message must contain)
BAD_BODIES = [
    ("malformed-json", "CreateCluster", b'{"clusterName": "half"', ()),
    ("trailing-garbage", "CreateCluster", b'{"clusterName": "x"} nonsense', ()),
    ("not-utf8", "CreateCluster", b'{"clusterName": "\xff\xfe"}', ()),
    ("array-body", "CreateCluster", b"[]", ()),
    ("string-body", "RegisterTaskDefinition", b'"web"', ()),
    ("null-body", "RunTask", b"null", ()),
    # Wrong member types.
    ("cluster-name-number", "CreateCluster", {"clusterName": 5}, ("clusterName",)),
    ("clusters-not-list", "DescribeClusters", {"clusters": "prod"}, ("clusters",)),
    ("container-definitions-object", "RegisterTaskDefinition",
     {"family": "x", "containerDefinitions": A_CONTAINER}, ("containerDefinitions",)),
    ("memory-string", "RegisterTaskDefinition",
     {"family": "x", "containerDefinitions": [{**A_CONTAINER, "memory": "128"}]}, ("memory",)),
    ("essential-string", "RegisterTaskDefinition",
     {"family": "x", "containerDefinitions": [{**A_CONTAINER, "essential": "yes"}]}, ("essential",)),
    ("memory-fraction", "RegisterTaskDefinition",
     {"family": "x", "containerDefinitions": [{**A_CONTAINER, "memory": 128.5}]}, ("memory",)),
    ("count-string", "RunTask", {"cluster": "prod", "taskDefinition": "web", "count": "2"}, ("count",)),
    ("desired-count-bool", "UpdateService", {"cluster": "prod", "service": "web", "desiredCount": True},
     ("desiredCount",)),
    ("tags-not-list", "TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/prod",
                                      "tags": {"key": "a", "value": "b"}}, ("tags",)),
    # Missing required members.
    ("register-without-family", "RegisterTaskDefinition", {"containerDefinitions": [A_CONTAINER]}, ("family",)),
    ("register-without-containers", "RegisterTaskDefinition", {"family": "x"}, ("containerDefinitions",)),
    ("register-empty-body", "RegisterTaskDefinition", b"", ("family",)),
    ("describe-task-definition-empty", "DescribeTaskDefinition", {}, ("taskDefinition",)),
    ("delete-cluster-without-cluster", "DeleteCluster", {}, ("cluster",)),
    ("create-service-without-name", "CreateService", {"cluster": "prod", "taskDefinition": "web"}, ("serviceName",)),
    ("run-task-without-task-definition", "RunTask", {"cluster": "prod"}, ("taskDefinition",)),
    ("stop-task-without-task", "StopTask", {"cluster": "prod"}, ("task",)),
    ("describe-tasks-without-tasks", "DescribeTasks", {"cluster": "prod"}, ("tasks",)),
    ("tag-without-tags", "TagResource", {"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/prod"},
     ("tags",)),
    ("secret-without-value-from", "RegisterTaskDefinition",
     {"family": "x", "containerDefinitions": [{**A_CONTAINER, "secrets": [{"name": "DB"}]}]}, ("valueFrom",)),
    # Numbers out of range.
    ("run-task-count-zero", "RunTask", {"cluster": "prod", "taskDefinition": "web", "count": 0}, ("count",)),
    ("run-task-count-eleven", "RunTask", {"cluster": "prod", "taskDefinition": "web", "count": 11}, ("count",)),
    ("list-clusters-max-results-zero", "ListClusters", {"maxResults": 0}, ("maxResults",)),
    ("list-task-definitions-max-results-101", "ListTaskDefinitions", {"maxResults": 101}, ("maxResults",)),
    ("create-service-negative-count", "CreateService",
     {"cluster": "prod", "serviceName": "api", "taskDefinition": "web", "desiredCount": -1}, ("desiredCount",)),
    ("memory-beyond-int32", "RegisterTaskDefinition",
     {"family": "x", "containerDefinitions": [{**A_CONTAINER, "memory": 2**40}]}, ("memory",)),
    ("container-port-beyond-65535", "RegisterTaskDefinition",
     {"family": "x", "containerDefinitions": [{**A_CONTAINER, "portMappings": [{"containerPort": 65536}]}]},
     ("containerPort",)),
    ("fifty-one-tags", "CreateCluster",
     {"clusterName": "tagged", "tags": [{"key": f"k{n}", "value": "v"} for n in range(51)]}, ("tags",)),
    ("eleven-task-definitions-to-delete", "DeleteTaskDefinitions",
     {"taskDefinitions": [f"web:{n}" for n in range(1, 12)]}, ("taskDefinitions",)),
    ("huge-number-literal", "RunTask", b'{"cluster": "prod", "taskDefinition": "web", "count": 1e400}', ()),
]


@pytest.mark.parametrize("operation, body, mentions", [case[1:] for case in BAD_BODIES],
                         ids=[case[0] for case in BAD_BODIES])
def test_bad_body(populated, operation, body, mentions):
    assert_refused(populated, populated.raw(operation, body), mentions=mentions)


def test_oversized_body(populated):
    padding = "x" * (1024 * 1024)
    body = json.dumps({"family": "big", "containerDefinitions": [{**A_CONTAINER, "command": [padding]}]})
    assert len(body) > 1024 * 1024
    error = assert_refused(populated, populated.raw("RegisterTaskDefinition", body))
    limits = ("1 MiB", "1MiB", "1048576", "1 MB", "1MB")
    assert any(limit.lower() in error["message"].lower() for limit in limits), error


def test_body_of_exactly_one_mib_is_accepted(server):
    template = {"family": "big", "containerDefinitions": [{**A_CONTAINER, "command": [""]}]}
    padding = 1024 * 1024 - len(json.dumps(template))
    template["containerDefinitions"][0]["command"] = ["x" * padding]
    body = json.dumps(template)
    assert len(body) == 1024 * 1024
    response = server.raw("RegisterTaskDefinition", body)
    assert response.status == 200, response.body[:500]
    assert response.json["taskDefinition"]["containerDefinitions"][0]["command"] == ["x" * padding]


@pytest.mark.parametrize("target", ["AmazonEC2ContainerServiceV20141113.LaunchRockets",
                                    "DynamoDB_20120810.ListTables",
                                    "AmazonEC2ContainerServiceV20141113.",
                                    "ListClusters"])
def test_unknown_operation(populated, target):
    response = populated.raw(None, {}, headers={"X-Amz-Target": target})
    assert_refused(populated, response, codes=("UnknownOperationException",))


def test_missing_target(populated):
    assert_refused(populated, populated.raw(None, {}), codes=INPUT_ERRORS + ("UnknownOperationException",))


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", None])
def test_wrong_content_type(populated, content_type):
    response = populated.raw("CreateCluster", {"clusterName": "typed"}, content_type=content_type)
    assert_refused(populated, response, codes=INPUT_ERRORS + ("UnknownOperationException",))
