"""TagResource, UntagResource and ListTagsForResource on clusters, task
definitions and services, plus tags given at creation time."""

import pytest

from conftest import api_error, arn, register


def tag_dict(tags: list[dict]) -> dict[str, str]:
    # ECS does not promise an order for tags, only the set of key/values.
    return {t["key"]: t["value"] for t in tags}


@pytest.fixture
def resources(ecs) -> dict[str, str]:
    """One cluster, task definition and service, each created with a tag;
    returns their ARNs by kind."""
    created = [{"key": "created", "value": "at-birth"}]
    cluster = ecs.create_cluster(clusterName="tagged", tags=created)["cluster"]["clusterArn"]
    task_definition = register(ecs, "tagged", tags=created)["taskDefinitionArn"]
    service = ecs.create_service(cluster="tagged", serviceName="tagged", taskDefinition="tagged",
                                 desiredCount=0, tags=created)["service"]["serviceArn"]
    return {"cluster": cluster, "task-definition": task_definition, "service": service}


KINDS = ("cluster", "task-definition", "service")


@pytest.mark.parametrize("kind", KINDS)
def test_tag_untag_and_list(ecs, resources, kind):
    resource = resources[kind]
    assert tag_dict(ecs.list_tags_for_resource(resourceArn=resource)["tags"]) == {"created": "at-birth"}

    ecs.tag_resource(resourceArn=resource, tags=[{"key": "team", "value": "platform"},
                                                 {"key": "env", "value": "prod"}])
    assert tag_dict(ecs.list_tags_for_resource(resourceArn=resource)["tags"]) == {
        "created": "at-birth", "team": "platform", "env": "prod"}

    # Tagging an existing key replaces its value.
    ecs.tag_resource(resourceArn=resource, tags=[{"key": "env", "value": "staging"}])
    ecs.untag_resource(resourceArn=resource, tagKeys=["created", "not-there"])
    assert tag_dict(ecs.list_tags_for_resource(resourceArn=resource)["tags"]) == {
        "team": "platform", "env": "staging"}

    # Tags belong to the one resource: the others are untouched.
    for other in KINDS:
        if other != kind:
            assert tag_dict(ecs.list_tags_for_resource(resourceArn=resources[other])["tags"]) == {
                "created": "at-birth"}


def test_describe_includes_tags_only_when_asked(ecs, resources):
    ecs.tag_resource(resourceArn=resources["cluster"], tags=[{"key": "team", "value": "a"}])
    ecs.tag_resource(resourceArn=resources["service"], tags=[{"key": "team", "value": "b"}])
    ecs.tag_resource(resourceArn=resources["task-definition"], tags=[{"key": "team", "value": "c"}])

    cluster = ecs.describe_clusters(clusters=["tagged"], include=["TAGS"])["clusters"][0]
    assert tag_dict(cluster["tags"]) == {"created": "at-birth", "team": "a"}
    assert not ecs.describe_clusters(clusters=["tagged"])["clusters"][0].get("tags")

    service = ecs.describe_services(cluster="tagged", services=["tagged"], include=["TAGS"])["services"][0]
    assert tag_dict(service["tags"]) == {"created": "at-birth", "team": "b"}
    assert not ecs.describe_services(cluster="tagged", services=["tagged"])["services"][0].get("tags")

    described = ecs.describe_task_definition(taskDefinition="tagged:1", include=["TAGS"])
    assert tag_dict(described["tags"]) == {"created": "at-birth", "team": "c"}


def test_tags_with_cli(server, resources):
    service = resources["service"]
    server.aws_ecs("tag-resource", "--resource-arn", service, "--tags", "key=team,value=platform", "key=tier,value=web")
    listed = server.aws_ecs("list-tags-for-resource", "--resource-arn", service)["tags"]
    assert tag_dict(listed) == {"created": "at-birth", "team": "platform", "tier": "web"}

    server.aws_ecs("untag-resource", "--resource-arn", service, "--tag-keys", "tier", "created")
    assert server.aws_ecs("list-tags-for-resource", "--resource-arn", service)["tags"] == [
        {"key": "team", "value": "platform"}]


@pytest.mark.parametrize("resource", [arn("cluster/ghost"), arn("task-definition/ghost:1"),
                                      arn("service/tagged/ghost")])
def test_tagging_unknown_resources(ecs, resources, resource):
    # ECS documents no single exception for this; any of these is a correct
    # client error, a 5xx or a silent success is not.
    codes = ("ResourceNotFoundException", "InvalidParameterException", "ClusterNotFoundException",
             "ServiceNotFoundException", "ClientException")
    with api_error(codes):
        ecs.tag_resource(resourceArn=resource, tags=[{"key": "k", "value": "v"}])
    with api_error(codes):
        ecs.list_tags_for_resource(resourceArn=resource)
