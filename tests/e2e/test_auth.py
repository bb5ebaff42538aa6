"""Authentication: the admin key the server writes at first start, SigV4
failures (each with its own exception), and keys created and revoked with
`berth keys` while the server runs. A refused request never changes state."""

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from botocore import UNSIGNED

from conftest import DEFAULT_CLUSTER, REGION, api_error, arn, snapshot

UNKNOWN_KEY = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def test_first_start_writes_credentials_and_prints_exports(server):
    assert server.exports == {
        "AWS_SHARED_CREDENTIALS_FILE": str(server.credentials_file),
        "AWS_PROFILE": "berth",
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_DEFAULT_REGION": REGION,
    }
    assert stat.S_IMODE(os.stat(server.credentials_file).st_mode) == 0o600
    key, secret = server.admin_credentials()
    assert key and secret
    # The printed exports are all the CLI needs.
    assert server.aws_ecs("list-clusters") == {"clusterArns": [DEFAULT_CLUSTER]}


def test_restart_keeps_the_admin_key(server):
    credentials = server.credentials_file.read_text()
    server.stop()
    server.start()
    assert server.credentials_file.read_text() == credentials
    assert server.ecs.list_clusters()["clusterArns"] == [DEFAULT_CLUSTER]


def test_region_flag_sets_the_region_in_arns(start_server):
    server = start_server("--region", "eu-west-1")
    cluster = server.ecs.create_cluster(clusterName="eu")["cluster"]
    assert cluster["clusterArn"] == arn("cluster/eu", region="eu-west-1")
    assert server.exports["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_any_signing_region_is_accepted(server):
    client = server.client(region="ap-southeast-2")
    cluster = client.create_cluster(clusterName="anywhere")["cluster"]
    # The server's region, not the caller's, goes into ARNs.
    assert cluster["clusterArn"] == arn("cluster/anywhere")


@pytest.fixture
def refused(server):
    """Asserts, after the test, that nothing changed on the server."""
    before = snapshot(server.ecs)
    yield server
    assert snapshot(server.ecs) == before


def test_unknown_access_key(refused):
    with api_error("UnrecognizedClientException", status=None):
        refused.client(*UNKNOWN_KEY).create_cluster(clusterName="intruder")


def test_wrong_secret(refused):
    key, _ = refused.admin_credentials()
    with api_error("InvalidSignatureException", status=None):
        refused.client(key, "not-the-secret").create_cluster(clusterName="intruder")


@pytest.mark.parametrize("skew", [timedelta(minutes=-10), timedelta(minutes=10)], ids=["expired", "future"])
def test_request_date_outside_five_minutes(refused, skew):
    when = datetime.now(timezone.utc).replace(tzinfo=None) + skew
    # botocore stamps X-Amz-Date from this clock when it signs.
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        with api_error("InvalidSignatureException", status=None):
            refused.ecs.create_cluster(clusterName="replayed")


def test_request_date_inside_five_minutes(server):
    when = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=3)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        server.ecs.create_cluster(clusterName="slow-clock")
    assert arn("cluster/slow-clock") in server.ecs.list_clusters()["clusterArns"]


def test_missing_authentication(refused):
    with api_error("MissingAuthenticationTokenException", status=None):
        refused.client(signature_version=UNSIGNED).create_cluster(clusterName="anonymous")
    response = refused.raw("CreateCluster", {"clusterName": "anonymous"}, sign=False)
    assert response.json["__type"] == "MissingAuthenticationTokenException"
    assert 400 <= response.status < 500


@pytest.mark.parametrize("authorization", [
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/ecs/aws4_request, SignedHeaders=host",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE, SignedHeaders=host, Signature=abc",
], ids=["no-fields", "no-signature", "no-signature-field", "short-credential-scope"])
def test_malformed_authorization(refused, authorization):
    # A current date, so the malformed header is the only thing wrong.
    now = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    response = refused.raw("CreateCluster", {"clusterName": "malformed"}, sign=False,
                           headers={"Authorization": authorization, "X-Amz-Date": now})
    assert 400 <= response.status < 500, response.body
    assert response.json["__type"] == "IncompleteSignatureException", response.body
    assert response.json["message"]


def test_wrong_credentials_through_cli(refused):
    code, _ = refused.aws_ecs_error("create-cluster", "--cluster-name", "intruder", env={
        "AWS_ACCESS_KEY_ID": UNKNOWN_KEY[0], "AWS_SECRET_ACCESS_KEY": UNKNOWN_KEY[1]})
    assert code == "UnrecognizedClientException"


def test_created_key_works_until_revoked(server):
    created = json.loads(server.keys("create", "--output", "json").stdout)
    key, secret = created["accessKeyId"], created["secretAccessKey"]
    assert key != server.admin_credentials()[0]
    assert key in server.keys("list", "--output", "json").stdout

    client = server.client(key, secret)
    client.create_cluster(clusterName="made-with-new-key")
    # The CLI can use it too: keys in the environment beat the profile.
    result = server.run_aws("list-clusters", env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret})
    assert result.returncode == 0, result.stderr
    assert arn("cluster/made-with-new-key") in json.loads(result.stdout)["clusterArns"]

    server.keys("revoke", key)
    before = snapshot(server.ecs)
    with api_error("UnrecognizedClientException", status=None):
        client.create_cluster(clusterName="after-revoke")
    with api_error("UnrecognizedClientException", status=None):
        client.list_clusters()
    assert snapshot(server.ecs) == before
    assert arn("cluster/made-with-new-key") in server.ecs.list_clusters()["clusterArns"]
