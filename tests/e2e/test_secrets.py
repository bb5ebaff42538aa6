"""Secrets Manager and SSM Parameter Store through the real `aws` CLI and boto3: every action
Berth answers with its errors, values that survive `kill -9`, a master key the server will
not start without, and no value in plaintext anywhere in the data directory."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import botocore.exceptions
import pytest

from conftest import BerthServer, REGION, isolated_environ

DB_SECRET = {"DATABASE_PASSWORD": "pw-7Hq2-unique", "username": "portal", "port": 5432}


def secrets_client(server: BerthServer):
    return server.client(service="secretsmanager")


def ssm_client(server: BerthServer):
    return server.client(service="ssm")


def error_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response["Error"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500, error
    return error["Code"], error["Message"]


def test_secrets_manager_through_the_cli(server: BerthServer):
    created = server.aws("secretsmanager", "create-secret", "--name", "app/dev/DATABASE",
                         "--secret-string", json.dumps(DB_SECRET), "--description", "portal db",
                         "--tags", "Key=team,Value=portal")
    arn = created["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:{REGION}:000000000000:secret:app/dev/DATABASE-")
    assert len(arn.rsplit("-", 1)[1]) == 6
    partial = arn.rsplit("-", 1)[0]
    for secret_id in ("app/dev/DATABASE", arn, partial):
        got = server.aws("secretsmanager", "get-secret-value", "--secret-id", secret_id)
        assert json.loads(got["SecretString"]) == DB_SECRET
        assert got["VersionStages"] == ["AWSCURRENT"]

    second = server.aws("secretsmanager", "put-secret-value", "--secret-id", "app/dev/DATABASE",
                        "--secret-string", json.dumps({**DB_SECRET, "DATABASE_PASSWORD": "rotated-9x"}))
    previous = server.aws("secretsmanager", "get-secret-value", "--secret-id", arn, "--version-stage", "AWSPREVIOUS")
    assert json.loads(previous["SecretString"])["DATABASE_PASSWORD"] == "pw-7Hq2-unique"
    assert previous["VersionId"] == created["VersionId"]

    described = server.aws("secretsmanager", "describe-secret", "--secret-id", arn)
    assert "SecretString" not in described
    assert described["Description"] == "portal db"
    assert described["VersionIdsToStages"][second["VersionId"]] == ["AWSCURRENT"]
    assert described["Tags"] == [{"Key": "team", "Value": "portal"}]

    versions = server.aws("secretsmanager", "list-secret-version-ids", "--secret-id", arn)["Versions"]
    assert {v["VersionId"] for v in versions} == {created["VersionId"], second["VersionId"]}
    server.aws("secretsmanager", "update-secret-version-stage", "--secret-id", arn, "--version-stage", "AWSCURRENT",
               "--move-to-version-id", created["VersionId"], "--remove-from-version-id", second["VersionId"])
    current = server.aws("secretsmanager", "get-secret-value", "--secret-id", arn)
    assert current["VersionId"] == created["VersionId"]

    server.aws("secretsmanager", "update-secret", "--secret-id", arn, "--description", "moved")
    server.aws("secretsmanager", "tag-resource", "--secret-id", arn, "--tags", "Key=tier,Value=db")
    server.aws("secretsmanager", "untag-resource", "--secret-id", arn, "--tag-keys", "team")
    assert server.aws("secretsmanager", "describe-secret", "--secret-id", arn)["Tags"] == [{"Key": "tier", "Value": "db"}]

    listed = server.aws("secretsmanager", "list-secrets", "--filters", "Key=name,Values=app/")["SecretList"]
    assert [s["Name"] for s in listed] == ["app/dev/DATABASE"]
    assert "SecretString" not in listed[0]

    password = server.aws("secretsmanager", "get-random-password", "--password-length", "24",
                          "--exclude-punctuation")["RandomPassword"]
    assert len(password) == 24 and password.isalnum()

    deleted = server.aws("secretsmanager", "delete-secret", "--secret-id", arn, "--recovery-window-in-days", "7")
    assert deleted["ARN"] == arn
    code, message = server.aws_error("secretsmanager", "get-secret-value", "--secret-id", arn)
    assert (code, message) == (
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.")
    server.aws("secretsmanager", "restore-secret", "--secret-id", arn)
    server.aws("secretsmanager", "get-secret-value", "--secret-id", arn)
    server.aws("secretsmanager", "delete-secret", "--secret-id", arn, "--force-delete-without-recovery")
    code, message = server.aws_error("secretsmanager", "get-secret-value", "--secret-id", arn)
    assert (code, message) == ("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")

    code, message = server.aws_error("secretsmanager", "rotate-secret", "--secret-id", "x",
                                     "--rotation-lambda-arn", "arn:aws:lambda:us-east-1:000000000000:function:r")
    assert code == "InvalidRequestException" and "PutSecretValue" in message


def test_secrets_manager_errors_and_batches_through_boto3(server: BerthServer):
    sm = secrets_client(server)
    sm.create_secret(Name="a", SecretString="one")
    sm.create_secret(Name="b", SecretBinary=b"\x00\x01\x02")
    assert sm.get_secret_value(SecretId="b")["SecretBinary"] == b"\x00\x01\x02"
    assert error_of(sm.create_secret, Name="a", SecretString="x")[0] == "ResourceExistsException"
    assert error_of(sm.create_secret, Name="bad name!", SecretString="x")[0] == "InvalidParameterException"
    assert error_of(sm.delete_secret, SecretId="a", RecoveryWindowInDays=3)[0] == "InvalidParameterException"
    code, message = error_of(sm.get_secret_value, SecretId="a", VersionStage="AWSPENDING")
    assert code == "ResourceNotFoundException" and "AWSPENDING" in message
    batch = sm.batch_get_secret_value(SecretIdList=["a", "missing"])
    assert [v["Name"] for v in batch["SecretValues"]] == ["a"]
    assert batch["Errors"][0]["SecretId"] == "missing"
    assert batch["Errors"][0]["ErrorCode"] == "ResourceNotFoundException"
    token = "1" * 32
    sm.put_secret_value(SecretId="a", SecretString="two", ClientRequestToken=token)
    sm.put_secret_value(SecretId="a", SecretString="two", ClientRequestToken=token)
    assert error_of(sm.put_secret_value, SecretId="a", SecretString="three",
                    ClientRequestToken=token)[0] == "ResourceExistsException"
    names = [s["Name"] for page in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 1})
             for s in page["SecretList"]]
    assert sorted(names) == ["a", "b"]


def test_parameter_store_through_the_cli_and_boto3(server: BerthServer):
    server.aws("ssm", "put-parameter", "--name", "/portal/dev/api-key", "--value", "k-unique-42", "--type", "SecureString")
    server.aws("ssm", "put-parameter", "--name", "/portal/dev/hosts", "--value", "a,b", "--type", "StringList")
    server.aws("ssm", "put-parameter", "--name", "/portal/prod/deep/x", "--value", "x", "--type", "String")
    hidden = server.aws("ssm", "get-parameter", "--name", "/portal/dev/api-key")["Parameter"]
    assert hidden["Value"] != "k-unique-42"
    shown = server.aws("ssm", "get-parameter", "--name", "/portal/dev/api-key", "--with-decryption")["Parameter"]
    assert shown["Value"] == "k-unique-42" and shown["Version"] == 1
    code, message = server.aws_error("ssm", "put-parameter", "--name", "/portal/dev/api-key", "--value", "v2",
                                     "--type", "SecureString")
    assert code == "ParameterAlreadyExists"
    assert server.aws("ssm", "put-parameter", "--name", "/portal/dev/api-key", "--value", "k-unique-43",
                      "--overwrite")["Version"] == 2
    code, message = server.aws_error("ssm", "put-parameter", "--name", "portal/dev/x", "--value", "v", "--type", "String")
    assert code == "ValidationException" and "must start with /" in message

    ssm = ssm_client(server)
    arn = f"arn:aws:ssm:{REGION}:000000000000:parameter/portal/dev/api-key"
    many = ssm.get_parameters(Names=[arn, "/portal/dev/api-key:1", "/nope"], WithDecryption=True)
    assert [p["Value"] for p in many["Parameters"]] == ["k-unique-43", "k-unique-42"]
    assert many["Parameters"][0]["Name"] == arn
    assert many["InvalidParameters"] == ["/nope"]
    one_level = ssm.get_parameters_by_path(Path="/portal/dev")["Parameters"]
    assert sorted(p["Name"] for p in one_level) == ["/portal/dev/api-key", "/portal/dev/hosts"]
    everything = [p["Name"] for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path="/portal", Recursive=True, PaginationConfig={"PageSize": 1}) for p in page["Parameters"]]
    assert sorted(everything) == ["/portal/dev/api-key", "/portal/dev/hosts", "/portal/prod/deep/x"]
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])["Parameters"]
    assert [p["Name"] for p in described] == ["/portal/dev/api-key"]
    history = ssm.get_parameter_history(Name="/portal/dev/api-key", WithDecryption=True)["Parameters"]
    assert [p["Value"] for p in history] == ["k-unique-42", "k-unique-43"]
    assert error_of(ssm.get_parameter, Name="/portal/dev/api-key:7")[0] == "ParameterVersionNotFound"
    ssm.delete_parameter(Name="/portal/prod/deep/x")
    assert error_of(ssm.delete_parameter, Name="/portal/prod/deep/x")[0] == "ParameterNotFound"
    deleted = ssm.delete_parameters(Names=["/portal/dev/hosts", "/nope"])
    assert deleted["DeletedParameters"] == ["/portal/dev/hosts"] and deleted["InvalidParameters"] == ["/nope"]


VALUES = ("sm-plain-Zq81", "sm-json-Wx42", "ssm-secure-Rt55", "ssm-string-Yu66")


def store_values(server: BerthServer) -> None:
    sm, ssm = secrets_client(server), ssm_client(server)
    sm.create_secret(Name="plain", SecretString=VALUES[0])
    sm.create_secret(Name="json", SecretString=json.dumps({"k": VALUES[1]}))
    ssm.put_parameter(Name="/p/secure", Value=VALUES[2], Type="SecureString")
    ssm.put_parameter(Name="/p/string", Value=VALUES[3], Type="String")


def read_values(server: BerthServer) -> list[str]:
    sm, ssm = secrets_client(server), ssm_client(server)
    return [
        sm.get_secret_value(SecretId="plain")["SecretString"],
        json.loads(sm.get_secret_value(SecretId="json")["SecretString"])["k"],
        ssm.get_parameter(Name="/p/secure", WithDecryption=True)["Parameter"]["Value"],
        ssm.get_parameter(Name="/p/string")["Parameter"]["Value"],
    ]


def files_holding(directory: Path, values: tuple[str, ...]) -> list[str]:
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {v}" for v in values if v.encode() in data]
    return found


def test_values_survive_kill_9_and_no_file_holds_one(server: BerthServer):
    store_values(server)
    server.restart_after_crash()
    assert read_values(server) == list(VALUES)
    # The database, its WAL and the server's own log: nothing Berth writes holds a value.
    assert files_holding(server.data_dir, VALUES) == []
    assert not [v for v in VALUES if v in server.output()]


def test_the_server_will_not_start_without_its_master_key(server: BerthServer):
    store_values(server)
    server.stop()
    key = server.data_dir / "master.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    kept = key.with_name("kept.key")
    key.rename(kept)
    refused = subprocess.run([str(server.binary), "server", "--data-dir", str(server.data_dir),
                              "--listen", f"127.0.0.1:{server.port}"],
                             env=isolated_environ(), capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "does not exist: restore that file" in refused.stderr, refused.stderr
    assert not key.exists(), "a new key would leave every secret unreadable"
    kept.rename(key)
    server.start()
    assert read_values(server) == list(VALUES)


def test_rotating_the_master_key_keeps_every_value(server: BerthServer):
    store_values(server)
    busy = server.berth("master-key", "rotate", check=False)
    assert busy.returncode != 0 and "stop it first" in busy.stderr, busy.stderr
    server.stop()
    rotated = server.berth("master-key", "rotate", "--output", "json")
    report = json.loads(rotated.stdout)
    assert report["values"] == 4 and report["oldKeyId"] != report["newKeyId"]
    server.start()
    assert read_values(server) == list(VALUES)
