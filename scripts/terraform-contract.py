#!/usr/bin/env python3
"""Contract tests of the Terraform stack against the code, after an apply to the emulators.

Run by scripts/terraform-check with the moto venv's python (boto3 comes with moto):

  terraform-contract.py contract --root DIR --declaration CONTRACTS.json --state STATE.json \
                                 --plan PLAN.json --outputs OUT.json
  terraform-contract.py replan REPLAN.json
  terraform-contract.py jwtplan JWT_PLAN.json --issuer URL --audience AUD
  terraform-contract.py changeplan CHANGE_PLAN.json --changed KEY --added KEY
  terraform-contract.py slrplan SLR_PLAN.json
  terraform-contract.py deployer --policy POLICY.json --module DIR [--log PROVIDER_LOG ...]
  terraform-contract.py leftovers STACK_NAME

`contract` checks, reading what the code declares (CONTRACTS.json, the output of
`function-contracts`), the Terraform state and the emulators:
  environment  each function gets exactly the variables its code declares, with values
               that point at the resources Terraform created (JOB_DEFINITIONS with the
               lifecycle fields set and each definition's logs = its task definition's
               awslogs options, MAX_RUNNING from max_running);
  iam          each function's role grants exactly the AWS actions its code declares (plus
               what the Lambda service does with the role: logs, dead-letter queue, the
               launch queue's event source), on exactly the resources it calls them on
               (Query: job-reconciler on pending and queue only, job-api on the three
               listing indexes only; GetLogEvents on the streams of the jobs' log group
               only; ECS task calls in this cluster only); no wildcard action anywhere,
               Resource "*" only for ListTasks, in this cluster;
  events       the EventBridge rule's pattern, read back from moto, delivers an ECS Task
               State Change of our cluster started by the service, and drops the rest;
  launch       RunTask as create-job makes it, with its environment, starts each job
               definition's latest revision;
  wiring       API routes (the five of ROUTES), integrations and Lambda permissions (one
               per route, for exactly its method and path of this API); event target,
               retry policy and dead-letter queues;
  openapi      the routes API Gateway has are exactly the operations of openapi.yaml
               (its `paths`; GET /openapi.yaml, served by the local server only, aside);
               a missing openapi.yaml fails;
  reconciler   the schedule (rate from reconcile_interval_minutes, its target, retry
               policy, dead-letter queue and permission), the launch queue (visibility
               timeout, redrive policy, retention) and its event source mapping (batch
               size, partial batch failures, maximum concurrency), as the emulators have
               them;
  table        the jobs table's indexes as DynamoDB Local has them: the reconciler's
               sparse keys-only pending and queue, and GET /jobs's owner (KEYS_ONLY),
               owner-status (INCLUDE definition) and owner-definition (KEYS_ONLY); names,
               keys, key types, projections, and the ARNs the Query permissions name;
  deployment   what a real account refuses or mis-wires and the emulators accept: Fargate
               cpu/memory pairs, the environment size as Lambda measures it, functions
               configured after the task definitions they advertise, IAM role names
               unique per region, the access log group under /aws/vendedlogs/, subnets
               and security groups in one VPC.
`replan` fails if a plan made right after apply wants any change other than the known
emulator gaps listed in EMULATOR_GAPS. `jwtplan` checks that the JWT option adds the
authorizer and switches every route to it, and nothing else. `changeplan` checks a plan
that edits one job definition and adds another: the edited task definition is replaced
create-before-destroy (its family never lacks an ACTIVE revision), the new one is created
and advertised in the JOB_DEFINITIONS of create-job and job-reconciler, nothing else
changes. `slrplan` checks that
create_ecs_service_linked_role adds AWSServiceRoleForECS and nothing else. `deployer`
checks terraform/deployer-policy.json against the module (every resource and data source
type has its permissions, nothing more is granted, no wildcard action, the size fits a
managed policy) and, given Terraform provider debug logs (TF_LOG_PROVIDER=DEBUG) of runs
against the emulators, that every AWS API call the provider made is granted.
`leftovers NAME` fails if anything named after the stack is still in the emulators (run
after destroy).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path

# =====================================================================================
# THE CODE CONTRACT: what the Rust code reads and calls. The code declares the same in
# each function's CONTRACT (printed by `function-contracts`) and the test fails when the
# two disagree, so a change in the code shows up here (and must be reflected in
# terraform/lambda.tf and terraform/iam.tf).
# =====================================================================================

# What launching a job takes (create-job and job-reconciler): where, what, and the limits.
LAUNCH_ENV = {
    "JOBS_TABLE",
    "ECS_CLUSTER",
    "ECS_SUBNETS",
    "ECS_SECURITY_GROUPS",
    "ECS_ASSIGN_PUBLIC_IP",
    "JOB_DEFINITIONS",
    "LAUNCH_QUEUE_URL",
    "MAX_RUNNING",
}

# Environment each function reads (its CONTRACT.environment).
FUNCTION_ENV = {
    "create-job": LAUNCH_ENV,
    "job-events": {"JOBS_TABLE", "LAUNCH_QUEUE_URL"},
    # Cancelling stops the job's task, or frees the slots of a job without one.
    "job-api": {"JOBS_TABLE", "ECS_CLUSTER", "LAUNCH_QUEUE_URL"},
    "job-reconciler": LAUNCH_ENV,
}

# The functions that launch tasks, and so read JOB_DEFINITIONS and the ECS settings.
LAUNCHERS = ("create-job", "job-reconciler")

# AWS API operations each function's code calls (its CONTRACT.operations), as the IAM
# actions that authorize them. A TransactWriteItems of Update actions is authorized as
# dynamodb:UpdateItem on each item's table, so the code declares that. StopTask ends a
# cancelled job's task (job-api; job-reconciler for a cancel it finds still running, and
# for a task whose job was cancelled while its launch was in flight, which create-job
# and job-events hand over on the launch queue) and a timed-out attempt's
# (job-reconciler). job-api also lists the caller's jobs (Query on the listing indexes,
# BatchGetItem of the jobs) and reads a job's task logs (GetLogEvents).
CODE_ACTIONS = {
    "create-job": {
        "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "ecs:RunTask", "sqs:SendMessage",
    },
    "job-events": {"dynamodb:GetItem", "dynamodb:UpdateItem", "sqs:SendMessage"},
    "job-api": {
        "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchGetItem",
        "ecs:StopTask", "sqs:SendMessage", "logs:GetLogEvents",
    },
    "job-reconciler": {
        "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:Query",
        "ecs:RunTask", "ecs:StopTask", "ecs:DescribeTasks", "ecs:ListTasks", "sqs:SendMessage",
    },
}

# Permissions a call needs besides its own action (IAM authorization of RunTask).
IMPLIED_ACTIONS = {
    # RunTask with `tags` is also authorized as TagResource on the new task.
    "ecs:RunTask": {"ecs:TagResource", "iam:PassRole"},
}

# What the Lambda service itself does with a function's role: write its logs; send
# job-events' failed events to its dead-letter queue; poll the launch queue for
# job-reconciler (the event source mapping).
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
QUEUE_CONSUMER = {
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility",
}
PLATFORM_ACTIONS = {
    "create-job": LOGS,
    "job-events": LOGS | {"sqs:SendMessage"},
    "job-api": LOGS,
    "job-reconciler": LOGS | QUEUE_CONSUMER,
}

# The jobs table's global secondary indexes: name -> (hash key, range key, projection,
# non-key attributes projected). Every key attribute is a string.
# The reconciler's sparse indexes, keys-only: it reads the jobs themselves with
# BatchGetItem.
RECONCILER_INDEXES = {
    "pending": ("pendingShard", "pendingSince", "KEYS_ONLY", []),
    "queue": ("queuedFor", "queuedSince", "KEYS_ONLY", []),
}
# GET /jobs (job-api): a caller's jobs newest first, all of them, by status, by definition.
# owner-status carries the definition, so a filter on both is decided on the index entry.
LISTING_INDEXES = {
    "owner": ("listOwner", "listCreated", "KEYS_ONLY", []),
    "owner-status": ("listStatus", "listCreated", "INCLUDE", ["definition"]),
    "owner-definition": ("listDefinition", "listCreated", "KEYS_ONLY", []),
}
TABLE_INDEXES = RECONCILER_INDEXES | LISTING_INDEXES
# Which indexes each function may Query, exactly.
QUERIED_INDEXES = {"job-reconciler": set(RECONCILER_INDEXES), "job-api": set(LISTING_INDEXES)}

# Job definition fields Terraform may add to JOB_DEFINITIONS (only when set), from the
# job_definitions variable's fields: JOB_DEFINITIONS name -> variable name. The same
# holds inside retry and inside each of its rules; "rules" only when there is one.
OPTIONAL_DEFINITION_FIELDS = {
    "maxRunning": "max_running",
    "queueTimeoutSeconds": "queue_timeout_seconds",
    "timeoutSeconds": "timeout_seconds",
    "retry": "retry",
}
RETRY_FIELDS = {
    "attempts": "attempts",
    "intervalSeconds": "interval_seconds",
    "backoffRate": "backoff_rate",
    "maxDelaySeconds": "max_delay_seconds",
    "jitter": "jitter",
}
RETRY_RULE_FIELDS = {
    "onExitCode": "on_exit_code",
    "onStopCode": "on_stop_code",
    "onReason": "on_reason",
    "action": "action",
}


def expected_lifecycle(definition: dict) -> dict:
    """The lifecycle fields of one JOB_DEFINITIONS entry, as the code reads them, from a
    job_definitions entry as the plan records it (unset optional attributes are null)."""
    def present(value: dict, fields: dict) -> dict:
        return {name: value[source] for name, source in fields.items() if value.get(source) is not None}

    wanted = present(definition, OPTIONAL_DEFINITION_FIELDS)
    if "retry" in wanted:
        retry = wanted["retry"]
        wanted["retry"] = present(retry, RETRY_FIELDS)
        rules = [present(rule, RETRY_RULE_FIELDS) for rule in retry.get("rules") or []]
        if rules:
            wanted["retry"]["rules"] = rules
    return wanted

# The launch queue as Lambda's SQS event source: batches of up to 10, partial batch
# failures reported, and a visibility timeout of at least six times the function's
# timeout (AWS's recommendation), so that a batch in progress is not handed out again.
LAUNCH_BATCH_SIZE = 10
LAUNCH_MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_FACTOR = 6

# HTTP routes and the function behind each (the handlers' paths): the operations of
# openapi.yaml, exactly.
ROUTES = {
    "POST /jobs": "create-job",
    "GET /jobs": "job-api",
    "GET /jobs/{id}": "job-api",
    "DELETE /jobs/{id}": "job-api",
    "GET /jobs/{id}/logs": "job-api",
}
# Operations openapi.yaml may describe that only the local server serves (not on AWS).
LOCAL_ONLY_OPERATIONS = {"GET /openapi.yaml"}
OPENAPI_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Attributes the emulators do not store, so a plan right after apply shows them as
# changes. Anything else in that plan is a real perpetual diff.
EMULATOR_GAPS = {
    # DynamoDB Local keeps no tags and reports no SSE description.
    "aws_dynamodb_table": {"tags_all", "server_side_encryption"},
    # moto's Lambda stores neither LoggingConfig nor DeadLetterConfig.
    "aws_lambda_function": {"logging_config", "dead_letter_config"},
}
# Policies built from data sources that depend on those resources are re-read during the
# next apply, so their value is unknown (not different) in that plan.
DEFERRED_UNKNOWN = {"aws_iam_role_policy": {"policy"}}


def _same_json(before, after) -> bool:
    try:
        return json.loads(before) == json.loads(after)
    except (TypeError, ValueError):
        return False


def _same_indexes_but_name(before, after) -> bool:
    def key(index: dict) -> tuple:
        return (index.get("hash_key"), index.get("range_key"), index.get("projection_type"),
                tuple(sorted(index.get("non_key_attributes") or [])))
    if not isinstance(before, list) or not isinstance(after, list):
        return False
    # Only what this gap explains: every stored index lacks its name.
    return all(i.get("name") == "" for i in before) and sorted(map(key, before)) == sorted(map(key, after))


# Attributes the emulators store in another form than AWS, each with the test that the
# two forms mean the same (any other difference is still a change):
EMULATOR_EQUIVALENT = {
    # moto returns RedrivePolicy reformatted (json.dumps with spaces); AWS returns it as
    # it was set, so the provider sees no change there.
    ("aws_sqs_queue", "redrive_policy"): _same_json,
    # DynamoDB Local leaves ProvisionedThroughput out of an on-demand table's index
    # descriptions (DynamoDB reports it with zeros), and provider 5.x reads an index's
    # name only from inside that block (flattenTableGlobalSecondaryIndex): the stored
    # indexes have the right keys and projection but an empty name.
    ("aws_dynamodb_table", "global_secondary_index"): _same_indexes_but_name,
}

# Task sizes Fargate offers (Linux), memory in MiB by CPU units: RegisterTaskDefinition
# refuses any other pair. Also in terraform/ecs.tf (local.fargate_memory_by_cpu), which
# validates the input; this checks what was applied against AWS's table independently.
FARGATE_MEMORY_BY_CPU = {
    256: [512, 1024, 2048],
    512: list(range(1024, 4096 + 1, 1024)),
    1024: list(range(2048, 8192 + 1, 1024)),
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}

# Lambda refuses an environment whose variables, serialized as one compact JSON object,
# exceed 4 KB.
LAMBDA_ENVIRONMENT_LIMIT = 4096

# THE DEPLOYER'S PERMISSIONS: what the principal running `terraform apply`/`destroy` needs
# for each resource and data source type of terraform/, as IAM actions (create, read,
# update, delete, tags). terraform/deployer-policy.json must grant exactly their union.
# The provider calls seen against the emulators (provider debug logs) must all be here;
# what the emulators never show is added from AWS's documentation and said so.
DEPLOYER_ACTIONS = {
    # PITR (Update/DescribeContinuousBackups) is off in the test stack: DynamoDB Local has
    # no such API. kms: only with dynamodb_kms_key_arn; DynamoDB creates a grant on the key
    # for the caller and describes the key, through the kms:ViaService condition.
    "aws_dynamodb_table": {
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable",
        "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups",
        "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive",
        "dynamodb:ListTagsOfResource", "dynamodb:TagResource", "dynamodb:UntagResource",
        "kms:CreateGrant", "kms:DescribeKey",
    },
    # CreateCluster creates AWSServiceRoleForECS itself where it is missing and the caller
    # may (iam:CreateServiceLinkedRole, under aws_iam_service_linked_role).
    "aws_ecs_cluster": {
        "ecs:CreateCluster", "ecs:DescribeClusters", "ecs:UpdateCluster", "ecs:DeleteCluster",
        "ecs:ListTagsForResource", "ecs:TagResource", "ecs:UntagResource",
    },
    "aws_ecs_task_definition": {
        "ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:DeregisterTaskDefinition",
        "ecs:TagResource", "ecs:UntagResource", "iam:PassRole",
    },
    # Tags given at creation are authorized as logs:TagResource too.
    "aws_cloudwatch_log_group": {
        "logs:CreateLogGroup", "logs:DescribeLogGroups", "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy", "logs:DeleteLogGroup",
        "logs:ListTagsForResource", "logs:TagResource", "logs:UntagResource",
    },
    "aws_security_group": {
        "ec2:CreateSecurityGroup", "ec2:DescribeSecurityGroups", "ec2:DeleteSecurityGroup",
        "ec2:AuthorizeSecurityGroupEgress", "ec2:RevokeSecurityGroupEgress",
        "ec2:DescribeNetworkInterfaces", "ec2:CreateTags", "ec2:DeleteTags",
    },
    "data.aws_subnet": {"ec2:DescribeSubnets"},
    "data.aws_security_group": {"ec2:DescribeSecurityGroups"},
    "data.aws_caller_identity": set(),  # sts:GetCallerIdentity needs no permission
    "data.aws_partition": set(),
    "data.aws_iam_policy_document": set(),  # rendered by the provider, no API call
    "aws_iam_role": {
        "iam:CreateRole", "iam:GetRole", "iam:DeleteRole", "iam:UpdateAssumeRolePolicy",
        "iam:UpdateRoleDescription", "iam:ListRolePolicies", "iam:GetRolePolicy",
        "iam:DeleteRolePolicy", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole",
        "iam:TagRole", "iam:UntagRole",
    },
    "aws_iam_role_policy": {"iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"},
    # The provider changes a service-linked role's description with UpdateRole.
    "aws_iam_service_linked_role": {
        "iam:CreateServiceLinkedRole", "iam:GetRole", "iam:UpdateRole",
        "iam:DeleteServiceLinkedRole", "iam:GetServiceLinkedRoleDeletionStatus",
        "iam:TagRole", "iam:UntagRole",
    },
    "aws_lambda_function": {
        "lambda:CreateFunction", "lambda:GetFunction", "lambda:GetFunctionCodeSigningConfig",
        "lambda:ListVersionsByFunction", "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction",
        "lambda:TagResource", "lambda:UntagResource", "iam:PassRole",
    },
    "aws_lambda_permission": {"lambda:AddPermission", "lambda:GetPolicy", "lambda:RemovePermission"},
    # Lambda checks at creation that the function's role may read the queue; the deployer
    # needs no SQS permission for it. Tags (default_tags) are set at creation.
    "aws_lambda_event_source_mapping": {
        "lambda:CreateEventSourceMapping", "lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping",
        "lambda:DeleteEventSourceMapping", "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource",
    },
    "aws_lambda_function_event_invoke_config": {
        "lambda:PutFunctionEventInvokeConfig", "lambda:GetFunctionEventInvokeConfig",
        "lambda:DeleteFunctionEventInvokeConfig",
    },
    # API Gateway's management API is authorized by HTTP method on the resource path.
    "aws_apigatewayv2_api": {"apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"},
    "aws_apigatewayv2_authorizer": {"apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"},
    "aws_apigatewayv2_integration": {"apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"},
    "aws_apigatewayv2_route": {"apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"},
    # Access logging: the caller sets up the log delivery, which API Gateway does on its
    # behalf (never visible in the provider's calls), as "Configuring logging for an HTTP
    # API" documents: logs:CreateLogDelivery ... logs:DescribeLogGroups.
    "aws_apigatewayv2_stage": {
        "apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE",
        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies", "logs:DescribeLogGroups", "logs:CreateLogGroup",
    },
    "aws_cloudwatch_event_rule": {
        "events:PutRule", "events:DescribeRule", "events:DeleteRule",
        "events:ListTagsForResource", "events:TagResource", "events:UntagResource",
    },
    "aws_cloudwatch_event_target": {"events:PutTargets", "events:ListTargetsByRule", "events:RemoveTargets"},
    "aws_sqs_queue": {
        "sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:DeleteQueue",
        "sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue",
    },
    "aws_sqs_queue_policy": {"sqs:SetQueueAttributes", "sqs:GetQueueAttributes"},
    "aws_sns_topic": {
        "sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:DeleteTopic",
        "sns:ListTagsForResource", "sns:TagResource", "sns:UntagResource",
    },
    "aws_sns_topic_subscription": {
        "sns:Subscribe", "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe",
    },
    "aws_cloudwatch_metric_alarm": {
        "cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms",
        "cloudwatch:ListTagsForResource", "cloudwatch:TagResource", "cloudwatch:UntagResource",
    },
}

# Actions the deployer policy may grant only under these conditions (test, key, values).
DEPLOYER_CONDITIONS = {
    "iam:PassRole": ("StringEquals", "iam:PassedToService", {"lambda.amazonaws.com", "ecs-tasks.amazonaws.com"}),
    "iam:CreateServiceLinkedRole": ("StringEquals", "iam:AWSServiceName", {"ecs.amazonaws.com"}),
    "kms:CreateGrant": ("StringLike", "kms:ViaService", {"dynamodb.*.amazonaws.com"}),
    "kms:DescribeKey": ("StringLike", "kms:ViaService", {"dynamodb.*.amazonaws.com"}),
}

# Actions the deployer policy may grant only on this resource: the one role they concern.
ECS_SERVICE_LINKED_ROLE = "arn:*:iam::*:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS*"
DEPLOYER_RESOURCES = {
    "iam:CreateServiceLinkedRole": ECS_SERVICE_LINKED_ROLE,
    "iam:DeleteServiceLinkedRole": ECS_SERVICE_LINKED_ROLE,
    "iam:UpdateRole": ECS_SERVICE_LINKED_ROLE,
}

# IAM's limit on a managed policy, in characters without whitespace.
MANAGED_POLICY_LIMIT = 6144

# The provider's name of each service in its debug log -> the IAM action prefix.
SERVICE_PREFIX = {
    "ApiGatewayV2": "apigateway",
    "CloudWatch": "cloudwatch",
    "CloudWatch Logs": "logs",
    "DynamoDB": "dynamodb",
    "EC2": "ec2",
    "ECS": "ecs",
    "EventBridge": "events",
    "IAM": "iam",
    "KMS": "kms",
    "Lambda": "lambda",
    "SNS": "sns",
    "SQS": "sqs",
    "STS": "sts",
}
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}

FUNCTIONS = sorted(FUNCTION_ENV)


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.checks = 0

    def check(self, ok: bool, message: str) -> bool:
        self.checks += 1
        if not ok:
            self.items.append(message)
            print(f"  FAIL {message}")
        return ok

    def equal(self, actual, expected, what: str) -> bool:
        return self.check(actual == expected, f"{what}: expected {fmt(expected)}, got {fmt(actual)}")


def fmt(value) -> str:
    if isinstance(value, (set, frozenset)):
        value = sorted(value)
    return json.dumps(value, sort_keys=True, default=str)


def section(title: str) -> None:
    print(f"-- {title}")


# ---- the code's declaration ---------------------------------------------------------------


class Declaration:
    """What the code declares about its deployment, as `function-contracts`
    (tests/src/bin/function-contracts.rs) prints it: each function's configuration
    variables and AWS operations (the IAM actions), the startedBy prefix of its tasks and
    the variables the service sets on every task itself. The Rust tests hold the
    functions to the declaration; this holds Terraform to it."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.functions = {entry["function"]: entry for entry in data["functions"]}
        self.started_by_prefix: str = data["startedByPrefix"]
        self.reserved_variables: list[str] = data["reservedVariables"]

    def environment(self, fn: str) -> set[str]:
        return set(self.functions.get(fn, {}).get("environment", []))

    def operations(self, fn: str) -> set[str]:
        return set(self.functions.get(fn, {}).get("operations", []))


# ---- Terraform state ----------------------------------------------------------------------


class State:
    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        self.by_address: dict[tuple, dict] = {}
        self.depends_on: dict[tuple, list[str]] = {}
        values = data.get("values") or data.get("planned_values") or {}
        self._walk(values.get("root_module", {}))

    def _walk(self, module: dict) -> None:
        for r in module.get("resources", []):
            if r["mode"] == "managed":
                # A resource whose every value is unknown at plan time has no "values".
                self.by_address[(r["type"], r["name"], r.get("index"))] = r.get("values", {})
                self.depends_on[(r["type"], r["name"], r.get("index"))] = r.get("depends_on", [])
        for child in module.get("child_modules", []):
            self._walk(child)

    def get(self, type_: str, name: str, index=None) -> dict:
        key = (type_, name, index)
        if key not in self.by_address:
            raise SystemExit(f"{type_}.{name}[{index!r}] is not in the state")
        return self.by_address[key]

    def of_type(self, type_: str) -> list[dict]:
        return [v for (t, _, _), v in self.by_address.items() if t == type_]


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def normalise_conditions(condition: dict | None) -> dict:
    return {
        test: {key: sorted(as_list(v)) for key, v in variables.items()}
        for test, variables in (condition or {}).items()
    }


def grants(policy: dict, f: Failures, what: str) -> dict[str, list[tuple[frozenset, str]]]:
    """action -> [(resources, conditions as JSON)] of every Allow statement."""
    result: dict[str, list] = {}
    for statement in as_list(policy.get("Statement")):
        sid = statement.get("Sid", "?")
        f.equal(statement.get("Effect"), "Allow", f"{what} statement {sid} effect")
        f.check(
            "NotAction" not in statement and "NotResource" not in statement,
            f"{what} statement {sid} uses NotAction/NotResource",
        )
        for action in as_list(statement.get("Action")):
            f.check("*" not in action and "?" not in action, f"{what}: wildcard action {action!r}")
            result.setdefault(action, []).append(
                (
                    frozenset(as_list(statement.get("Resource"))),
                    fmt(normalise_conditions(statement.get("Condition"))),
                )
            )
    return result


def comparable(granted: dict) -> dict:
    return {
        action: sorted([sorted(resources), condition] for resources, condition in statements)
        for action, statements in granted.items()
    }


# ---- checks -------------------------------------------------------------------------------


def function_env(state: State, fn: str) -> dict:
    function = state.get("aws_lambda_function", "this", fn)
    return (as_list(function.get("environment")) or [{}])[0].get("variables") or {}


def check_environment(f: Failures, root: Path, code: Declaration, state: State, outputs: dict,
                      variables: dict) -> None:
    section("environment: each function gets exactly what its code reads")
    f.equal(set(code.functions), set(FUNCTIONS), "functions the code declares")
    for fn in FUNCTIONS:
        f.equal(
            code.environment(fn),
            FUNCTION_ENV[fn],
            f"{fn}: variables the code declares vs FUNCTION_ENV in this test",
        )
    # Parameters a client may set must never be the variables the service sets itself.
    reserved = re.search(r"!contains\(\[([^\]]*)\], p\)", (root / "terraform/variables.tf").read_text())
    f.equal(
        sorted(re.findall(r'"([^"]+)"', reserved.group(1))) if reserved else None,
        sorted(code.reserved_variables),
        "parameter names terraform/variables.tf refuses vs the variables the service sets on every task",
    )

    table = state.get("aws_dynamodb_table", "jobs")
    cluster = state.get("aws_ecs_cluster", "jobs")
    launches = state.get("aws_sqs_queue", "launches")
    task_defs = {v["family"]: v for v in state.of_type("aws_ecs_task_definition")}
    for fn in FUNCTIONS:
        function = state.get("aws_lambda_function", "this", fn)
        env = function_env(state, fn)
        f.equal(set(env), FUNCTION_ENV[fn], f"{fn}: environment set by Terraform")
        f.equal(env, outputs["function_environment"][fn], f"{fn}: environment output")
        f.equal(env.get("JOBS_TABLE"), table["name"], f"{fn}: JOBS_TABLE")
        if "LAUNCH_QUEUE_URL" in FUNCTION_ENV[fn]:
            f.equal(env.get("LAUNCH_QUEUE_URL"), launches["url"], f"{fn}: LAUNCH_QUEUE_URL is the launch queue")
        if "ECS_CLUSTER" in FUNCTION_ENV[fn]:
            f.check(env.get("ECS_CLUSTER") in (cluster["arn"], cluster["name"]), f"{fn}: ECS_CLUSTER is the cluster")
        f.equal(function["runtime"], "provided.al2023", f"{fn}: runtime")
        f.equal(function["handler"], "bootstrap", f"{fn}: handler")
    f.equal(outputs["launch_queue_url"], launches["url"], "launch_queue_url output")

    # create-job and job-reconciler launch the same way: one environment, checked once.
    f.equal(function_env(state, "job-reconciler"), function_env(state, "create-job"),
            "job-reconciler's environment = create-job's")
    env = function_env(state, "create-job")
    f.check(env.get("ECS_ASSIGN_PUBLIC_IP") in ("ENABLED", "DISABLED"), "create-job: ECS_ASSIGN_PUBLIC_IP")
    f.check(all(env.get("ECS_SUBNETS", "").split(",")), "create-job: ECS_SUBNETS is a list of ids")
    f.equal(
        env.get("ECS_SECURITY_GROUPS", "").split(","),
        outputs["job_security_group_ids"],
        "create-job: ECS_SECURITY_GROUPS",
    )
    # The service-wide limit: empty for none, else a whole number of at least 1.
    max_running = variables.get("max_running")
    f.equal(env.get("MAX_RUNNING"), "" if max_running is None else str(int(max_running)),
            f"create-job: MAX_RUNNING for max_running = {max_running}")
    f.check(env.get("MAX_RUNNING") == "" or (env.get("MAX_RUNNING", "").isdigit() and int(env["MAX_RUNNING"]) >= 1),
            f"create-job: MAX_RUNNING {env.get('MAX_RUNNING')!r} is neither empty nor a number >= 1")
    try:
        definitions = json.loads(env.get("JOB_DEFINITIONS", ""))
    except ValueError as e:
        f.check(False, f"create-job: JOB_DEFINITIONS is not JSON: {e}")
        return
    f.equal(
        set(definitions), set(outputs["task_definition_families"]), "JOB_DEFINITIONS names = job_definitions"
    )
    configured = variables.get("job_definitions") or {}
    for name, entry in definitions.items():
        # The code parses entries with deny_unknown_fields: these keys, the lifecycle
        # fields only when the job definition sets them (within retry and its rules too).
        wanted = expected_lifecycle(configured.get(name, {}))
        f.equal(set(entry), {"taskDefinition", "container", "parameters", "logs"} | set(wanted),
                f"JOB_DEFINITIONS[{name}] keys")
        for field, value in wanted.items():
            f.equal(entry.get(field), value, f"JOB_DEFINITIONS[{name}].{field}")
        family = entry.get("taskDefinition")
        f.equal(
            family, outputs["task_definition_families"].get(name), f"JOB_DEFINITIONS[{name}].taskDefinition"
        )
        task_def = task_defs.get(family)
        if f.check(task_def is not None, f"JOB_DEFINITIONS[{name}]: no task definition of family {family}"):
            containers = {c["name"]: c for c in json.loads(task_def["container_definitions"])}
            f.check(
                entry.get("container") in containers,
                f"JOB_DEFINITIONS[{name}].container {entry.get('container')!r} "
                f"is not a container of the task definition ({sorted(containers)})",
            )
            # Where job-api looks for the task's logs: the awslogs options of the task
            # definition's container, as applied, in the jobs' log group.
            container = containers.get(entry.get("container")) or {}
            f.equal(
                entry.get("logs"),
                expected_logs(container.get("logConfiguration")),
                f"JOB_DEFINITIONS[{name}].logs vs the task definition's awslogs options",
            )
            f.equal(
                (entry.get("logs") or {}).get("group"),
                outputs["job_log_group_name"],
                f"JOB_DEFINITIONS[{name}].logs.group is the jobs' log group",
            )
            f.equal(
                (entry.get("logs") or {}).get("region"),
                cluster["arn"].split(":")[3],
                f"JOB_DEFINITIONS[{name}].logs.region is the deployment's region",
            )
            f.equal(task_def["requires_compatibilities"], ["FARGATE"], f"{family}: compatibilities")
            f.equal(task_def["network_mode"], "awsvpc", f"{family}: network mode")


def expected_logs(log_configuration: dict | None) -> dict | None:
    """The `logs` entry of JOB_DEFINITIONS for a container's logConfiguration: the
    awslogs-group, awslogs-region and awslogs-stream-prefix options (None if the container
    does not log with awslogs)."""
    if not log_configuration or log_configuration.get("logDriver") != "awslogs":
        return None
    options = log_configuration.get("options") or {}
    return {
        "group": options.get("awslogs-group"),
        "region": options.get("awslogs-region"),
        "streamPrefix": options.get("awslogs-stream-prefix"),
    }


def check_iam(f: Failures, code: Declaration, state: State, iam) -> None:
    section("iam: each role grants exactly what its function's code calls")
    for fn in FUNCTIONS:
        f.equal(code.operations(fn), CODE_ACTIONS[fn], f"{fn}: operations the code declares vs CODE_ACTIONS")

    table_arn = state.get("aws_dynamodb_table", "jobs")["arn"]
    cluster = state.get("aws_ecs_cluster", "jobs")
    arn_prefix = cluster["arn"].split(":cluster/")[0]  # arn:aws:ecs:region:account
    cluster_tasks = f"{arn_prefix}:task/{cluster['name']}/*"
    in_cluster = fmt({"ArnEquals": {"ecs:cluster": [cluster["arn"]]}})
    families = [v["family"] for v in state.of_type("aws_ecs_task_definition")]
    execution_role = state.get("aws_iam_role", "task_execution")["arn"]
    job_roles = {v["task_role_arn"] for v in state.of_type("aws_ecs_task_definition")}
    launches = state.get("aws_sqs_queue", "launches")["arn"]
    for v in state.of_type("aws_ecs_task_definition"):
        f.equal(v["execution_role_arn"], execution_role, f"{v['family']}: execution role")

    no_condition = fmt({})
    # action -> {condition: resources}, the same for every function that is granted it,
    # but for what `granted_to` below sets per function.
    resources_of = {
        "dynamodb:PutItem": {no_condition: {table_arn}},
        "dynamodb:GetItem": {no_condition: {table_arn}},
        "dynamodb:UpdateItem": {no_condition: {table_arn}},
        "dynamodb:BatchGetItem": {no_condition: {table_arn}},
        # dynamodb:Query: per function below (indexes only, never the table itself).
        "ecs:RunTask": {in_cluster: {f"{arn_prefix}:task-definition/{family}:*" for family in families}},
        "ecs:TagResource": {fmt({"StringEquals": {"ecs:CreateAction": ["RunTask"]}}): {cluster_tasks}},
        "ecs:DescribeTasks": {in_cluster: {cluster_tasks}},
        "ecs:StopTask": {in_cluster: {cluster_tasks}},
        # ListTasks' only resource type is the container instance, which Fargate tasks do
        # not have: "*", limited to the cluster by its condition key.
        "ecs:ListTasks": {in_cluster: {"*"}},
        "iam:PassRole": {
            fmt({"StringEquals": {"iam:PassedToService": ["ecs-tasks.amazonaws.com"]}}): {execution_role} | job_roles,
        },
        "sqs:SendMessage": {no_condition: {launches}},
        **{action: {no_condition: {launches}} for action in QUEUE_CONSUMER},
    }
    # The jobs' log group as arn:...:log-group:<name> (the provider's arn attribute ends
    # with ":*" in some versions), then every stream in it.
    jobs_log_group = state.get("aws_cloudwatch_log_group", "jobs")
    jobs_log_group_arn = jobs_log_group["arn"].removesuffix(":*")
    f.check(
        jobs_log_group_arn.endswith(f":log-group:{jobs_log_group['name']}"),
        f"jobs log group ARN {jobs_log_group['arn']!r} is not ...:log-group:{jobs_log_group['name']}",
    )
    # job-events also sends (through the Lambda service) to its own dead-letter queue.
    # Query: each function on exactly the indexes it reads. GetLogEvents: job-api, the
    # jobs' log streams only.
    granted_to = {
        "job-events": {
            "sqs:SendMessage": {no_condition: {launches, state.get("aws_sqs_queue", "job_events_dlq")["arn"]}},
        },
        "job-api": {
            "dynamodb:Query": {no_condition: {f"{table_arn}/index/{i}" for i in QUERIED_INDEXES["job-api"]}},
            "logs:GetLogEvents": {no_condition: {f"{jobs_log_group_arn}:log-stream:*"}},
        },
        "job-reconciler": {
            "dynamodb:Query": {no_condition: {f"{table_arn}/index/{i}" for i in QUERIED_INDEXES["job-reconciler"]}},
        },
    }

    function_roles = {state.get("aws_iam_role", "function", fn)["name"]: fn for fn in FUNCTIONS}
    for attachment in state.of_type("aws_iam_role_policy_attachment"):
        f.check(
            attachment["role"] not in function_roles,
            f"managed policy {attachment['policy_arn']} attached to {attachment['role']}",
        )

    for fn in FUNCTIONS:
        role = state.get("aws_iam_role", "function", fn)
        inline = [p for p in state.of_type("aws_iam_role_policy") if p["role"] == role["name"]]
        if not f.equal(len(inline), 1, f"{fn}: inline policies on its role"):
            continue
        policy = json.loads(inline[0]["policy"])
        granted = grants(policy, f, f"{fn} role")

        expected_actions = set(CODE_ACTIONS[fn]) | PLATFORM_ACTIONS[fn]
        for action in CODE_ACTIONS[fn]:
            expected_actions |= IMPLIED_ACTIONS.get(action, set())
        f.equal(set(granted), expected_actions, f"{fn}: actions granted")

        log_group = state.get("aws_cloudwatch_log_group", "function", fn)["arn"]
        expected = dict(resources_of)
        expected["logs:CreateLogStream"] = {no_condition: {f"{log_group}:*"}}
        expected["logs:PutLogEvents"] = {no_condition: {f"{log_group}:*"}}
        expected.update(granted_to.get(fn, {}))
        for action, statements in granted.items():
            if not f.check(action in expected, f"{fn}: {action} has no expected resources in this test"):
                continue
            # Several statements may grant one action (job-events' SendMessage: the launch
            # queue for the code, the dead-letter queue for the Lambda service); what counts
            # is which resources each condition allows.
            by_condition: dict[str, set] = {}
            for resources, condition in statements:
                by_condition.setdefault(condition, set()).update(resources)
            f.equal(
                {c: sorted(r) for c, r in by_condition.items()},
                {c: sorted(r) for c, r in expected[action].items()},
                f"{fn}: resources and conditions of {action}",
            )
            for resources, condition in statements:
                f.check(
                    "*" not in resources or (action == "ecs:ListTasks" and condition == in_cluster),
                    f"{fn}: Resource * for {action} (condition {condition})",
                )

        # The role as the emulator's IAM has it, not only as Terraform recorded it.
        live = iam.list_role_policies(RoleName=role["name"])["PolicyNames"]
        f.equal(live, [inline[0]["name"]], f"{fn}: inline policies in IAM")
        f.equal(
            iam.list_attached_role_policies(RoleName=role["name"])["AttachedPolicies"],
            [],
            f"{fn}: managed policies in IAM",
        )
        document = iam.get_role_policy(RoleName=role["name"], PolicyName=inline[0]["name"])["PolicyDocument"]
        if isinstance(document, str):
            document = json.loads(document)
        f.equal(
            comparable(grants(document, Failures(), fn)),
            comparable(granted),
            f"{fn}: policy in IAM = policy in state",
        )

    section("iam: job task roles")
    execution = [
        p
        for p in state.of_type("aws_iam_role_policy")
        if p["role"] == state.get("aws_iam_role", "task_execution")["name"]
    ]
    if f.equal(len(execution), 1, "task execution role: inline policies"):
        granted = grants(json.loads(execution[0]["policy"]), f, "task execution role")
        logs = {f"{state.get('aws_cloudwatch_log_group', 'jobs')['arn']}:*"}
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            f.equal(
                {r for rs, _ in granted.get(action, []) for r in rs}, logs, f"task execution role: {action}"
            )
        allowed = {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:GetDownloadUrlForLayer",
        }
        f.check(
            set(granted) <= allowed,
            f"task execution role grants more than it needs: {fmt(set(granted) - allowed)}",
        )
        for action, statements in granted.items():
            for resources, _ in statements:
                f.check(
                    "*" not in resources or action == "ecr:GetAuthorizationToken",
                    f"task execution role: Resource * for {action}",
                )
    default_task_role = state.get("aws_iam_role", "job_task")["name"]
    f.equal(
        [p["name"] for p in state.of_type("aws_iam_role_policy") if p["role"] == default_task_role],
        [],
        "default job task role: inline policies (it has none)",
    )


def check_wiring(f: Failures, state: State, outputs: dict, clients: dict) -> None:
    section("wiring: API routes, permissions, event target, dead-letter queues")
    apigw, lam, events, sqs = clients["apigatewayv2"], clients["lambda"], clients["events"], clients["sqs"]
    api_id = outputs["api_id"]
    functions = {fn: state.get("aws_lambda_function", "this", fn) for fn in FUNCTIONS}
    routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api_id)["Items"]}
    integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api_id)["Items"]}
    f.equal(set(routes), set(ROUTES), "API routes")
    for key, fn in ROUTES.items():
        route = routes.get(key)
        if not route:
            continue
        f.check(
            route.get("AuthorizationType") in ("AWS_IAM", "JWT"),
            f"{key}: authorization {route.get('AuthorizationType')}",
        )
        f.equal(route.get("AuthorizationType"), outputs["api_authorization"], f"{key}: authorization")
        integration = integrations.get(route.get("Target", "").removeprefix("integrations/"), {})
        f.equal(integration.get("PayloadFormatVersion"), "2.0", f"{key}: payload format")
        f.equal(integration.get("IntegrationType"), "AWS_PROXY", f"{key}: integration type")
        f.check(functions[fn]["arn"] in integration.get("IntegrationUri", ""), f"{key}: integrates {fn}")

    def permissions(fn: str) -> list[dict]:
        policy = json.loads(lam.get_policy(FunctionName=functions[fn]["function_name"])["Policy"])
        return as_list(policy.get("Statement"))

    # One statement per route of the function (job-api has four), each for exactly its
    # route of this API: <execution ARN>/<any stage>/<method><path, {param} as *>.
    execution_arn = state.get("aws_apigatewayv2_api", "jobs")["execution_arn"]
    f.check(execution_arn.endswith(f":{api_id}"), f"API execution ARN {execution_arn!r} is not of API {api_id}")
    for fn in sorted(set(ROUTES.values())):
        wanted = set()
        for key in (k for k, v in ROUTES.items() if v == fn):
            method, path = key.split(" ")
            path = re.sub(r"\{[^}]+\}", "*", path)
            wanted.add(f"{execution_arn}/*/{method}{path}")
        statements = permissions(fn)
        f.equal(len(statements), len(wanted), f"{fn}: resource policy statements")
        sources = []
        for s in statements:
            f.equal(s.get("Principal"), {"Service": "apigateway.amazonaws.com"}, f"{fn}: invoked by")
            source = next(iter((s.get("Condition") or {}).get("ArnLike", {}).values()), None)
            f.check(source in wanted, f"{fn}: API permission source ARN {source!r} is none of its routes {sorted(wanted)}")
            sources.append(source)
        f.equal(sorted(sources), sorted(wanted), f"{fn}: routes its API permissions allow, one statement each")

    rule_arn = outputs["events_rule_arn"]
    statements = permissions("job-events")
    f.equal(
        [(s.get("Principal"), (s.get("Condition") or {}).get("ArnLike")) for s in statements],
        [({"Service": "events.amazonaws.com"}, {"AWS:SourceArn": rule_arn})],
        "job-events: invoked by the rule only",
    )

    rule_name = rule_arn.split("/")[-1]
    targets = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    events_dlq = state.get("aws_sqs_queue", "events_dlq")
    if f.equal(len(targets), 1, "rule targets"):
        target = targets[0]
        f.equal(target["Arn"], functions["job-events"]["arn"], "rule target")
        f.check(target.get("RetryPolicy", {}).get("MaximumRetryAttempts", 0) > 0, "rule target retry policy")
        f.equal(
            target.get("DeadLetterConfig", {}).get("Arn"), events_dlq["arn"], "rule target dead-letter queue"
        )

    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=events_dlq["url"], AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    statements = as_list(policy.get("Statement"))
    f.equal(
        [
            (s.get("Principal"), as_list(s.get("Action")), normalise_conditions(s.get("Condition")))
            for s in statements
        ],
        [
            (
                {"Service": "events.amazonaws.com"},
                ["sqs:SendMessage"],
                {"ArnEquals": {"aws:SourceArn": [rule_arn]}},
            )
        ],
        "events DLQ policy: EventBridge, from this rule only",
    )
    queues = state.of_type("aws_sqs_queue")
    f.equal(
        {q["name"].removeprefix(f"{state.get('aws_ecs_cluster', 'jobs')['name']}-") for q in queues},
        {"events-dlq", "job-events-dlq", "launches", "launches-dlq", "reconcile-dlq"},
        "SQS queues of the stack",
    )
    for queue in queues:
        attributes = sqs.get_queue_attributes(QueueUrl=queue["url"], AttributeNames=["All"])["Attributes"]
        f.check(
            attributes.get("SqsManagedSseEnabled") == "true" or "KmsMasterKeyId" in attributes,
            f"{queue['name']}: encrypted",
        )

    invoke_config = lam.get_function_event_invoke_config(
        FunctionName=functions["job-events"]["function_name"]
    )
    f.check("MaximumRetryAttempts" in invoke_config, "job-events: asynchronous invocation config")


def openapi_operations(path: Path) -> set[str] | None:
    """The operations of an OpenAPI document as route keys ("GET /jobs/{id}"), or None if
    the file does not exist. PyYAML comes with moto (its venv runs this script)."""
    if not path.is_file():
        return None
    import yaml

    document = yaml.safe_load(path.read_text()) or {}
    return {
        f"{method.upper()} {route}"
        for route, item in (document.get("paths") or {}).items()
        for method in (item or {})
        if method in OPENAPI_METHODS
    }


def check_openapi(f: Failures, root: Path, outputs: dict, clients: dict) -> None:
    section("openapi: the routes API Gateway has are the operations of openapi.yaml")
    path = root / "openapi.yaml"
    documented = openapi_operations(path)
    if not f.check(documented is not None, f"openapi.yaml missing ({path}): the routes cannot be checked against it"):
        return
    deployed = {r["RouteKey"] for r in clients["apigatewayv2"].get_routes(ApiId=outputs["api_id"])["Items"]}
    f.equal(deployed, set(ROUTES), "routes API Gateway has vs ROUTES in this test")
    f.equal(
        documented - LOCAL_ONLY_OPERATIONS,
        deployed,
        f"operations of openapi.yaml (less the local server's {sorted(LOCAL_ONLY_OPERATIONS)}) vs routes API Gateway has",
    )


def check_reconciler_wiring(f: Failures, state: State, outputs: dict, clients: dict, variables: dict) -> None:
    section("reconciler: schedule, launch queue, event source mapping, dead-letter queues")
    lam, events, sqs = clients["lambda"], clients["events"], clients["sqs"]
    reconciler = state.get("aws_lambda_function", "this", "job-reconciler")
    f.equal(outputs["reconciler_function_name"], reconciler["function_name"], "reconciler_function_name output")

    # The schedule, as EventBridge has it: rate(N minute(s)), N = reconcile_interval_minutes.
    interval = int(variables.get("reconcile_interval_minutes") or 1)
    rule_arn = outputs["reconcile_rule_arn"]
    rule = events.describe_rule(Name=rule_arn.split("/")[-1])
    f.equal(
        rule.get("ScheduleExpression"),
        f"rate({interval} {'minute' if interval == 1 else 'minutes'})",
        "reconcile schedule expression (read back from EventBridge)",
    )
    f.equal(rule.get("State"), "ENABLED", "reconcile schedule state")
    f.check("EventPattern" not in rule, "reconcile rule is a schedule only, no event pattern")
    schedule_dlq = state.get("aws_sqs_queue", "reconcile_dlq")
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    if f.equal(len(targets), 1, "reconcile rule targets"):
        target = targets[0]
        f.equal(target["Arn"], reconciler["arn"], "reconcile rule target")
        retry = target.get("RetryPolicy", {})
        # A tick is worth retrying only until the next one is due.
        f.equal(retry.get("MaximumEventAgeInSeconds"), 60 * interval, "reconcile target: event age = interval")
        f.check(retry.get("MaximumRetryAttempts", 0) > 0, "reconcile target retry policy")
        f.equal(target.get("DeadLetterConfig", {}).get("Arn"), schedule_dlq["arn"], "reconcile target dead-letter queue")

    policy = json.loads(lam.get_policy(FunctionName=reconciler["function_name"])["Policy"])
    f.equal(
        [(s.get("Principal"), (s.get("Condition") or {}).get("ArnLike")) for s in as_list(policy.get("Statement"))],
        [({"Service": "events.amazonaws.com"}, {"AWS:SourceArn": rule_arn})],
        "job-reconciler: invoked by its schedule rule only (the event source mapping needs no permission)",
    )
    queue_policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=schedule_dlq["url"], AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    f.equal(
        [
            (s.get("Principal"), as_list(s.get("Action")), normalise_conditions(s.get("Condition")))
            for s in as_list(queue_policy.get("Statement"))
        ],
        [({"Service": "events.amazonaws.com"}, ["sqs:SendMessage"], {"ArnEquals": {"aws:SourceArn": [rule_arn]}})],
        "reconcile DLQ policy: EventBridge, from the schedule rule only",
    )
    invoke_config = lam.get_function_event_invoke_config(FunctionName=reconciler["function_name"])
    f.equal(invoke_config.get("MaximumRetryAttempts"), 0, "job-reconciler: a failed pass is left to the next tick")

    # The launch queue, as SQS has it.
    launches = state.get("aws_sqs_queue", "launches")
    launches_dlq = state.get("aws_sqs_queue", "launches_dlq")
    f.equal(outputs["launch_queue_arn"], launches["arn"], "launch_queue_arn output")
    f.equal(outputs["launch_dead_letter_queue_arn"], launches_dlq["arn"], "launch_dead_letter_queue_arn output")
    attributes = sqs.get_queue_attributes(QueueUrl=launches["url"], AttributeNames=["All"])["Attributes"]
    dlq_attributes = sqs.get_queue_attributes(QueueUrl=launches_dlq["url"], AttributeNames=["All"])["Attributes"]
    timeout = lam.get_function_configuration(FunctionName=reconciler["function_name"])["Timeout"]
    f.check(
        int(attributes.get("VisibilityTimeout", 0)) >= VISIBILITY_TIMEOUT_FACTOR * timeout,
        f"launch queue visibility timeout {attributes.get('VisibilityTimeout')} s is under "
        f"{VISIBILITY_TIMEOUT_FACTOR} x job-reconciler's timeout ({timeout} s)",
    )
    # Messages are sent with DelaySeconds up to 900: the queue must not add a delay of its own.
    f.equal(attributes.get("DelaySeconds", "0"), "0", "launch queue: no default delay")
    redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
    f.equal(redrive.get("deadLetterTargetArn"), launches_dlq["arn"], "launch queue redrive target")
    f.equal(int(redrive.get("maxReceiveCount", 0)), LAUNCH_MAX_RECEIVE_COUNT, "launch queue maxReceiveCount")
    # SQS keeps a message's first enqueue time in the dead-letter queue: it must keep
    # messages longer than the source queue, or they expire there at once.
    f.check(
        int(dlq_attributes.get("MessageRetentionPeriod", 0)) > int(attributes.get("MessageRetentionPeriod", 0)),
        "launch DLQ retention must exceed the launch queue's",
    )

    # Lambda's SQS event source: exactly one, on the launch queue, for job-reconciler only.
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    ours = [m for m in mappings if m.get("EventSourceArn") == launches["arn"]]
    if f.equal(len(ours), 1, "event source mappings on the launch queue"):
        mapping = ours[0]
        f.equal(mapping.get("FunctionArn"), reconciler["arn"], "launch queue event source: function")
        f.equal(mapping.get("BatchSize"), LAUNCH_BATCH_SIZE, "launch queue event source: batch size")
        f.equal(
            mapping.get("FunctionResponseTypes"),
            ["ReportBatchItemFailures"],
            "launch queue event source: partial batch failures",
        )
        f.equal(
            (mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
            int(variables.get("launch_queue_max_concurrency") or 5),
            "launch queue event source: maximum concurrency",
        )
        f.check(mapping.get("State") in ("Enabled", "Creating", "Enabling"), f"launch queue event source state {mapping.get('State')}")
    other = [
        m["FunctionArn"] for m in mappings
        if m.get("FunctionArn") in {v["arn"] for v in state.of_type("aws_lambda_function")} and m not in ours
    ]
    f.equal(other, [], "other event source mappings of the stack's functions")


def check_table(f: Failures, state: State, clients: dict) -> None:
    section("table: the reconciler's and GET /jobs's indexes, as DynamoDB has them")
    table = clients["dynamodb"].describe_table(TableName=state.get("aws_dynamodb_table", "jobs")["name"])["Table"]
    indexes = {
        i["IndexName"]: (
            {k["KeyType"]: k["AttributeName"] for k in i["KeySchema"]},
            i["Projection"].get("ProjectionType"),
            sorted(i["Projection"].get("NonKeyAttributes") or []),
            i.get("IndexArn"),
        )
        for i in table.get("GlobalSecondaryIndexes", [])
    }
    f.equal(set(indexes), set(TABLE_INDEXES), "global secondary indexes")
    f.equal(table.get("LocalSecondaryIndexes", []), [], "local secondary indexes")
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    for name, (hash_key, range_key, projection, non_key) in TABLE_INDEXES.items():
        if name not in indexes:
            continue
        keys, actual_projection, actual_non_key, arn = indexes[name]
        f.equal(keys, {"HASH": hash_key, "RANGE": range_key}, f"index {name}: keys")
        f.equal(actual_projection, projection, f"index {name}: projection")
        f.equal(actual_non_key, sorted(non_key), f"index {name}: non-key attributes projected")
        f.equal((types.get(hash_key), types.get(range_key)), ("S", "S"), f"index {name}: key types")
        # The ARN the Query permission of the function that reads it names.
        f.equal(arn, f"{table['TableArn']}/index/{name}", f"index {name}: ARN")
    f.equal(
        sorted(name for names in QUERIED_INDEXES.values() for name in names),
        sorted(TABLE_INDEXES),
        "every index is queried by exactly one function",
    )
    f.equal(table.get("BillingModeSummary", {}).get("BillingMode"), "PAY_PER_REQUEST", "billing mode")


def check_configured_only(f: Failures, state: State, plan: State) -> None:
    # moto's Lambda stores neither DeadLetterConfig nor LoggingConfig, so these are
    # checked on the configuration as planned right after apply (every value known).
    section("function dead-letter queue and log groups (as configured: moto does not store them)")
    dlq = state.get("aws_sqs_queue", "job_events_dlq")["arn"]
    for fn in FUNCTIONS:
        function = plan.get("aws_lambda_function", "this", fn)
        targets = [c.get("target_arn") for c in as_list(function.get("dead_letter_config"))]
        # Only job-events is invoked asynchronously; API Gateway invokes the others
        # synchronously, where a dead-letter queue is never used.
        f.equal(targets, [dlq] if fn == "job-events" else [], f"{fn}: dead-letter queue")
        groups = [c.get("log_group") for c in as_list(function.get("logging_config"))]
        f.equal(groups, [state.get("aws_cloudwatch_log_group", "function", fn)["name"]], f"{fn}: log group")


def check_event_pattern(
    f: Failures, root: Path, code: Declaration, state: State, outputs: dict, clients: dict, name: str
) -> None:
    section("events: the rule's pattern delivers our tasks' events and drops the rest")
    events, sqs = clients["events"], clients["sqs"]
    rule_arn = outputs["events_rule_arn"]
    cluster_arn = state.get("aws_ecs_cluster", "jobs")["arn"]
    prefix = code.started_by_prefix
    pattern_text = events.describe_rule(Name=rule_arn.split("/")[-1])["EventPattern"]
    pattern = json.loads(pattern_text)
    f.equal(
        pattern,
        {
            "source": ["aws.ecs"],
            "detail-type": ["ECS Task State Change"],
            "detail": {"clusterArn": [cluster_arn], "startedBy": [{"prefix": prefix}]},
        },
        "rule pattern (read back from EventBridge)",
    )

    # The same pattern on a bus of our own, with a queue as target: the real rule's target
    # is a Lambda, which moto cannot run, and the default bus is shared with other tests.
    fixture = root / "tests/fixtures/ecs-task-state-change-running.json"
    base = json.loads(fixture.read_text())
    bus = f"{name}-contract"
    queue_url = sqs.create_queue(QueueName=f"{name}-contract")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.create_event_bus(Name=bus)
    try:
        events.put_rule(Name="contract", EventBusName=bus, EventPattern=pattern_text, State="ENABLED")
        events.put_targets(Rule="contract", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])

        other_cluster = cluster_arn.rsplit("/", 1)[0] + "/someone-elses-cluster"
        job = f"{prefix}{uuid.uuid4()}/1"
        cases = {
            # marker: (expected delivered, source, detail-type, clusterArn, startedBy)
            "ours": (True, "aws.ecs", "ECS Task State Change", cluster_arn, job),
            "ours-retry": (
                True,
                "aws.ecs",
                "ECS Task State Change",
                cluster_arn,
                f"{prefix}{uuid.uuid4()}/2",
            ),
            "other-cluster": (False, "aws.ecs", "ECS Task State Change", other_cluster, job),
            "other-started-by": (
                False,
                "aws.ecs",
                "ECS Task State Change",
                cluster_arn,
                "ecs-svc/1234567890",
            ),
            "prefix-not-at-start": (False, "aws.ecs", "ECS Task State Change", cluster_arn, f"x{prefix}1/1"),
            "no-started-by": (False, "aws.ecs", "ECS Task State Change", cluster_arn, None),
            "other-detail-type": (False, "aws.ecs", "ECS Container Instance State Change", cluster_arn, job),
            "other-source": (False, "my.app", "ECS Task State Change", cluster_arn, job),
        }
        entries = []
        for marker, (_, source, detail_type, cluster, started_by) in cases.items():
            detail = json.loads(json.dumps(base["detail"]))
            detail["clusterArn"] = cluster
            detail["taskArn"] = f"{cluster.replace(':cluster/', ':task/')}/{marker}"
            if started_by is None:
                detail.pop("startedBy", None)
            else:
                detail["startedBy"] = started_by
            entries.append(
                {
                    "Source": source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "Resources": [detail["taskArn"]],
                    "EventBusName": bus,
                }
            )
        result = events.put_events(Entries=entries)
        f.equal(result.get("FailedEntryCount", 0), 0, "put_events failures")

        delivered = set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            for message in messages:
                body = json.loads(message["Body"])
                delivered.add(body["detail"]["taskArn"].rsplit("/", 1)[-1])
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            if delivered >= {m for m, c in cases.items() if c[0]} and not messages:
                break
        f.equal(delivered, {m for m, c in cases.items() if c[0]}, "events delivered by the pattern")
    finally:
        for cleanup in (
            lambda: events.remove_targets(Rule="contract", EventBusName=bus, Ids=["queue"]),
            lambda: events.delete_rule(Name="contract", EventBusName=bus),
            lambda: events.delete_event_bus(Name=bus),
            lambda: sqs.delete_queue(QueueUrl=queue_url),
        ):
            try:
                cleanup()
            except Exception as e:  # cleanup must try every step
                print(f"  (cleanup: {e})")


def check_launch(f: Failures, code: Declaration, state: State, clients: dict) -> None:
    """RunTask as create-job makes it, with create-job's environment, against what
    Terraform created: the family resolves to its latest ACTIVE revision, and the
    network, container name and overrides are accepted; the revision ECS starts logs
    where JOB_DEFINITIONS tells job-api to read."""
    section("launch: RunTask with create-job's environment starts each job definition")
    ecs = clients["ecs"]
    function = state.get("aws_lambda_function", "this", "create-job")
    env = (as_list(function.get("environment")) or [{}])[0].get("variables") or {}
    prefix = code.started_by_prefix
    revisions = {v["family"]: v["arn"] for v in state.of_type("aws_ecs_task_definition")}
    for name, entry in json.loads(env["JOB_DEFINITIONS"]).items():
        described = ecs.describe_task_definition(taskDefinition=entry["taskDefinition"])["taskDefinition"]
        container = next(
            (c for c in described.get("containerDefinitions", []) if c.get("name") == entry["container"]), {}
        )
        f.equal(
            entry.get("logs"),
            expected_logs(container.get("logConfiguration")),
            f"{name}: JOB_DEFINITIONS logs vs the awslogs options ECS has for the latest revision",
        )
        job = uuid.uuid4()
        response = ecs.run_task(
            cluster=env["ECS_CLUSTER"],
            taskDefinition=entry["taskDefinition"],
            launchType="FARGATE",
            count=1,
            startedBy=f"{prefix}{job}/1",
            clientToken=f"{job}-1",
            propagateTags="TASK_DEFINITION",
            tags=[{"key": "job-tracker:job-id", "value": str(job)}],
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": env["ECS_SUBNETS"].split(","),
                    "securityGroups": env["ECS_SECURITY_GROUPS"].split(","),
                    "assignPublicIp": env["ECS_ASSIGN_PUBLIC_IP"],
                }
            },
            overrides={
                "containerOverrides": [
                    {
                        "name": entry["container"],
                        "environment": [
                            {"name": "JOB_ID", "value": str(job)},
                            {"name": "JOB_ATTEMPT", "value": "1"},
                        ]
                        + [{"name": p, "value": "x"} for p in entry["parameters"]],
                    }
                ]
            },
        )
        f.equal(response.get("failures"), [], f"{name}: RunTask failures")
        tasks = response.get("tasks", [])
        if f.equal(len(tasks), 1, f"{name}: tasks started"):
            f.equal(
                tasks[0]["taskDefinitionArn"],
                revisions.get(entry["taskDefinition"]),
                f"{name}: revision started (latest ACTIVE of the family)",
            )
            ecs.stop_task(
                cluster=env["ECS_CLUSTER"], task=tasks[0]["taskArn"], reason="terraform contract test"
            )


def check_deployment(f: Failures, state: State, outputs: dict, clients: dict) -> None:
    section("deployment: what a real account refuses or mis-wires and the emulators accept")
    cluster = state.get("aws_ecs_cluster", "jobs")
    name = cluster["name"]
    region = cluster["arn"].split(":")[3]

    for v in state.of_type("aws_ecs_task_definition"):
        cpu, memory = int(v["cpu"]), int(v["memory"])
        f.check(
            memory in FARGATE_MEMORY_BY_CPU.get(cpu, []),
            f"{v['family']}: Fargate offers no cpu {cpu} with memory {memory} "
            f"(allowed: {FARGATE_MEMORY_BY_CPU.get(cpu)})",
        )

    for fn in FUNCTIONS:
        env = (as_list(state.get("aws_lambda_function", "this", fn).get("environment")) or [{}])[0].get(
            "variables"
        ) or {}
        size = len(json.dumps(env, separators=(",", ":"), ensure_ascii=False).encode())
        f.check(
            size <= LAMBDA_ENVIRONMENT_LIMIT,
            f"{fn}: environment is {size} bytes as Lambda measures it (limit {LAMBDA_ENVIRONMENT_LIMIT})",
        )

    # Terraform applies a resource after everything it depends on: create-job and
    # job-reconciler, which advertise the job definitions, after their task definitions; the cluster after the
    # service-linked role (when this deployment creates it), as CreateCluster would
    # otherwise create the role itself and the two creations race.
    for fn in LAUNCHERS:
        f.check(
            "aws_ecs_task_definition.job" in state.depends_on[("aws_lambda_function", "this", fn)],
            f"{fn} does not depend on aws_ecs_task_definition.job: JOB_DEFINITIONS could advertise "
            "a definition before its task definition is registered",
        )
    f.check(
        "aws_iam_service_linked_role.ecs" in state.depends_on[("aws_ecs_cluster", "jobs", None)],
        "aws_ecs_cluster.jobs does not depend on aws_iam_service_linked_role.ecs",
    )

    # IAM role names are account-wide: <name>-<region>- keeps regions of one account apart.
    for role in state.of_type("aws_iam_role"):
        f.check(
            role["name"].startswith(f"{name}-{region}-") and len(role["name"]) <= 64,
            f"IAM role {role['name']!r} is not named {name}-{region}-... (64 characters at most)",
        )

    access_logs = state.get("aws_cloudwatch_log_group", "api_access")["name"]
    f.check(
        access_logs.startswith("/aws/vendedlogs/"),
        f"API access log group {access_logs!r} is not under /aws/vendedlogs/: each such group "
        "grows the account's CloudWatch Logs resource policy",
    )
    stage = state.get("aws_apigatewayv2_stage", "default")
    f.equal(
        [s.get("destination_arn") for s in as_list(stage.get("access_log_settings"))],
        [state.get("aws_cloudwatch_log_group", "api_access")["arn"]],
        "API stage access log destination",
    )

    # The subnets and security groups create-job passes to RunTask, in one VPC (EC2's view).
    env = (as_list(state.get("aws_lambda_function", "this", "create-job")["environment"]) or [{}])[0][
        "variables"
    ]
    ec2 = clients["ec2"]
    subnets = ec2.describe_subnets(SubnetIds=env["ECS_SUBNETS"].split(","))["Subnets"]
    groups = ec2.describe_security_groups(GroupIds=env["ECS_SECURITY_GROUPS"].split(","))["SecurityGroups"]
    vpcs = {s["VpcId"] for s in subnets} | {g["VpcId"] for g in groups}
    f.equal(len(vpcs), 1, f"VPCs of ECS_SUBNETS and ECS_SECURITY_GROUPS ({fmt(vpcs)})")


def emulator_clients() -> dict:
    import boto3

    endpoint = os.environ["MOTO_ENDPOINT"]
    region = os.environ.get("AWS_REGION", "us-east-1")
    return {
        service: boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        for service in ("apigatewayv2", "ec2", "ecs", "events", "iam", "lambda", "sqs")
    } | {
        "dynamodb": boto3.client(
            "dynamodb",
            endpoint_url=os.environ["DYNAMODB_ENDPOINT"],
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
    }


def cmd_contract(args) -> int:
    root = Path(args.root)
    code = Declaration(Path(args.declaration))
    state = State(Path(args.state))
    plan = State(Path(args.plan))
    # The input variables the stack was applied with (the plan right after apply has them).
    variables = {k: v.get("value") for k, v in json.loads(Path(args.plan).read_text()).get("variables", {}).items()}
    outputs = {k: v["value"] for k, v in json.loads(Path(args.outputs).read_text()).items()}
    name = state.get("aws_ecs_cluster", "jobs")["name"]
    clients = emulator_clients()
    f = Failures()
    check_environment(f, root, code, state, outputs, variables)
    check_iam(f, code, state, clients["iam"])
    check_wiring(f, state, outputs, clients)
    check_openapi(f, root, outputs, clients)
    check_reconciler_wiring(f, state, outputs, clients, variables)
    check_table(f, state, clients)
    check_configured_only(f, state, plan)
    check_event_pattern(f, root, code, state, outputs, clients, name)
    check_launch(f, code, state, clients)
    check_deployment(f, state, outputs, clients)
    if f.items:
        print(f"contract: {len(f.items)} of {f.checks} checks failed")
        return 1
    print(f"contract: all {f.checks} checks passed")
    return 0


def classify_changes(plan: dict, expected: set[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(unexplained, tolerated) changes of a plan: everything but no-ops, data source
    reads, the `expected` addresses and what the emulator gaps explain."""
    problems, tolerated = [], []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]) or change["address"] in expected:
            continue
        if actions != ["update"]:
            problems.append(f"{change['address']}: {actions}")
            continue
        before = change["change"].get("before") or {}
        after = change["change"].get("after") or {}
        unknown = change["change"].get("after_unknown") or {}
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)} | {
            k for k, v in unknown.items() if v is True
        }
        gaps = EMULATOR_GAPS.get(change["type"], set())
        deferred = {k for k in DEFERRED_UNKNOWN.get(change["type"], set()) if unknown.get(k) is True}
        equivalent = {
            k for k in changed
            if (change["type"], k) in EMULATOR_EQUIVALENT
            and EMULATOR_EQUIVALENT[(change["type"], k)](before.get(k), after.get(k))
        }
        unexplained = changed - gaps - deferred - equivalent
        if unexplained:
            problems.append(f"{change['address']}: {sorted(unexplained)}")
        else:
            tolerated.append(f"{change['address']}: {sorted(changed)}")
    return problems, tolerated


def cmd_replan(args) -> int:
    problems, tolerated = classify_changes(json.loads(Path(args.plan).read_text()))
    for line in tolerated:
        print(f"  known emulator gap: {line}")
    if problems:
        print("replan: changes right after apply that no emulator gap explains:")
        for line in problems:
            print(f"  {line}")
        return 1
    print("replan: no change beyond known emulator gaps")
    return 0


def cmd_jwtplan(args) -> int:
    """With jwt_issuer/jwt_audience set, the plan adds a JWT authorizer with them and
    switches every route to it, and changes nothing else."""
    plan = json.loads(Path(args.plan).read_text())
    f = Failures()
    changes = {
        c["address"]: c
        for c in plan.get("resource_changes", [])
        if c["change"]["actions"] not in (["no-op"], ["read"])
    }
    authorizer = changes.get("aws_apigatewayv2_authorizer.jwt[0]")
    if f.check(
        authorizer is not None and authorizer["change"]["actions"] == ["create"], "JWT authorizer created"
    ):
        after = authorizer["change"]["after"]
        f.equal(after.get("authorizer_type"), "JWT", "authorizer type")
        f.equal(
            as_list(after.get("jwt_configuration")),
            [{"issuer": args.issuer, "audience": [args.audience]}],
            "authorizer issuer and audience",
        )
    for key in ROUTES:
        route = changes.get(f'aws_apigatewayv2_route.this["{key}"]')
        if f.check(route is not None and route["change"]["actions"] == ["update"], f"{key}: route updated"):
            f.equal(route["change"]["after"].get("authorization_type"), "JWT", f"{key}: authorization")
            f.check(
                route["change"]["after_unknown"].get("authorizer_id") is True,
                f"{key}: uses the new authorizer",
            )
    expected = {"aws_apigatewayv2_authorizer.jwt[0]"} | {
        f'aws_apigatewayv2_route.this["{k}"]' for k in ROUTES
    }
    problems, _ = classify_changes(plan, expected)
    f.equal(problems, [], "other changes of the JWT option (beyond known emulator gaps)")
    if f.items:
        print(f"jwtplan: {len(f.items)} of {f.checks} checks failed")
        return 1
    print(f"jwtplan: all {f.checks} checks passed (authorizer added, routes switched to JWT, nothing else)")
    return 0


def cmd_changeplan(args) -> int:
    """A plan that edits job definition --changed (a new task definition revision) and adds
    --added: the edited one is replaced create-before-destroy, the new one created and
    advertised, and nothing else changes."""
    plan = json.loads(Path(args.plan).read_text())
    f = Failures()
    changes = {c["address"]: c for c in plan.get("resource_changes", [])}

    def actions(address: str):
        return (changes.get(address) or {}).get("change", {}).get("actions")

    changed = f'aws_ecs_task_definition.job["{args.changed}"]'
    added = f'aws_ecs_task_definition.job["{args.added}"]'
    # ["delete", "create"] would deregister the old revision first: the family would have
    # no ACTIVE revision until the new one is registered, and RunTask would fail meanwhile.
    f.equal(actions(changed), ["create", "delete"], f"{changed}: replaced create-before-destroy")
    f.equal(actions(added), ["create"], f"{added}: created")
    # Both functions that launch jobs advertise the new definition, and their roles may
    # run its family.
    functions = [f'aws_lambda_function.this["{fn}"]' for fn in LAUNCHERS]
    for function in functions:
        if f.equal(actions(function), ["update"], f"{function}: updated"):
            after = changes[function]["change"]["after"]
            env = (as_list(after.get("environment")) or [{}])[0].get("variables") or {}
            try:
                definitions = json.loads(env.get("JOB_DEFINITIONS") or "null") or {}
            except ValueError:
                definitions = {}
            family = (changes[added]["change"]["after"] or {}).get("family") if added in changes else None
            f.equal(
                (definitions.get(args.added) or {}).get("taskDefinition"),
                family,
                f"{function}: JOB_DEFINITIONS[{args.added}] advertises the new family",
            )
    expected = {changed, added, *functions, *(f'aws_iam_role_policy.function["{fn}"]' for fn in LAUNCHERS)}
    problems, _ = classify_changes(plan, expected)
    f.equal(problems, [], "other changes of the edit (beyond known emulator gaps)")
    if f.items:
        print(f"changeplan: {len(f.items)} of {f.checks} checks failed")
        return 1
    print(f"changeplan: all {f.checks} checks passed ({args.changed} replaced create-before-destroy, "
          f"{args.added} created and advertised, nothing else)")
    return 0


def cmd_slrplan(args) -> int:
    """With create_ecs_service_linked_role = true the plan creates AWSServiceRoleForECS and
    changes nothing else."""
    plan = json.loads(Path(args.plan).read_text())
    f = Failures()
    address = "aws_iam_service_linked_role.ecs[0]"
    change = next((c for c in plan.get("resource_changes", []) if c["address"] == address), None)
    if f.check(change is not None and change["change"]["actions"] == ["create"], f"{address} created"):
        f.equal(change["change"]["after"].get("aws_service_name"), "ecs.amazonaws.com", "service of the role")
    problems, _ = classify_changes(plan, {address})
    f.equal(problems, [], "other changes of the option (beyond known emulator gaps)")
    if f.items:
        print(f"slrplan: {len(f.items)} of {f.checks} checks failed")
        return 1
    print(f"slrplan: all {f.checks} checks passed (AWSServiceRoleForECS created, nothing else)")
    return 0


def module_types(module: Path) -> set[str]:
    """Every resource type and (as data.TYPE) data source type declared in the module."""
    types = set()
    for tf in sorted(module.glob("*.tf")):
        for kind, type_ in re.findall(r'^(resource|data)\s+"([a-z0-9_]+)"', tf.read_text(), re.M):
            types.add(type_ if kind == "resource" else f"data.{type_}")
    return types


# API Gateway's management API is authorized by HTTP method; its operations map to them.
APIGATEWAY_METHOD = {"Create": "POST", "Get": "GET", "Update": "PATCH", "Delete": "DELETE",
                     "TagResource": "POST", "UntagResource": "DELETE", "Import": "PUT", "Reimport": "PUT"}


def provider_calls(paths: list[str]) -> tuple[dict[tuple[str, str], int], int]:
    """(resource type, IAM action) -> count for every AWS response in provider debug logs,
    and the number of responses that could not be read. Responses, not requests: a request
    with a large body (a function's zip) is logged truncated, without its operation."""
    calls: dict[tuple[str, str], int] = {}
    unreadable = 0
    for path in paths:
        text = Path(path).read_text(errors="replace")
        for entry in re.split(r"\n(?=\d{4}-\d\d-\d\dT)", text):
            if "HTTP Response Received" not in entry:
                continue

            def field(key: str) -> str | None:
                m = re.search(rf'(?<![\w.]){re.escape(key)}=("([^"]*)"|[^\s]*)', entry)
                return None if m is None else (m.group(2) if m.group(2) is not None else m.group(1))

            service, operation = field("rpc.service"), field("rpc.method")
            data_source = field("tf_data_source_type")
            type_ = f"data.{data_source}" if data_source else field("tf_resource_type")
            if not (service and operation and type_):
                unreadable += 1
                continue
            prefix = SERVICE_PREFIX.get(service, f"?{service}")
            if prefix == "apigateway":
                verb = next((v for k, v in APIGATEWAY_METHOD.items() if operation.startswith(k)), f"?{operation}")
                action = f"apigateway:{verb}"
            else:
                action = f"{prefix}:{operation}"
            calls[(type_, action)] = calls.get((type_, action), 0) + 1
    return calls, unreadable


def cmd_deployer(args) -> int:
    """terraform/deployer-policy.json grants exactly what DEPLOYER_ACTIONS lists for the
    module's resource types, and everything the provider was seen calling."""
    f = Failures()
    section("deployer policy: structure")
    policy = json.loads(Path(args.policy).read_text())
    f.equal(policy.get("Version"), "2012-10-17", "policy version")
    granted: dict[str, list[dict]] = {}
    sids = []
    for statement in as_list(policy.get("Statement")):
        sid = statement.get("Sid", "?")
        sids.append(sid)
        f.equal(statement.get("Effect"), "Allow", f"statement {sid} effect")
        f.check(
            "NotAction" not in statement and "NotResource" not in statement,
            f"statement {sid} uses NotAction/NotResource",
        )
        for action in as_list(statement.get("Action")):
            f.check("*" not in action and "?" not in action, f"statement {sid}: wildcard action {action!r}")
            granted.setdefault(action, []).append(statement)
    f.equal(len(sids), len(set(sids)), "statement ids are unique")
    size = len("".join(Path(args.policy).read_text().split()))
    f.check(
        size <= MANAGED_POLICY_LIMIT,
        f"policy is {size} characters without whitespace, over IAM's {MANAGED_POLICY_LIMIT} for a managed policy",
    )
    for action, (test, key, values) in DEPLOYER_CONDITIONS.items():
        for statement in granted.get(action, []):
            condition = normalise_conditions(statement.get("Condition"))
            f.equal(
                {k: set(v) for k, v in condition.get(test, {}).items()},
                {key: values},
                f"{action}: condition of statement {statement.get('Sid')}",
            )

    for action, resource in DEPLOYER_RESOURCES.items():
        for statement in granted.get(action, []):
            f.equal(
                as_list(statement.get("Resource")),
                [resource],
                f"{action}: resource of statement {statement.get('Sid')}",
            )

    section("deployer policy: every resource type of the module, nothing more")
    types = module_types(Path(args.module))
    f.equal(types - set(DEPLOYER_ACTIONS), set(), "types in terraform/ without permissions in DEPLOYER_ACTIONS")
    f.equal(set(DEPLOYER_ACTIONS) - types, set(), "types in DEPLOYER_ACTIONS no longer in terraform/")
    needed = set().union(*(DEPLOYER_ACTIONS[t] for t in types if t in DEPLOYER_ACTIONS))
    f.equal(needed - set(granted), set(), "actions the stack needs that the policy does not grant")
    f.equal(set(granted) - needed, set(), "actions the policy grants that no resource type needs")

    if args.log:
        section("deployer policy: every call the provider made against the emulators")
        calls, unreadable = provider_calls(args.log)
        f.check(len(calls) > 0, f"no AWS response found in {args.log} (was TF_LOG_PROVIDER=DEBUG set?)")
        f.equal(unreadable, 0, "provider log entries without operation or resource type")
        for (type_, action), count in sorted(calls.items()):
            if action in NO_PERMISSION_NEEDED:
                continue
            f.check(
                action in DEPLOYER_ACTIONS.get(type_, set()),
                f"{type_} called {action} ({count}x), which DEPLOYER_ACTIONS does not list for it",
            )
            f.check(action in granted, f"{type_} called {action}, which the policy does not grant")
        seen_types = {t for t, _ in calls}
        print(f"  {sum(calls.values())} AWS calls, {len(calls)} (type, action) pairs, {len(seen_types)} types")
    if f.items:
        print(f"deployer: {len(f.items)} of {f.checks} checks failed")
        return 1
    print(f"deployer: all {f.checks} checks passed ({len(granted)} actions for {len(types)} types)")
    return 0


def cmd_leftovers(args) -> int:
    """Nothing named after the stack may remain in the emulators after destroy."""
    import boto3

    prefix = f"{args.name}-"
    endpoint, region = os.environ["MOTO_ENDPOINT"], os.environ.get("AWS_REGION", "us-east-1")

    def client(service: str, url: str = endpoint):
        return boto3.client(
            service,
            endpoint_url=url,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    ecs = client("ecs")
    clusters = ecs.list_clusters()["clusterArns"]
    found = {
        "functions": [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]],
        "roles": [r["RoleName"] for r in client("iam").list_roles()["Roles"]],
        "queues": [u.rsplit("/", 1)[-1] for u in client("sqs").list_queues().get("QueueUrls", [])],
        "log groups": [
            g["logGroupName"].rsplit("/", 1)[-1] + "-"
            for g in client("logs").describe_log_groups()["logGroups"]
        ],
        "rules": [r["Name"] for r in client("events").list_rules()["Rules"]],
        "event source mappings": [
            m["FunctionArn"].rsplit(":", 1)[-1]
            for m in client("lambda").list_event_source_mappings()["EventSourceMappings"]
        ],
        "event buses": [b["Name"] for b in client("events").list_event_buses()["EventBuses"]],
        "apis": [a["Name"] + "-" for a in client("apigatewayv2").get_apis()["Items"]],
        # Deleted clusters stay listed as INACTIVE, as in AWS.
        "clusters": [
            c["clusterName"] + "-"
            for c in (ecs.describe_clusters(clusters=clusters)["clusters"] if clusters else [])
            if c["status"] == "ACTIVE"
        ],
        "task definitions": [
            a.rsplit("/", 1)[-1] for a in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]
        ],
        "security groups": [
            g["GroupName"] for g in client("ec2").describe_security_groups()["SecurityGroups"]
        ],
        "alarms": [a["AlarmName"] for a in client("cloudwatch").describe_alarms()["MetricAlarms"]],
        "topics": [t["TopicArn"].rsplit(":", 1)[-1] for t in client("sns").list_topics()["Topics"]],
        "tables": client("dynamodb", os.environ["DYNAMODB_ENDPOINT"]).list_tables()["TableNames"],
    }
    left = {kind: [n for n in names if n.startswith(prefix)] for kind, names in found.items()}
    left = {kind: names for kind, names in left.items() if names}
    if left:
        print(f"leftovers: {args.name} left behind {fmt(left)}")
        return 1
    print(f"leftovers: nothing of {args.name} remains in the emulators")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    contract = sub.add_parser("contract")
    contract.add_argument("--root", required=True)
    contract.add_argument("--declaration", required=True)
    contract.add_argument("--state", required=True)
    contract.add_argument("--plan", required=True)
    contract.add_argument("--outputs", required=True)
    replan = sub.add_parser("replan")
    replan.add_argument("plan")
    jwtplan = sub.add_parser("jwtplan")
    jwtplan.add_argument("plan")
    jwtplan.add_argument("--issuer", required=True)
    jwtplan.add_argument("--audience", required=True)
    changeplan = sub.add_parser("changeplan")
    changeplan.add_argument("plan")
    changeplan.add_argument("--changed", required=True)
    changeplan.add_argument("--added", required=True)
    slrplan = sub.add_parser("slrplan")
    slrplan.add_argument("plan")
    deployer = sub.add_parser("deployer")
    deployer.add_argument("--policy", required=True)
    deployer.add_argument("--module", required=True)
    deployer.add_argument("--log", action="append", default=[])
    leftovers = sub.add_parser("leftovers")
    leftovers.add_argument("name")
    args = parser.parse_args()
    return {
        "contract": cmd_contract,
        "replan": cmd_replan,
        "jwtplan": cmd_jwtplan,
        "changeplan": cmd_changeplan,
        "slrplan": cmd_slrplan,
        "deployer": cmd_deployer,
        "leftovers": cmd_leftovers,
    }[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
