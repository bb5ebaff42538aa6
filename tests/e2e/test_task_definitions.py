"""Task definitions: register, describe, list, deregister, delete, and the
revision numbering ECS promises (1, 2, 3... per family, never reused)."""

import json
import threading
from datetime import datetime

from conftest import api_error, arn, assert_subset, container, paginate, register


def test_register_and_describe_by_family_revision_and_arn(ecs):
    containers = [container("web", portMappings=[{"containerPort": 8080, "hostPort": 80, "protocol": "tcp"}],
                            environment=[{"name": "MODE", "value": "web"}])]
    tags = [{"key": "team", "value": "platform"}]
    registered = ecs.register_task_definition(family="web", containerDefinitions=containers, tags=tags)
    first = registered["taskDefinition"]
    assert registered["tags"] == tags
    assert first["family"] == "web"
    assert first["revision"] == 1
    assert first["taskDefinitionArn"] == arn("task-definition/web:1")
    assert first["status"] == "ACTIVE"
    assert isinstance(first["registeredAt"], datetime)
    assert_subset(containers, first["containerDefinitions"])

    for reference in ("web", "web:1", arn("task-definition/web:1")):
        described = ecs.describe_task_definition(taskDefinition=reference)
        assert described["taskDefinition"] == first, reference
        # Tags only come back when asked for.
        assert not described.get("tags"), reference

    second = register(ecs, "web", containerDefinitions=containers)
    assert (second["revision"], second["taskDefinitionArn"]) == (2, arn("task-definition/web:2"))
    assert ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]["revision"] == 2
    assert ecs.describe_task_definition(taskDefinition="web:1")["taskDefinition"]["revision"] == 1

    with_tags = ecs.describe_task_definition(taskDefinition="web:1", include=["TAGS"])
    assert with_tags["tags"] == tags
    assert ecs.describe_task_definition(taskDefinition="web:2", include=["TAGS"]).get("tags", []) == []


def test_container_essential_defaults_to_true(ecs):
    definition = {"name": "solo", "image": "busybox", "memory": 64}
    returned = register(ecs, "solo", containerDefinitions=[definition])["containerDefinitions"][0]
    assert returned["essential"] is True


def test_task_definition_lifecycle_with_cli(server):
    containers = json.dumps([container("api", command=["serve", "--port", "80"])])
    registered = server.aws_ecs("register-task-definition", "--family", "cli-api",
                                "--container-definitions", containers, "--cpu", "256", "--memory", "512")
    assert registered["taskDefinition"]["taskDefinitionArn"] == arn("task-definition/cli-api:1")
    assert registered["taskDefinition"]["cpu"] == "256"
    assert registered["taskDefinition"]["memory"] == "512"

    described = server.aws_ecs("describe-task-definition", "--task-definition", "cli-api:1")["taskDefinition"]
    assert described["containerDefinitions"][0]["command"] == ["serve", "--port", "80"]

    listed = server.aws_ecs("list-task-definitions", "--family-prefix", "cli-api")["taskDefinitionArns"]
    assert listed == [arn("task-definition/cli-api:1")]
    assert server.aws_ecs("list-task-definition-families")["families"] == ["cli-api"]

    deregistered = server.aws_ecs("deregister-task-definition", "--task-definition", "cli-api:1")["taskDefinition"]
    assert deregistered["status"] == "INACTIVE"
    assert "deregisteredAt" in deregistered

    deleted = server.aws_ecs("delete-task-definitions", "--task-definitions", "cli-api:1")
    assert [(d["taskDefinitionArn"], d["status"]) for d in deleted["taskDefinitions"]] == [
        (arn("task-definition/cli-api:1"), "DELETE_IN_PROGRESS")]
    assert deleted["failures"] == []


def test_describe_unknown_task_definition(ecs):
    register(ecs, "known")
    for reference in ("unknown", "known:2", arn("task-definition/unknown:1")):
        with api_error("ClientException"):
            ecs.describe_task_definition(taskDefinition=reference)


def register_listing_fixture(ecs) -> None:
    # Deliberately registered out of order: listings must sort, not echo
    # insertion order. "api-worker" shares "api" as a prefix.
    for family in ("batch", "api", "api-worker", "api", "api-worker", "api"):
        register(ecs, family)


ALL_ASC = [arn(f"task-definition/{name}") for name in
           ("api:1", "api:2", "api:3", "api-worker:1", "api-worker:2", "batch:1")]


def test_list_task_definitions_sorting_and_filters(ecs):
    register_listing_fixture(ecs)
    assert ecs.list_task_definitions()["taskDefinitionArns"] == ALL_ASC
    assert ecs.list_task_definitions(sort="ASC")["taskDefinitionArns"] == ALL_ASC
    assert ecs.list_task_definitions(sort="DESC")["taskDefinitionArns"] == ALL_ASC[::-1]
    # For ListTaskDefinitions, `familyPrefix` is documented as "the full
    # family name": "api" must not pull in "api-worker".
    assert ecs.list_task_definitions(familyPrefix="api")["taskDefinitionArns"] == ALL_ASC[:3]
    assert ecs.list_task_definitions(familyPrefix="api", sort="DESC")["taskDefinitionArns"] == ALL_ASC[:3][::-1]
    assert ecs.list_task_definitions(familyPrefix="ap")["taskDefinitionArns"] == []

    ecs.deregister_task_definition(taskDefinition="api:2")
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [arn("task-definition/api:2")]
    active = [a for a in ALL_ASC if not a.endswith("/api:2")]
    assert ecs.list_task_definitions()["taskDefinitionArns"] == active
    assert ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"] == active


def test_list_task_definition_families(ecs):
    register_listing_fixture(ecs)
    assert ecs.list_task_definition_families()["families"] == ["api", "api-worker", "batch"]
    # Here, unlike ListTaskDefinitions, familyPrefix really is a prefix.
    assert ecs.list_task_definition_families(familyPrefix="api")["families"] == ["api", "api-worker"]
    assert ecs.list_task_definition_families(familyPrefix="api-")["families"] == ["api-worker"]

    ecs.deregister_task_definition(taskDefinition="batch:1")
    ecs.deregister_task_definition(taskDefinition="api:1")
    # Without a status both kinds are listed; INACTIVE means "no ACTIVE
    # revision left", so "api" (still has api:2, api:3) stays ACTIVE.
    assert ecs.list_task_definition_families()["families"] == ["api", "api-worker", "batch"]
    assert ecs.list_task_definition_families(status="ACTIVE")["families"] == ["api", "api-worker"]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["batch"]


def test_deregister_marks_inactive_but_keeps_it_describable(ecs):
    register(ecs, "old")
    deregistered = ecs.deregister_task_definition(taskDefinition="old:1")["taskDefinition"]
    assert deregistered["status"] == "INACTIVE"
    assert isinstance(deregistered["deregisteredAt"], datetime)
    assert ecs.describe_task_definition(taskDefinition="old:1")["taskDefinition"]["status"] == "INACTIVE"
    # A bare family resolves to the latest ACTIVE revision, and there is none.
    with api_error("ClientException"):
        ecs.describe_task_definition(taskDefinition="old")


def test_delete_task_definitions_only_deletes_inactive_ones(ecs):
    for _ in range(3):
        register(ecs, "del")
    ecs.deregister_task_definition(taskDefinition="del:1")
    ecs.deregister_task_definition(taskDefinition="del:2")

    result = ecs.delete_task_definitions(taskDefinitions=["del:1", arn("task-definition/del:2"), "del:3"])
    assert [(d["taskDefinitionArn"], d["status"]) for d in result["taskDefinitions"]] == [
        (arn("task-definition/del:1"), "DELETE_IN_PROGRESS"),
        (arn("task-definition/del:2"), "DELETE_IN_PROGRESS"),
    ]
    assert [f["arn"] for f in result["failures"]] == [arn("task-definition/del:3")]
    assert result["failures"][0]["reason"]

    assert ecs.list_task_definitions(familyPrefix="del", status="INACTIVE")["taskDefinitionArns"] == []
    assert ecs.list_task_definitions(familyPrefix="del")["taskDefinitionArns"] == [arn("task-definition/del:3")]


def test_revisions_are_never_reused(ecs):
    assert [register(ecs, "rev")["revision"] for _ in range(3)] == [1, 2, 3]
    ecs.deregister_task_definition(taskDefinition="rev:3")
    ecs.delete_task_definitions(taskDefinitions=["rev:3"])
    assert register(ecs, "rev")["revision"] == 4

    # Even a family with nothing left keeps counting.
    for revision in (1, 2, 4):
        ecs.deregister_task_definition(taskDefinition=f"rev:{revision}")
    ecs.delete_task_definitions(taskDefinitions=["rev:1", "rev:2", "rev:4"])
    assert register(ecs, "rev")["revision"] == 5


def test_concurrent_registrations_get_distinct_consecutive_revisions(server):
    writers = 20
    clients = [server.client() for _ in range(writers)]
    start = threading.Barrier(writers)
    revisions: list[int] = []
    errors: list[BaseException] = []

    def register_one(client) -> None:
        try:
            start.wait()
            revisions.append(register(client, "race")["revision"])
        except BaseException as e:  # reported below, with every other thread's outcome
            errors.append(e)

    threads = [threading.Thread(target=register_one, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sorted(revisions) == list(range(1, writers + 1))
    listed = paginate(server.ecs, "list_task_definitions", "taskDefinitionArns", familyPrefix="race")
    assert listed == [arn(f"task-definition/race:{n}") for n in range(1, writers + 1)]
