"""Every List* operation pages with maxResults/nextToken: through boto3's
paginators, by hand, and through the CLI's --page-size / --max-items. Each
way must return every item exactly once, in the unpaged order."""

import pytest

from conftest import api_error, register

ITEMS = 7


def populate(ecs) -> None:
    """ITEMS of everything: clusters, families (with revisions), services
    and tasks (both in cluster "c0")."""
    for n in range(ITEMS):
        ecs.create_cluster(clusterName=f"c{n}")
        register(ecs, f"family-{n}")
    for _ in range(ITEMS - 1):
        register(ecs, "family-0")
    for n in range(ITEMS):
        ecs.create_service(cluster="c0", serviceName=f"svc-{n}", taskDefinition="family-1", desiredCount=0)
    ecs.run_task(cluster="c0", taskDefinition="family-2", count=ITEMS)


# (boto3 operation, CLI command, result key, parameters in boto3 and CLI form)
LISTINGS = [
    ("list_clusters", "list-clusters", "clusterArns", {}, []),
    ("list_task_definitions", "list-task-definitions", "taskDefinitionArns", {}, []),
    ("list_task_definitions", "list-task-definitions", "taskDefinitionArns",
     {"familyPrefix": "family-0", "sort": "DESC"}, ["--family-prefix", "family-0", "--sort", "DESC"]),
    ("list_task_definition_families", "list-task-definition-families", "families", {}, []),
    ("list_services", "list-services", "serviceArns", {"cluster": "c0"}, ["--cluster", "c0"]),
    ("list_tasks", "list-tasks", "taskArns", {"cluster": "c0"}, ["--cluster", "c0"]),
]
IDS = [f"{op}{'-' + '-'.join(params) if params else ''}" for op, _, _, params, _ in LISTINGS]


@pytest.fixture
def populated(server):
    populate(server.ecs)
    return server


def unpaged(ecs, operation: str, key: str, params: dict) -> list:
    response = getattr(ecs, operation)(maxResults=100, **params)
    assert "nextToken" not in response, "more than 100 items: this listing needs paging itself"
    return response[key]


@pytest.mark.parametrize("operation, command, key, params, cli_params", LISTINGS, ids=IDS)
def test_boto3_paginator(populated, operation, command, key, params, cli_params):
    ecs = populated.ecs
    expected = unpaged(ecs, operation, key, params)
    assert len(expected) >= ITEMS

    pages = list(ecs.get_paginator(operation).paginate(PaginationConfig={"PageSize": 2}, **params))
    assert all(len(page[key]) <= 2 for page in pages)
    assert len(pages) >= len(expected) // 2
    assert [item for page in pages for item in page[key]] == expected


@pytest.mark.parametrize("operation, command, key, params, cli_params", LISTINGS, ids=IDS)
def test_next_token_by_hand(populated, operation, command, key, params, cli_params):
    ecs = populated.ecs
    expected = unpaged(ecs, operation, key, params)
    seen: list = []
    token: dict = {}
    while True:
        page = getattr(ecs, operation)(maxResults=3, **params, **token)
        assert len(page[key]) <= 3
        seen += page[key]
        if not page.get("nextToken"):
            break
        token = {"nextToken": page["nextToken"]}
        assert len(seen) <= len(expected), f"pages keep coming after every item was seen: {seen}"
    assert seen == expected


@pytest.mark.parametrize("operation, command, key, params, cli_params", LISTINGS, ids=IDS)
def test_cli_page_size_and_max_items(populated, operation, command, key, params, cli_params):
    expected = unpaged(populated.ecs, operation, key, params)
    # --page-size makes the CLI fetch small pages but still print everything.
    assert populated.aws_ecs(command, *cli_params, "--page-size", "2")[key] == expected

    # --max-items prints a few and a NextToken to resume from.
    seen: list = []
    resume: list[str] = []
    while True:
        output = populated.aws_ecs(command, *cli_params, "--max-items", "3", "--page-size", "2", *resume)
        assert len(output[key]) <= 3
        seen += output[key]
        if "NextToken" not in output:
            break
        resume = ["--starting-token", output["NextToken"]]
        assert len(seen) <= len(expected), f"pages keep coming after every item was seen: {seen}"
    assert seen == expected


@pytest.mark.parametrize("operation", ["list_clusters", "list_task_definitions", "list_task_definition_families"])
def test_garbage_next_token_is_refused(server, operation):
    # Starting over from the first page instead would silently duplicate items.
    with api_error(("InvalidParameterException", "ClientException"), "nextToken"):
        getattr(server.ecs, operation)(nextToken="not-a-token")
