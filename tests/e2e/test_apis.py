"""One endpoint for every API: each request goes to the API its X-Amz-Target or its form's
Version names, and a request for an API Berth does not answer is refused with
UnknownOperationException naming what it asked for, whichever protocol it spoke."""

from conftest import DEFAULT_CLUSTER, api_error


def test_ecs_and_elbv2_share_the_endpoint_and_the_keys(server):
    assert server.ecs.list_clusters()["clusterArns"] == [DEFAULT_CLUSTER]
    assert server.elbv2.describe_load_balancers()["LoadBalancers"] == []


def test_a_json_api_berth_does_not_answer_is_named(server):
    dynamodb = server.client(service="dynamodb")
    with api_error("UnknownOperationException", "DynamoDB_20120810", "dynamodb", "ECS", "ELBv2"):
        dynamodb.list_tables()


def test_a_query_api_berth_does_not_answer_is_named(server):
    sns = server.client(service="sns")
    with api_error("UnknownOperationException", "2010-03-31", "sns", "ECS", "ELBv2"):
        sns.list_topics()


def test_json_1_0_is_answered_like_1_1(server):
    response = server.raw("ListClusters", {}, content_type="application/x-amz-json-1.0")
    assert response.status == 200, response.body
    assert response.json["clusterArns"] == [DEFAULT_CLUSTER]
