"""Every member of RegisterTaskDefinitionRequest, recursively, survives a
register/describe round trip unchanged.

The request is generated from botocore's ECS model, so a member added to the
model is covered the day botocore ships it: each member gets a type-correct
value, and the overrides below replace the generic value wherever ECS
validation needs a meaningful one (memory, ARNs, ranges, references between
containers...).
Some members exclude each other in ECS (`links` only exist in bridge mode,
`proxyConfiguration` only in awsvpc mode), so two task definitions are
generated, one per network mode; together they must cover every member.
"""

from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator

from conftest import ACCOUNT, REGION, assert_subset

MODEL = botocore.session.get_session().get_service_model("ecs")
REQUEST = MODEL.operation_model("RegisterTaskDefinition").input_shape

SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-AbCdEf"
PARAMETER = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/api-key"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/"

# Paths name members as "containerDefinitions[].healthCheck.interval". An
# override is a value, None to leave the member out, or a callable
# f(generator, shape, path) that builds the value. Overrides sit on leaves
# where they can, so a member the model gains inside a structure still gets
# a generic value; whole lists are given where one element would not do.
Override = Any


def one_volume_per_kind(gen: "Generator", shape: Shape, path: str) -> list[dict]:
    """A volume is host, docker, EFS... never several: send one of each,
    named after its kind."""
    kinds = [name for name in shape.member.members if name != "name"]
    return [{"name": kind, kind: gen.value(shape.member.members[kind], f"{path}[].{kind}")} for kind in kinds]


SIDECAR = {"name": "sidecar", "image": "public.ecr.aws/docker/library/busybox:1.36", "memory": 128, "essential": False}

COMMON: dict[str, Override] = {
    "taskRoleArn": ROLE + "app-task",
    "executionRoleArn": ROLE + "ecsTaskExecutionRole",
    "requiresCompatibilities": ["EC2"],
    "cpu": "1024",
    "memory": "2048",
    "tags[].key": "team",
    "tags[].value": "platform",
    "pidMode": "task",
    "ipcMode": "task",
    "placementConstraints[].expression": "attribute:ecs.instance-type =~ t3.*",
    "inferenceAccelerators[].deviceName": "device1",
    "inferenceAccelerators[].deviceType": "eia2.medium",
    "ephemeralStorage.sizeInGiB": 30,
    "runtimePlatform.cpuArchitecture": "X86_64",
    "runtimePlatform.operatingSystemFamily": "LINUX",
    "trustedExecutionConfiguration.isolationMode": "SHARED",
    "volumes": one_volume_per_kind,
    "volumes[].configuredAtLaunch": True,
    "volumes[].host.sourcePath": "/var/lib/app",
    "volumes[].dockerVolumeConfiguration.scope": "shared",  # autoprovision needs shared scope
    "volumes[].dockerVolumeConfiguration.driver": "local",
    "volumes[].dockerVolumeConfiguration.driverOpts": {"type": "tmpfs"},
    "volumes[].dockerVolumeConfiguration.labels": {"app": "web"},
    "volumes[].efsVolumeConfiguration.fileSystemId": "fs-0123456789abcdef0",
    "volumes[].efsVolumeConfiguration.rootDirectory": "/",  # an access point needs "/"
    "volumes[].efsVolumeConfiguration.transitEncryption": "ENABLED",
    "volumes[].efsVolumeConfiguration.transitEncryptionPort": 2049,
    "volumes[].efsVolumeConfiguration.authorizationConfig.accessPointId": "fsap-0123456789abcdef0",
    "volumes[].s3filesVolumeConfiguration.fileSystemArn":
        f"arn:aws:s3files:{REGION}:{ACCOUNT}:file-system/fs-0123456789abcdef2",
    "volumes[].s3filesVolumeConfiguration.rootDirectory": "/",
    "volumes[].s3filesVolumeConfiguration.transitEncryptionPort": 2049,
    "volumes[].s3filesVolumeConfiguration.accessPointArn":
        f"arn:aws:s3files:{REGION}:{ACCOUNT}:access-point/fsap-0123456789abcdef2",
    "volumes[].fsxWindowsFileServerVolumeConfiguration.fileSystemId": "fs-0123456789abcdef1",
    "volumes[].fsxWindowsFileServerVolumeConfiguration.rootDirectory": "share",
    "volumes[].fsxWindowsFileServerVolumeConfiguration.authorizationConfig.credentialsParameter": SECRET,
    "volumes[].fsxWindowsFileServerVolumeConfiguration.authorizationConfig.domain": "corp.example.com",
    # The container under test gets every member; "sidecar" exists so that
    # dependsOn, volumesFrom, links and the proxy have something to name.
    "containerDefinitions": lambda gen, shape, path: [gen.value(shape.member, path + "[]"), SIDECAR],
    "containerDefinitions[].name": "app",
    "containerDefinitions[].image": "public.ecr.aws/docker/library/nginx:1.27",
    "containerDefinitions[].repositoryCredentials.credentialsParameter": SECRET,
    "containerDefinitions[].cpu": 256,
    "containerDefinitions[].memory": 512,
    "containerDefinitions[].memoryReservation": 256,
    "containerDefinitions[].essential": True,
    "containerDefinitions[].links": ["sidecar"],
    "containerDefinitions[].restartPolicy.ignoredExitCodes": [0, 143],
    "containerDefinitions[].restartPolicy.restartAttemptPeriod": 60,
    "containerDefinitions[].entryPoint": ["/docker-entrypoint.sh"],
    "containerDefinitions[].command": ["nginx", "-g", "daemon off;"],
    "containerDefinitions[].environment": [{"name": "APP_ENV", "value": "production"}, {"name": "EMPTY", "value": ""}],
    "containerDefinitions[].environmentFiles[].value": "arn:aws:s3:::config-bucket/app.env",
    "containerDefinitions[].mountPoints[].sourceVolume": "host",
    "containerDefinitions[].mountPoints[].containerPath": "/data",
    "containerDefinitions[].mountPoints[].readOnly": False,
    "containerDefinitions[].volumesFrom[].sourceContainer": "sidecar",
    "containerDefinitions[].linuxParameters.capabilities.add": ["NET_ADMIN"],
    "containerDefinitions[].linuxParameters.capabilities.drop": ["MKNOD"],
    "containerDefinitions[].linuxParameters.devices[].hostPath": "/dev/fuse",
    "containerDefinitions[].linuxParameters.devices[].containerPath": "/dev/fuse",
    "containerDefinitions[].linuxParameters.devices[].permissions": ["read", "write", "mknod"],
    "containerDefinitions[].linuxParameters.sharedMemorySize": 64,
    "containerDefinitions[].linuxParameters.tmpfs[].containerPath": "/run",
    "containerDefinitions[].linuxParameters.tmpfs[].size": 64,
    "containerDefinitions[].linuxParameters.tmpfs[].mountOptions": ["rw", "noexec"],
    "containerDefinitions[].linuxParameters.maxSwap": 1024,
    "containerDefinitions[].linuxParameters.swappiness": 60,
    "containerDefinitions[].secrets": [{"name": "DB_PASSWORD", "valueFrom": SECRET + ":password::"},
                                       {"name": "API_KEY", "valueFrom": PARAMETER}],
    "containerDefinitions[].dependsOn[].containerName": "sidecar",
    "containerDefinitions[].dependsOn[].condition": "START",  # HEALTHY would need a sidecar health check
    "containerDefinitions[].startTimeout": 120,
    "containerDefinitions[].stopTimeout": 30,
    "containerDefinitions[].hostname": "app.internal",
    "containerDefinitions[].user": "101:101",
    "containerDefinitions[].workingDirectory": "/srv",
    # Networking stays on: the container publishes ports.
    "containerDefinitions[].disableNetworking": False,
    "containerDefinitions[].privileged": False,
    "containerDefinitions[].dnsServers": ["10.0.0.2"],
    "containerDefinitions[].dnsSearchDomains": ["example.internal"],
    "containerDefinitions[].extraHosts[].hostname": "db.internal",
    "containerDefinitions[].extraHosts[].ipAddress": "10.0.1.5",
    "containerDefinitions[].dockerSecurityOptions": ["no-new-privileges"],
    "containerDefinitions[].dockerLabels": {"com.example.team": "platform", "com.example.tier": "web"},
    "containerDefinitions[].ulimits[].name": "nofile",
    "containerDefinitions[].ulimits[].softLimit": 1024,
    "containerDefinitions[].ulimits[].hardLimit": 4096,
    "containerDefinitions[].logConfiguration.logDriver": "awslogs",
    "containerDefinitions[].logConfiguration.options": {
        "awslogs-group": "/ecs/app", "awslogs-region": REGION, "awslogs-stream-prefix": "app"},
    "containerDefinitions[].logConfiguration.secretOptions[].name": "splunk-token",
    "containerDefinitions[].logConfiguration.secretOptions[].valueFrom": PARAMETER,
    "containerDefinitions[].healthCheck.command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"],
    "containerDefinitions[].healthCheck.interval": 30,
    "containerDefinitions[].healthCheck.timeout": 5,
    "containerDefinitions[].healthCheck.retries": 3,
    "containerDefinitions[].healthCheck.startPeriod": 10,
    "containerDefinitions[].systemControls[].namespace": "net.core.somaxconn",
    "containerDefinitions[].systemControls[].value": "1024",
    "containerDefinitions[].resourceRequirements": [
        {"type": "GPU", "value": "1", "sharingStrategy": {"nvidiaMps": {"memory": 1024, "maxComputePercent": 50}}},
        {"type": "InferenceAccelerator", "value": "device1"},
    ],
    "containerDefinitions[].firelensConfiguration.type": "fluentbit",
    "containerDefinitions[].firelensConfiguration.options": {"enable-ecs-log-metadata": "true"},
    "containerDefinitions[].credentialSpecs": [f"credentialspecdomainless:arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/gmsa"],
}

# Per network mode: members ECS only accepts in that mode are dropped (None).
VARIANTS: dict[str, dict[str, Override]] = {
    "awsvpc": {
        "family": "round-trip-awsvpc",
        "networkMode": "awsvpc",
        # In awsvpc mode hostPort must equal containerPort (or be omitted);
        # containerPortRange excludes containerPort and hostPort.
        "containerDefinitions[].portMappings": [
            {"containerPort": 8080, "hostPort": 8080, "protocol": "tcp", "name": "http", "appProtocol": "http"},
            {"containerPortRange": "9000-9099", "protocol": "udp"},
        ],
        "proxyConfiguration.containerName": "sidecar",
        "proxyConfiguration.properties": [{"name": "ProxyIngressPort", "value": "15000"},
                                          {"name": "ProxyEgressPort", "value": "15001"}],
        "containerDefinitions[].links": None,
        "containerDefinitions[].hostname": None,
        "containerDefinitions[].disableNetworking": None,
        "containerDefinitions[].dnsServers": None,
        "containerDefinitions[].dnsSearchDomains": None,
        "containerDefinitions[].extraHosts": None,
    },
    "bridge": {
        "family": "round-trip-bridge",
        "networkMode": "bridge",
        "containerDefinitions[].portMappings": [
            {"containerPort": 8080, "hostPort": 80, "protocol": "tcp", "name": "http", "appProtocol": "http2"},
            {"containerPort": 8125, "hostPort": 0, "protocol": "udp"},
        ],
        "proxyConfiguration": None,
    },
}


class Generator:
    """Builds a value for every member of a shape: the override for its path
    if there is one, else a generic value of the member's type."""

    def __init__(self, overrides: dict[str, Override]):
        self.overrides = overrides

    def value(self, shape: Shape, path: str) -> Any:
        if path in self.overrides:
            override = self.overrides[path]
            return override(self, shape, path) if callable(override) else override
        name = path.rsplit(".", 1)[-1].removesuffix("[]") or "value"
        match shape.type_name:
            case "structure":
                members = {member: self.value(member_shape, join(path, member))
                           for member, member_shape in shape.members.items()}
                return {member: value for member, value in members.items() if value is not None}
            case "list":
                return [self.value(shape.member, path + "[]")]
            case "map":
                return {f"{name}-key": self.value(shape.value, path + "{}")}
            case "string":
                return shape.enum[0] if shape.enum else f"{name}-value"
            case "integer" | "long":
                return max(shape.metadata.get("min", 7), 7)
            case "boolean":
                return True
        raise AssertionError(f"{path}: no generator for {shape.type_name} members")


def join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def request_for(variant: str) -> dict:
    return Generator({**COMMON, **VARIANTS[variant]}).value(REQUEST, "")


def model_paths(shape: Shape, path: str = "", seen: frozenset[str] = frozenset()) -> set[str]:
    """Every member path under `shape`; a recursive shape is walked once."""
    if shape.name in seen:
        return set()
    seen = seen | {shape.name}
    if shape.type_name == "structure":
        paths = set()
        for member, member_shape in shape.members.items():
            paths |= {join(path, member)} | model_paths(member_shape, join(path, member), seen)
        return paths
    if shape.type_name == "list":
        return model_paths(shape.member, path + "[]", seen)
    return set()


def sent_paths(shape: Shape, value: Any, path: str = "") -> set[str]:
    """The member paths `value` actually sets, walked along `shape` (so map
    keys, which are data rather than members, are not counted)."""
    if shape.type_name == "structure":
        paths = set()
        for member, member_value in value.items():
            paths |= {join(path, member)} | sent_paths(shape.members[member], member_value, join(path, member))
        return paths
    if shape.type_name == "list":
        return set().union(*(sent_paths(shape.member, item, path + "[]") for item in value))
    return set()


def test_generated_requests_cover_every_member():
    sent = set().union(*(sent_paths(REQUEST, request_for(variant)) for variant in VARIANTS))
    missing = model_paths(REQUEST) - sent
    assert not missing, f"members no variant sends: {sorted(missing)}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_generated_request_is_valid_for_the_model(variant):
    report = ParamValidator().validate(request_for(variant), REQUEST)
    assert not report.has_errors(), report.generate_report()


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_member_round_trips(ecs, variant):
    request = request_for(variant)
    registered = ecs.register_task_definition(**request)
    sent = {k: v for k, v in request.items() if k != "tags"}
    assert_subset(sent, registered["taskDefinition"])
    assert registered["tags"] == request["tags"]

    described = ecs.describe_task_definition(taskDefinition=request["family"], include=["TAGS"])
    assert_subset(sent, described["taskDefinition"])
    assert described["tags"] == request["tags"]
