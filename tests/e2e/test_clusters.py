"""Clusters: CreateCluster, DescribeClusters, ListClusters, DeleteCluster and
the `default` cluster that ECS uses whenever a request omits `cluster`."""

from conftest import DEFAULT_CLUSTER, api_error, arn, register, wait_until_inactive

COUNTERS = ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount", "activeServicesCount")


def assert_new_cluster(cluster: dict, name: str) -> None:
    assert cluster["clusterName"] == name
    assert cluster["clusterArn"] == arn(f"cluster/{name}")
    assert cluster["status"] == "ACTIVE"
    for counter in COUNTERS:
        assert cluster[counter] == 0, counter


def test_cluster_lifecycle_with_boto3(ecs):
    assert_new_cluster(ecs.create_cluster(clusterName="web")["cluster"], "web")

    by_name = ecs.describe_clusters(clusters=["web"])
    assert by_name["failures"] == []
    assert_new_cluster(by_name["clusters"][0], "web")
    by_arn = ecs.describe_clusters(clusters=[arn("cluster/web")])
    assert [c["clusterName"] for c in by_arn["clusters"]] == ["web"]

    assert sorted(ecs.list_clusters()["clusterArns"]) == [DEFAULT_CLUSTER, arn("cluster/web")]

    deleted = ecs.delete_cluster(cluster="web")["cluster"]
    assert deleted["clusterArn"] == arn("cluster/web")
    assert deleted["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == [DEFAULT_CLUSTER]
    # ECS keeps describing a deleted cluster as INACTIVE for a while, then
    # reports it missing; both are correct right after the delete.
    after = ecs.describe_clusters(clusters=["web"])
    assert [c["status"] for c in after["clusters"]] == ["INACTIVE"] or after["failures"] == [
        {"arn": arn("cluster/web"), "reason": "MISSING"}]


def test_cluster_lifecycle_with_cli(server):
    created = server.aws_ecs("create-cluster", "--cluster-name", "cli")["cluster"]
    assert_new_cluster(created, "cli")

    described = server.aws_ecs("describe-clusters", "--clusters", "cli", "ghost")
    assert [c["clusterName"] for c in described["clusters"]] == ["cli"]
    assert described["failures"] == [{"arn": arn("cluster/ghost"), "reason": "MISSING"}]

    assert sorted(server.aws_ecs("list-clusters")["clusterArns"]) == [arn("cluster/cli"), DEFAULT_CLUSTER]
    assert server.aws_ecs("delete-cluster", "--cluster", "cli")["cluster"]["status"] == "INACTIVE"
    assert server.aws_ecs("list-clusters")["clusterArns"] == [DEFAULT_CLUSTER]


def test_describe_unknown_clusters_reports_missing(ecs):
    ecs.create_cluster(clusterName="real")
    result = ecs.describe_clusters(clusters=["real", "ghost", arn("cluster/phantom")])
    assert [c["clusterName"] for c in result["clusters"]] == ["real"]
    assert sorted(result["failures"], key=lambda f: f["arn"]) == [
        {"arn": arn("cluster/ghost"), "reason": "MISSING"},
        {"arn": arn("cluster/phantom"), "reason": "MISSING"},
    ]


def test_create_cluster_is_idempotent(ecs):
    first = ecs.create_cluster(clusterName="twice")["cluster"]
    second = ecs.create_cluster(clusterName="twice")["cluster"]
    assert second["clusterArn"] == first["clusterArn"]
    assert second["status"] == "ACTIVE"
    assert sorted(ecs.list_clusters()["clusterArns"]) == [DEFAULT_CLUSTER, arn("cluster/twice")]


def test_delete_unknown_cluster(ecs):
    with api_error("ClusterNotFoundException"):
        ecs.delete_cluster(cluster="ghost")


def test_default_cluster_is_used_when_cluster_is_omitted(server):
    ecs = server.ecs
    # Describing no cluster in particular describes `default`, which Berth
    # creates on first start; CreateCluster without a name is idempotent on it.
    [default] = ecs.describe_clusters()["clusters"]
    assert_new_cluster(default, "default")
    assert_new_cluster(server.aws_ecs("create-cluster")["cluster"], "default")
    assert ecs.list_clusters()["clusterArns"] == [DEFAULT_CLUSTER]

    task_definition = register(ecs, "defaulted")["taskDefinitionArn"]
    task = server.aws_ecs("run-task", "--task-definition", "defaulted")["tasks"][0]
    assert task["clusterArn"] == DEFAULT_CLUSTER
    assert server.aws_ecs("list-tasks")["taskArns"] == [task["taskArn"]]
    assert ecs.describe_tasks(tasks=[task["taskArn"]])["tasks"][0]["taskDefinitionArn"] == task_definition

    service = ecs.create_service(serviceName="svc", taskDefinition="defaulted", desiredCount=0)["service"]
    assert service["clusterArn"] == DEFAULT_CLUSTER
    assert service["serviceArn"] == arn("service/default/svc")
    assert server.aws_ecs("list-services")["serviceArns"] == [service["serviceArn"]]
    assert [s["serviceName"] for s in ecs.describe_services(services=["svc"])["services"]] == ["svc"]


def test_cluster_with_active_service_cannot_be_deleted(ecs):
    ecs.create_cluster(clusterName="busy")
    register(ecs, "app")
    ecs.create_service(cluster="busy", serviceName="svc", taskDefinition="app", desiredCount=0)
    with api_error("ClusterContainsServicesException"):
        ecs.delete_cluster(cluster="busy")

    ecs.delete_service(cluster="busy", service="svc")
    # The service stays DRAINING until ECS has wound it down; only then is the
    # cluster free to go.
    wait_until_inactive(ecs, "busy", "svc")
    assert ecs.delete_cluster(cluster="busy")["cluster"]["status"] == "INACTIVE"


def test_cluster_with_tasks_cannot_be_deleted(ecs):
    ecs.create_cluster(clusterName="busy")
    register(ecs, "app")
    ecs.run_task(cluster="busy", taskDefinition="app")
    with api_error("ClusterContainsTasksException"):
        ecs.delete_cluster(cluster="busy")
    assert arn("cluster/busy") in ecs.list_clusters()["clusterArns"]
