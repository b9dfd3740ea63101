# One role per function, each allowed exactly the calls its code makes, on exactly the
# resources it makes them on (scripts/terraform-contract.py checks this against the
# code after every apply). No wildcard actions; Resource = "*" only where AWS offers
# nothing narrower, said so beside it.
#
# IAM names are account-wide, not regional: every role is named <name>-<region>-<role>,
# so that one name can be deployed in several regions of an account (variables.tf checks
# that the longest, "<name>-<region>-task-execution", fits IAM's 64 characters). A role
# whose name changes is replaced, the new one first (create_before_destroy), so that a
# function or task never points at a role already deleted.

locals {
  role_name_prefix = "${var.name}-${var.region}"

  # Every task of this cluster: task/<cluster-name>/<task-id>.
  cluster_task_arn_pattern = "arn:${local.partition}:ecs:${var.region}:${local.account_id}:task/${aws_ecs_cluster.jobs.name}/*"

  # The indexes GET /jobs queries (dynamodb.tf).
  listing_indexes = ["owner", "owner-status", "owner-definition"]

  # The jobs' log group as arn:<partition>:logs:<region>:<account>:log-group:<name>, without
  # the ":*" that the log group resource's arn attribute ends with in some provider
  # versions (and not in others), so that ":log-stream:*" can be appended.
  jobs_log_group_arn = trimsuffix(aws_cloudwatch_log_group.jobs.arn, ":*")
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_keys

  name               = "${local.role_name_prefix}-${each.key}"
  description        = "Execution role of the ${var.name} ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions

  name   = each.key
  role   = aws_iam_role.function[each.key].id
  policy = each.value.policy

  lifecycle {
    create_before_destroy = true
  }
}

# What the Lambda service itself does with each role: write the function's logs.
data "aws_iam_policy_document" "function_logs" {
  for_each = local.function_keys

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }
}

# What launching a job takes, in create-job and job-reconciler alike: start its task,
# or put it on the launch queue (a delayed retry, a freed slot).
data "aws_iam_policy_document" "launch_job_tasks" {
  statement {
    sid     = "RunJobTasks"
    actions = ["ecs:RunTask"]
    # Every revision of the configured families (the function runs the latest ACTIVE
    # one), and only in this cluster.
    resources = [
      for family in values(local.job_families) :
      "arn:${local.partition}:ecs:${var.region}:${local.account_id}:task-definition/${family}:*"
    ]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.jobs.arn]
    }
  }

  statement {
    sid     = "TagTasksAtLaunch"
    actions = ["ecs:TagResource"]
    # RunTask with tags needs TagResource on the new task; only as part of RunTask, and
    # only on tasks of this cluster.
    resources = [local.cluster_task_arn_pattern]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassJobRoles"
    actions   = ["iam:PassRole"]
    resources = local.job_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "SendToLaunchQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.launches.arn]
  }
}

# What cancelling and timing out take, wherever a job's task must end before it exits:
# job-api on DELETE /jobs/{id}; job-reconciler when an attempt times out, a cancelled
# job's task still runs, or a task runs that no job wants (create-job and job-events hand
# those over on the launch queue rather than hold this permission themselves).
data "aws_iam_policy_document" "stop_job_tasks" {
  statement {
    sid     = "StopJobTasks"
    actions = ["ecs:StopTask"]
    # Tasks of this cluster only (task/<cluster-name>/<task-id>), by ARN and by the
    # cluster the request names.
    resources = [local.cluster_task_arn_pattern]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.jobs.arn]
    }
  }
}

# create-job: records the job, takes its concurrency slots, starts its task or queues it.
data "aws_iam_policy_document" "create_job" {
  source_policy_documents = [
    data.aws_iam_policy_document.function_logs["create-job"].json,
    data.aws_iam_policy_document.launch_job_tasks.json,
  ]

  statement {
    sid       = "JobsTable"
    actions   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.jobs.arn]
  }
}

# job-events: reads the job an event belongs to, applies the event conditionally, frees
# the slots of a job that ended and tells the launch queue; the Lambda service sends
# events it could not process to the function's dead-letter queue.
data "aws_iam_policy_document" "job_events" {
  source_policy_documents = [data.aws_iam_policy_document.function_logs["job-events"].json]

  statement {
    sid       = "JobsTable"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.jobs.arn]
  }

  statement {
    sid       = "SendToLaunchQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.launches.arn]
  }

  statement {
    sid       = "DeadLetterQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.job_events_dlq.arn]
  }
}

# job-reconciler: finds the jobs that need attention through the two sparse indexes,
# reads them, asks ECS about their tasks, launches queued jobs, and applies what it
# learns conditionally. The Lambda service reads the launch queue for it with this role
# (the event source mapping).
data "aws_iam_policy_document" "job_reconciler" {
  source_policy_documents = [
    data.aws_iam_policy_document.function_logs["job-reconciler"].json,
    data.aws_iam_policy_document.launch_job_tasks.json,
    data.aws_iam_policy_document.stop_job_tasks.json,
  ]

  statement {
    sid       = "JobsTable"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.jobs.arn]
  }

  statement {
    sid     = "JobsTableIndexes"
    actions = ["dynamodb:Query"]
    # The indexes only: the table itself is never queried.
    resources = [for index in ["pending", "queue"] : "${aws_dynamodb_table.jobs.arn}/index/${index}"]
  }

  statement {
    sid     = "DescribeJobTasks"
    actions = ["ecs:DescribeTasks"]
    # Tasks of this cluster only (task/<cluster-name>/<task-id>), by ARN and by the
    # cluster the request names.
    resources = [local.cluster_task_arn_pattern]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.jobs.arn]
    }
  }

  statement {
    sid     = "ListJobTasks"
    actions = ["ecs:ListTasks"]
    # ListTasks' only resource type is the container instance, which Fargate tasks do not
    # have: a ListTasks without one is authorized against "*", so AWS offers nothing
    # narrower than "*" here. The ecs:cluster condition limits it to this cluster.
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.jobs.arn]
    }
  }

  statement {
    sid = "ConsumeLaunchQueue"
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
      "sqs:ChangeMessageVisibility",
    ]
    resources = [aws_sqs_queue.launches.arn]
  }
}

# job-api: reads one job by key; lists the caller's jobs through the three listing
# indexes and reads them with BatchGetItem; reads a job's task logs; cancels a job: marks
# it conditionally (and gives back the concurrency slots of a job without a task: the
# counters are items of the same table, updated in one TransactWriteItems, which IAM
# authorizes per item as UpdateItem), stops its task, and tells the launch queue that
# slots were freed.
data "aws_iam_policy_document" "job_api" {
  source_policy_documents = [
    data.aws_iam_policy_document.function_logs["job-api"].json,
    data.aws_iam_policy_document.stop_job_tasks.json,
  ]

  statement {
    sid       = "JobsTable"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"]
    resources = [aws_dynamodb_table.jobs.arn]
  }

  statement {
    sid     = "ListingIndexes"
    actions = ["dynamodb:Query"]
    # GET /jobs: the three listing indexes only, never the table itself nor the
    # reconciler's indexes.
    resources = [for index in local.listing_indexes : "${aws_dynamodb_table.jobs.arn}/index/${index}"]
  }

  statement {
    sid     = "ReadJobLogs"
    actions = ["logs:GetLogEvents"]
    # GET /jobs/{id}/logs: the streams of the jobs' log group only (log-group ARN +
    # ":log-stream:*"), never the functions' own logs.
    resources = ["${local.jobs_log_group_arn}:log-stream:*"]
  }

  statement {
    sid       = "SendToLaunchQueue"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.launches.arn]
  }
}

# ---- job tasks ---------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    # Confused-deputy guard: only ECS acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Used by ECS (not by the job) to pull the image and write the job's logs.
resource "aws_iam_role" "task_execution" {
  name               = "${local.role_name_prefix}-task-execution"
  description        = "ECS task execution role of the ${var.name} jobs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  lifecycle {
    create_before_destroy = true
  }
}

data "aws_iam_policy_document" "task_execution" {
  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.jobs.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid       = "PullJobImages"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = local.ecr_repository_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.ecr_repository_arns) > 0 ? [1] : []
    content {
      sid     = "EcrLogin"
      actions = ["ecr:GetAuthorizationToken"]
      # GetAuthorizationToken supports no resource-level permission: AWS offers nothing
      # narrower than "*" for it (it only returns a registry login token; the pulls
      # themselves are limited to the repositories above).
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "task-execution"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json

  lifecycle {
    create_before_destroy = true
  }
}

# The identity of a job's code inside its task. It has no permissions: a job that calls
# AWS brings its own role (job_definitions[*].task_role_arn).
resource "aws_iam_role" "job_task" {
  name               = "${local.role_name_prefix}-job-task"
  description        = "Default task role of the ${var.name} jobs (no permissions)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  lifecycle {
    create_before_destroy = true
  }
}

locals {
  # Roles RunTask passes to ECS: the execution role and every task role in use.
  job_role_arns = sort(distinct(concat(
    [aws_iam_role.task_execution.arn],
    [for def in values(var.job_definitions) : coalesce(def.task_role_arn, aws_iam_role.job_task.arn)],
  )))
}

# ---- ECS service-linked role ---------------------------------------------------

# AWSServiceRoleForECS: ECS uses it to attach each Fargate task's network interface. ECS
# creates it on first use only if the caller may call iam:CreateServiceLinkedRole; without
# it, RunTask fails with "Unable to assume the service linked role". Opt-in
# (var.create_ecs_service_linked_role), as it exists once per account, for every region.
resource "aws_iam_service_linked_role" "ecs" {
  count = var.create_ecs_service_linked_role ? 1 : 0

  aws_service_name = "ecs.amazonaws.com"
  description      = "Service-linked role of Amazon ECS (created by the ${var.name} deployment in ${var.region})"
}
