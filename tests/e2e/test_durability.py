"""Durability: whatever the server acknowledged survives `kill -9` and a
restart on the same data directory."""

import json
import threading

from botocore.exceptions import BotoCoreError, ClientError

from conftest import DEFAULT_CLUSTER, api_error, arn, container, paginate, register, snapshot, wait_for


def details(ecs) -> dict:
    """Describe output for everything, minus what may legitimately move on
    its own: task counters, rollout states, old deployments winding down."""
    state = snapshot(ecs)
    state["clusters"] = [
        {key: cluster.get(key) for key in ("clusterArn", "clusterName", "status", "tags")}
        for cluster in (ecs.describe_clusters(clusters=[c["clusterArn"] for c in state["clusters"]],
                                              include=["TAGS"])["clusters"] if state["clusters"] else [])
    ]
    state["taskDefinitionBodies"] = [
        ecs.describe_task_definition(taskDefinition=td, include=["TAGS"])
        for status in ("ACTIVE", "INACTIVE") for td in state["taskDefinitions"][status]
    ]
    for body in state["taskDefinitionBodies"]:
        body.pop("ResponseMetadata")
    state["serviceBodies"] = [
        {key: service[key] for key in ("serviceArn", "status", "desiredCount", "taskDefinition", "tags",
                                       "deploymentConfiguration")}
        | {"primary": [(d["id"], d["taskDefinition"]) for d in service["deployments"] if d["status"] == "PRIMARY"]}
        for cluster, services in state["services"].items() if services
        for service in ecs.describe_services(cluster=cluster, services=services, include=["TAGS"])["services"]
    ]
    state["taskBodies"] = [
        {key: task.get(key) for key in ("taskArn", "taskDefinitionArn", "desiredStatus", "startedBy", "group",
                                        "stopCode", "stoppedReason", "overrides", "createdAt")}
        for cluster, tasks in state["tasks"].items()
        for arns in tasks.values() if arns
        for task in ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    ]
    return state


def test_everything_survives_kill_9(server):
    ecs = server.ecs
    ecs.create_cluster(clusterName="prod", tags=[{"key": "env", "value": "prod"}])
    ecs.create_cluster(clusterName="doomed")
    ecs.delete_cluster(cluster="doomed")
    for family in ("web", "web", "worker"):
        register(ecs, family, containerDefinitions=[container(environment=[{"name": "ROLE", "value": family}])],
                 tags=[{"key": "family", "value": family}])
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition="web:1", desiredCount=0,
                       tags=[{"key": "tier", "value": "front"}])
    ecs.update_service(cluster="prod", service="web", taskDefinition="web:2")
    ecs.deregister_task_definition(taskDefinition="web:1")
    tasks = ecs.run_task(cluster="prod", taskDefinition="worker", count=3, startedBy="cron")["tasks"]
    ecs.stop_task(cluster="prod", task=tasks[0]["taskArn"], reason="superseded")
    before = details(ecs)
    credentials = server.credentials_file.read_text()

    server.restart_after_crash()

    assert details(ecs) == before
    assert server.credentials_file.read_text() == credentials
    # Counters continue where they were: no revision is handed out twice.
    assert register(ecs, "web")["revision"] == 3
    assert sorted(server.aws_ecs("list-clusters")["clusterArns"]) == [DEFAULT_CLUSTER, arn("cluster/prod")]


WRITERS = 4
ACKNOWLEDGED_BEFORE_KILL = 60


def test_acknowledged_writes_survive_kill_9_mid_stream(server):
    """Writers create clusters and register revisions as fast as they can;
    the server is killed while they are at it. Every write that got a 200
    must be there after the restart."""
    clusters: list[str] = []
    revisions: list[int] = []
    stop = threading.Event()

    def write(n: int) -> None:
        client = server.client()
        i = 0
        while not stop.is_set():
            try:
                if i % 2:
                    name = f"w{n}-{i}"
                    client.create_cluster(clusterName=name)
                    clusters.append(name)
                else:
                    revisions.append(register(client, "stream")["revision"])
            except (BotoCoreError, ClientError):
                # Refused or cut off by the kill: not acknowledged, so no
                # promise to keep. Keep going until told to stop.
                pass
            i += 1

    threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: len(clusters) + len(revisions), f"{ACKNOWLEDGED_BEFORE_KILL} acknowledged writes",
                 done=lambda n: n >= ACKNOWLEDGED_BEFORE_KILL, timeout=60)
        server.kill()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    acknowledged_clusters, acknowledged_revisions = list(clusters), sorted(revisions)
    assert len(set(acknowledged_revisions)) == len(acknowledged_revisions), "a revision was handed out twice"

    server.start()
    ecs = server.ecs
    missing = {arn(f"cluster/{c}") for c in acknowledged_clusters} - set(paginate(ecs, "list_clusters", "clusterArns"))
    assert not missing, f"acknowledged clusters lost in the crash: {sorted(missing)}"

    listed = [int(a.rsplit(":", 1)[1])
              for a in paginate(ecs, "list_task_definitions", "taskDefinitionArns", familyPrefix="stream")]
    assert set(acknowledged_revisions) <= set(listed), sorted(set(acknowledged_revisions) - set(listed))
    # A write in flight at the kill may or may not have landed, but the
    # revisions that exist are still 1..n with no gaps.
    assert listed == list(range(1, len(listed) + 1))
    assert register(ecs, "stream")["revision"] == len(listed) + 1


def test_repeated_crashes(server):
    crashes = 3
    for n in range(crashes):
        server.ecs.create_cluster(clusterName=f"c{n}")
        register(server.ecs, "survivor")
        server.restart_after_crash()
    assert sorted(server.ecs.list_clusters()["clusterArns"]) == [arn(f"cluster/c{n}") for n in range(crashes)] + [
        DEFAULT_CLUSTER]
    assert server.ecs.describe_task_definition(taskDefinition="survivor")["taskDefinition"]["revision"] == crashes


def test_keys_survive_kill_9(server):
    created = json.loads(server.keys("create", "--output", "json").stdout)
    revoked = json.loads(server.keys("create", "--output", "json").stdout)
    server.keys("revoke", revoked["accessKeyId"])

    server.restart_after_crash()

    assert server.client(created["accessKeyId"], created["secretAccessKey"]).list_clusters()["clusterArns"]
    with api_error("UnrecognizedClientException", status=None):
        server.client(revoked["accessKeyId"], revoked["secretAccessKey"]).list_clusters()
