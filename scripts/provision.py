#!/usr/bin/env python3
"""Create the AWS resources the job service needs inside the local emulators.

Run by `scripts/devenv up` with the moto venv's python (boto3 comes with moto).

Against moto (ECS + EC2): a VPC 10.0.0.0/16 with one subnet and one security
group, the ECS cluster, one Fargate task definition per JOB_DEFINITIONS entry,
and a state-manager transition so that ECS tasks stay RUNNING when described
(moto otherwise advances them towards STOPPED on every describe).

Against DynamoDB Local: the jobs table (PAY_PER_REQUEST, hash key jobId: S),
created only if missing, then waited on until ACTIVE.

Prints {"vpc_id", "subnet_id", "security_group_id"} as JSON on stdout; all
progress goes to stderr. Safe to run again against the same emulators: existing
resources (found by tag/name) are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request

import boto3
from botocore.config import Config

CONTAINER_IMAGE = "public.ecr.aws/docker/library/busybox:latest"
NAME_TAG = "jobs-dev"


def log(message: str) -> None:
    print(f"provision: {message}", file=sys.stderr)


def client(service: str, endpoint: str, region: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 3, "mode": "standard"}),
    )


def name_filter(name: str) -> list[dict]:
    return [{"Name": "tag:Name", "Values": [name]}]


def ensure_network(ec2) -> dict[str, str]:
    vpcs = ec2.describe_vpcs(Filters=name_filter(NAME_TAG))["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(
            CidrBlock="10.0.0.0/16",
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": NAME_TAG}]}],
        )["Vpc"]["VpcId"]
    # Needed by moto, not only for realism: its ECS RunTask (awsvpc) reads the
    # ENI's private_dns_name, which moto only sets when the VPC has DNS
    # hostnames enabled; otherwise RunTask fails with HTTP 500 (AttributeError).
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    log(f"vpc {vpc_id}")

    subnets = ec2.describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, *name_filter(NAME_TAG)]
    )["Subnets"]
    if subnets:
        subnet_id = subnets[0]["SubnetId"]
    else:
        subnet_id = ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock="10.0.1.0/24",
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": NAME_TAG}]}],
        )["Subnet"]["SubnetId"]
    log(f"subnet {subnet_id}")

    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [NAME_TAG]}]
    )["SecurityGroups"]
    if groups:
        sg_id = groups[0]["GroupId"]
    else:
        sg_id = ec2.create_security_group(
            GroupName=NAME_TAG, Description="jobs dev tasks", VpcId=vpc_id
        )["GroupId"]
    log(f"security group {sg_id}")
    return {"vpc_id": vpc_id, "subnet_id": subnet_id, "security_group_id": sg_id}


def ensure_ecs(ecs, cluster: str, definitions: dict) -> None:
    ecs.create_cluster(clusterName=cluster)  # idempotent
    log(f"ecs cluster {cluster}")
    for name, entry in definitions.items():
        family = entry["taskDefinition"]
        container = entry["container"]
        arn = ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[
                {
                    "name": container,
                    "image": CONTAINER_IMAGE,
                    "memory": 512,  # moto requires memory on the container definition
                    "essential": True,
                }
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        log(f"task definition {name}: {arn}")


def freeze_ecs_tasks(moto_endpoint: str) -> None:
    body = json.dumps(
        {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000}}
    ).encode()
    request = urllib.request.Request(
        f"{moto_endpoint.rstrip('/')}/moto-api/state-manager/set-transition",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status >= 300:
            raise RuntimeError(f"set-transition returned HTTP {response.status}")
    log("ecs::task transition set to manual (tasks stay RUNNING)")


def ensure_table(dynamodb, table: str) -> None:
    existing = dynamodb.list_tables()["TableNames"]
    if table not in existing:
        dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": "S"}
                for name in (
                    "jobId",
                    "pendingShard",
                    "pendingSince",
                    "queuedFor",
                    "queuedSince",
                    "listOwner",
                    "listStatus",
                    "listDefinition",
                    "listCreated",
                )
            ],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}],
            # The indexes terraform/dynamodb.tf declares: the reconciler's two sparse
            # ones and the three listing indexes.
            GlobalSecondaryIndexes=[
                {
                    "IndexName": index,
                    "KeySchema": [
                        {"AttributeName": hash_key, "KeyType": "HASH"},
                        {"AttributeName": range_key, "KeyType": "RANGE"},
                    ],
                    "Projection": projection,
                }
                for index, hash_key, range_key, projection in (
                    ("pending", "pendingShard", "pendingSince", {"ProjectionType": "KEYS_ONLY"}),
                    ("queue", "queuedFor", "queuedSince", {"ProjectionType": "KEYS_ONLY"}),
                    ("owner", "listOwner", "listCreated", {"ProjectionType": "KEYS_ONLY"}),
                    (
                        "owner-status",
                        "listStatus",
                        "listCreated",
                        {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["definition"]},
                    ),
                    ("owner-definition", "listDefinition", "listCreated", {"ProjectionType": "KEYS_ONLY"}),
                )
            ],
        )
        log(f"created table {table}")
    dynamodb.get_waiter("table_exists").wait(
        TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    status = dynamodb.describe_table(TableName=table)["Table"]["TableStatus"]
    if status != "ACTIVE":
        raise RuntimeError(f"table {table} is {status}, expected ACTIVE")
    log(f"table {table} ACTIVE")


def ensure_launch_queue(sqs, name: str) -> str:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]  # idempotent for the same name
    log(f"launch queue {url}")
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto-endpoint", default=os.environ.get("MOTO_ENDPOINT"))
    parser.add_argument("--dynamodb-endpoint", default=os.environ.get("DYNAMODB_ENDPOINT"))
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--table", default=os.environ.get("JOBS_TABLE", "jobs"))
    parser.add_argument("--cluster", default=os.environ.get("ECS_CLUSTER", "jobs"))
    parser.add_argument(
        "--job-definitions",
        default=os.environ.get("JOB_DEFINITIONS"),
        help="JSON object (default: $JOB_DEFINITIONS)",
    )
    args = parser.parse_args()
    for flag in ("moto_endpoint", "dynamodb_endpoint", "job_definitions"):
        if not getattr(args, flag):
            parser.error(f"--{flag.replace('_', '-')} (or its environment variable) is required")
    definitions = json.loads(args.job_definitions)

    # Never let the host's AWS configuration leak in (profiles, real endpoints).
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(variable, None)

    network = ensure_network(client("ec2", args.moto_endpoint, args.region))
    ensure_ecs(client("ecs", args.moto_endpoint, args.region), args.cluster, definitions)
    freeze_ecs_tasks(args.moto_endpoint)
    ensure_table(client("dynamodb", args.dynamodb_endpoint, args.region), args.table)
    network["launch_queue_url"] = ensure_launch_queue(
        client("sqs", args.moto_endpoint, args.region), f"{args.table}-launches"
    )

    print(json.dumps(network))
    return 0


if __name__ == "__main__":
    sys.exit(main())
