# Plans of the whole module with a mocked AWS provider: offline, nothing is created.
# scripts/terraform-check runs them with the values of terraform.tfvars.example
# (terraform test -var-file=terraform.tfvars.example); each run changes what it tests.
# The runs named refused_* must fail on exactly the check they name (expect_failures):
# the preconditions and postconditions that stop a plan before AWS would stop the apply
# half-way, and the retry policy validations, which stop it before the code would refuse
# JOB_DEFINITIONS at cold start. Variable validations (what they refuse, with which
# message) are exercised by scripts/terraform-check itself; the runs here check that the
# edge values they allow plan, and what each new option changes.

mock_provider "aws" {
  # Computed values below are known at plan time, as they would be on a second apply.
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_subnet" {
    defaults = { vpc_id = "vpc-0example" }
  }
  mock_data "aws_security_group" {
    defaults = { vpc_id = "vpc-0example" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/job-tracker" }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0a1b2c3d4e5f60718" }
  }
  # Every queue gets the launch queue's URL and ARN, as long as the real ones: the
  # environment sizes below count LAUNCH_QUEUE_URL.
  mock_resource "aws_sqs_queue" {
    defaults = {
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/job-tracker-launches"
      arn = "arn:aws:sqs:eu-west-1:123456789012:job-tracker-launches"
    }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/job-tracker-jobs" }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = {
      id            = "a1b2c3d4e5"
      execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"
    }
  }
  mock_resource "aws_apigatewayv2_authorizer" {
    defaults = { id = "jwt0001" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/job-tracker-reconcile" }
  }
}

# The function ARN the schedule and the launch queue must target, known at plan time.
override_resource {
  target          = aws_lambda_function.this["job-reconciler"]
  override_during = plan
  values          = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:job-tracker-job-reconciler" }
}

# job-api's integration, told apart from create-job's: each of its routes must target it.
override_resource {
  target          = aws_apigatewayv2_integration.function["job-api"]
  override_during = plan
  values          = { id = "jobapi1" }
}

variables {
  # Empty zip files: filebase64sha256() needs a file, the mocked Lambda API nothing more.
  lambda_build_dir = "tests/fixtures/lambda"
}

run "example" {
  command = plan

  assert {
    # DESIGN.md section 5: the shape create-job and job-reconciler read; lifecycle fields only where set.
    condition     = aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS == "{\"backup\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"backup\"},\"parameters\":[\"SOURCE\"],\"taskDefinition\":\"job-tracker-backup\"},\"report\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"report\"},\"maxRunning\":10,\"parameters\":[\"REPORT_DATE\"],\"queueTimeoutSeconds\":7200,\"retry\":{\"attempts\":4,\"backoffRate\":2,\"intervalSeconds\":10,\"rules\":[{\"action\":\"RETRY\",\"onExitCode\":\"137\"}]},\"taskDefinition\":\"job-tracker-report\",\"timeoutSeconds\":1200}}"
    error_message = "JOB_DEFINITIONS of the example: ${aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS}"
  }
  assert {
    # The size Lambda measures: len(json.dumps(environment, separators=(",", ":"))) in
    # Python is 981 for this environment; the names and values alone are 852.
    condition     = local.environment_bytes["create-job"] == 981
    error_message = "create-job environment measured as ${local.environment_bytes["create-job"]} bytes, expected 981."
  }
  assert {
    # Each function gets exactly the variables its code reads (its CONTRACT).
    condition = alltrue([
      for fn, names in {
        "create-job"     = ["ECS_ASSIGN_PUBLIC_IP", "ECS_CLUSTER", "ECS_SECURITY_GROUPS", "ECS_SUBNETS", "JOBS_TABLE", "JOB_DEFINITIONS", "LAUNCH_QUEUE_URL", "MAX_RUNNING"]
        "job-events"     = ["JOBS_TABLE", "LAUNCH_QUEUE_URL"]
        "job-api"        = ["ECS_CLUSTER", "JOBS_TABLE", "LAUNCH_QUEUE_URL"]
        "job-reconciler" = ["ECS_ASSIGN_PUBLIC_IP", "ECS_CLUSTER", "ECS_SECURITY_GROUPS", "ECS_SUBNETS", "JOBS_TABLE", "JOB_DEFINITIONS", "LAUNCH_QUEUE_URL", "MAX_RUNNING"]
      } : join(",", sort(keys(aws_lambda_function.this[fn].environment[0].variables))) == join(",", names)
    ])
    error_message = "Function environments: ${jsonencode({ for fn, f in aws_lambda_function.this : fn => sort(keys(f.environment[0].variables)) })}"
  }
  assert {
    # No service-wide limit unless max_running is set: the variable is there, empty.
    condition     = aws_lambda_function.this["create-job"].environment[0].variables.MAX_RUNNING == "" && aws_lambda_function.this["job-reconciler"].environment[0].variables.MAX_RUNNING == ""
    error_message = "MAX_RUNNING by default must be the empty string."
  }
  assert {
    # The reconciler launches exactly as create-job does.
    condition     = aws_lambda_function.this["job-reconciler"].environment[0].variables == aws_lambda_function.this["create-job"].environment[0].variables
    error_message = "job-reconciler and create-job must get the same environment."
  }
  assert {
    condition = alltrue([
      for fn in ["create-job", "job-events", "job-api", "job-reconciler"] :
      aws_lambda_function.this[fn].environment[0].variables.LAUNCH_QUEUE_URL == aws_sqs_queue.launches.url
    ])
    error_message = "LAUNCH_QUEUE_URL must be the launch queue's URL."
  }
  assert {
    # job-api stops the tasks of cancelled jobs in the cluster the launchers run them in.
    condition     = aws_lambda_function.this["job-api"].environment[0].variables.ECS_CLUSTER == aws_lambda_function.this["create-job"].environment[0].variables.ECS_CLUSTER
    error_message = "job-api's ECS_CLUSTER must be the cluster create-job launches in."
  }
  assert {
    # Cancellation is as protected as reading: the same function, authorization and
    # authorizer as GET /jobs/{id}, and a permission of its own for its method.
    condition = (
      aws_apigatewayv2_route.this["DELETE /jobs/{id}"].authorization_type == "AWS_IAM"
      && aws_apigatewayv2_route.this["DELETE /jobs/{id}"].authorization_type == aws_apigatewayv2_route.this["GET /jobs/{id}"].authorization_type
      && aws_apigatewayv2_route.this["DELETE /jobs/{id}"].authorizer_id == aws_apigatewayv2_route.this["GET /jobs/{id}"].authorizer_id
      && aws_apigatewayv2_route.this["DELETE /jobs/{id}"].target == aws_apigatewayv2_route.this["GET /jobs/{id}"].target
      && aws_apigatewayv2_route.this["DELETE /jobs/{id}"].target == "integrations/${aws_apigatewayv2_integration.function["job-api"].id}"
      && aws_lambda_permission.api["DELETE /jobs/{id}"].function_name == aws_lambda_function.this["job-api"].function_name
      && endswith(aws_lambda_permission.api["DELETE /jobs/{id}"].source_arn, "/*/DELETE/jobs/*")
      && aws_lambda_permission.api["DELETE /jobs/{id}"].statement_id == "api-delete-jobs-id"
    )
    error_message = "DELETE /jobs/{id}: ${aws_apigatewayv2_route.this["DELETE /jobs/{id}"].authorization_type}, permission ${aws_lambda_permission.api["DELETE /jobs/{id}"].source_arn}"
  }
  assert {
    condition     = toset(keys(aws_apigatewayv2_route.this)) == toset(["POST /jobs", "GET /jobs", "GET /jobs/{id}", "DELETE /jobs/{id}", "GET /jobs/{id}/logs"])
    error_message = "Routes: ${jsonencode(keys(aws_apigatewayv2_route.this))}"
  }
  assert {
    # Listing and reading logs are as protected as reading a job: job-api, the same
    # authorization, and a permission of its own for each route, for exactly its path.
    condition = alltrue([
      for key, want in {
        "GET /jobs"           = { source = "/*/GET/jobs", sid = "api-get-jobs" }
        "GET /jobs/{id}"      = { source = "/*/GET/jobs/*", sid = "api-get-jobs-id" }
        "GET /jobs/{id}/logs" = { source = "/*/GET/jobs/*/logs", sid = "api-get-jobs-id-logs" }
        "DELETE /jobs/{id}"   = { source = "/*/DELETE/jobs/*", sid = "api-delete-jobs-id" }
      } :
      aws_apigatewayv2_route.this[key].authorization_type == "AWS_IAM"
      && aws_apigatewayv2_route.this[key].authorizer_id == null
      && aws_apigatewayv2_route.this[key].target == "integrations/${aws_apigatewayv2_integration.function["job-api"].id}"
      && aws_lambda_permission.api[key].function_name == aws_lambda_function.this["job-api"].function_name
      && aws_lambda_permission.api[key].source_arn == "${aws_apigatewayv2_api.jobs.execution_arn}${want.source}"
      && aws_lambda_permission.api[key].statement_id == want.sid
    ])
    error_message = "job-api routes: ${jsonencode({ for key, p in aws_lambda_permission.api : key => [p.statement_id, p.source_arn] })}"
  }
  assert {
    condition     = aws_cloudwatch_event_rule.reconcile.schedule_expression == "rate(1 minute)"
    error_message = "Default schedule: ${aws_cloudwatch_event_rule.reconcile.schedule_expression}"
  }
  assert {
    condition = (
      aws_cloudwatch_event_target.reconcile.arn == aws_lambda_function.this["job-reconciler"].arn
      && aws_cloudwatch_event_target.reconcile.retry_policy[0].maximum_event_age_in_seconds == 60
      && aws_cloudwatch_event_target.reconcile.dead_letter_config[0].arn == aws_sqs_queue.reconcile_dlq.arn
      && aws_lambda_permission.reconcile.source_arn == aws_cloudwatch_event_rule.reconcile.arn
      && aws_lambda_function_event_invoke_config.job_reconciler.maximum_retry_attempts == 0
    )
    error_message = "The schedule must target job-reconciler, retry a tick until the next is due, park it in reconcile_dlq, and Lambda must not retry a failed pass."
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.launches.event_source_arn == aws_sqs_queue.launches.arn
      && aws_lambda_event_source_mapping.launches.function_name == aws_lambda_function.this["job-reconciler"].arn
      && aws_lambda_event_source_mapping.launches.batch_size == 10
      && aws_lambda_event_source_mapping.launches.function_response_types == toset(["ReportBatchItemFailures"])
      && aws_lambda_event_source_mapping.launches.scaling_config[0].maximum_concurrency == 5
    )
    error_message = "The launch queue must drive job-reconciler in batches of 10 with partial batch failures and a maximum concurrency of 5."
  }
  assert {
    # AWS's recommendation for an SQS event source: six times the function's timeout.
    condition = (
      aws_sqs_queue.launches.name == "job-tracker-launches"
      && aws_sqs_queue.launches.visibility_timeout_seconds == 90
      && aws_sqs_queue.launches.sqs_managed_sse_enabled
      && jsondecode(aws_sqs_queue.launches.redrive_policy) == { deadLetterTargetArn = aws_sqs_queue.launches_dlq.arn, maxReceiveCount = 5 }
      && aws_sqs_queue.launches_dlq.name == "job-tracker-launches-dlq"
      && aws_sqs_queue.launches_dlq.message_retention_seconds == 1209600
    )
    error_message = "Launch queue: visibility ${aws_sqs_queue.launches.visibility_timeout_seconds} s, redrive ${aws_sqs_queue.launches.redrive_policy}."
  }
  assert {
    condition = {
      for index in aws_dynamodb_table.jobs.global_secondary_index : index.name => [index.hash_key, index.range_key, index.projection_type]
      } == {
      pending            = ["pendingShard", "pendingSince", "KEYS_ONLY"]
      queue              = ["queuedFor", "queuedSince", "KEYS_ONLY"]
      "owner"            = ["listOwner", "listCreated", "KEYS_ONLY"]
      "owner-status"     = ["listStatus", "listCreated", "INCLUDE"]
      "owner-definition" = ["listDefinition", "listCreated", "KEYS_ONLY"]
    }
    error_message = "The jobs table must have the sparse, keys-only indexes pending and queue, and the listing indexes owner, owner-status and owner-definition."
  }
  assert {
    # owner-status carries the definition (a filter on status and definition reads the
    # index only); the others keys only. Every key attribute is a string.
    condition = (
      {
        for index in aws_dynamodb_table.jobs.global_secondary_index : index.name => index.non_key_attributes == null ? "" : join(",", sort(index.non_key_attributes))
        } == {
        pending = "", queue = "", "owner" = "", "owner-status" = "definition", "owner-definition" = ""
      }
      && { for a in aws_dynamodb_table.jobs.attribute : a.name => a.type } == {
        jobId     = "S", pendingShard = "S", pendingSince = "S", queuedFor = "S", queuedSince = "S",
        listOwner = "S", listStatus = "S", listDefinition = "S", listCreated = "S"
      }
    )
    error_message = "Index projections: ${jsonencode(aws_dynamodb_table.jobs.global_secondary_index)}"
  }
  assert {
    # JOB_DEFINITIONS tells job-api's logs where each definition's task writes: exactly the
    # awslogs options of its task definition.
    condition = alltrue([
      for key, entry in jsondecode(aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS) :
      jsondecode(aws_ecs_task_definition.job[key].container_definitions)[0].logConfiguration == {
        logDriver = "awslogs"
        options = {
          awslogs-group         = entry.logs.group
          awslogs-region        = entry.logs.region
          awslogs-stream-prefix = entry.logs.streamPrefix
        }
      }
      && entry.logs == { group = aws_cloudwatch_log_group.jobs.name, region = "eu-west-1", streamPrefix = key }
    ])
    error_message = "JOB_DEFINITIONS logs vs the task definitions' awslogs options: ${aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS}"
  }
  assert {
    condition = alltrue([
      for key in ["events", "job-events", "launches", "reconcile"] :
      aws_cloudwatch_metric_alarm.dlq_not_empty[key].threshold == 0
    ]) && contains(keys(aws_cloudwatch_metric_alarm.function_errors), "job-reconciler")
    error_message = "Every dead-letter queue and job-reconciler need their alarms."
  }
  assert {
    condition     = length(aws_iam_service_linked_role.ecs) == 0
    error_message = "The ECS service-linked role is opt-in."
  }
  assert {
    # IAM names are account-wide: the region keeps two regions of one account apart.
    condition = alltrue([
      for name in concat([for r in aws_iam_role.function : r.name], [aws_iam_role.task_execution.name, aws_iam_role.job_task.name]) :
      startswith(name, "job-tracker-eu-west-1-") && length(name) <= 64
    ])
    error_message = "IAM role names must start with <name>-<region>-."
  }
  assert {
    condition     = startswith(aws_cloudwatch_log_group.api_access.name, "/aws/vendedlogs/")
    error_message = "The API access log group must be under /aws/vendedlogs/ (api.tf)."
  }
}

# Which roles the StopTask statement is merged into shows only in the rendered policies,
# which a plan cannot know (they depend on resources not yet created): the contract tests
# check every role's grants after apply (scripts/terraform-contract.py, check_iam).
run "cancellation_and_timeout_permissions" {
  command = plan

  assert {
    # Tasks of this cluster only, by ARN and by the cluster the request names, as
    # DescribeTasks is granted.
    condition = (
      one(data.aws_iam_policy_document.stop_job_tasks.statement).actions == toset(["ecs:StopTask"])
      && one(data.aws_iam_policy_document.stop_job_tasks.statement).resources == toset(["arn:aws:ecs:eu-west-1:123456789012:task/job-tracker/*"])
      && one(one(data.aws_iam_policy_document.stop_job_tasks.statement).condition).test == "ArnEquals"
      && one(one(data.aws_iam_policy_document.stop_job_tasks.statement).condition).variable == "ecs:cluster"
      && one(one(data.aws_iam_policy_document.stop_job_tasks.statement).condition).values == tolist([aws_ecs_cluster.jobs.arn])
    )
    error_message = "ecs:StopTask: ${jsonencode(data.aws_iam_policy_document.stop_job_tasks.statement)}"
  }
  assert {
    # job-api cancels: a conditional update of the job (and of the slot counters, items of
    # the same table) and a message to the launch queue, nowhere else. (All of job-api's
    # statements: run "listing_and_log_permissions".)
    condition = (
      one([for s in data.aws_iam_policy_document.job_api.statement : s.resources if s.sid == "JobsTable"]) == toset([aws_dynamodb_table.jobs.arn])
      && contains(one([for s in data.aws_iam_policy_document.job_api.statement : s.actions if s.sid == "JobsTable"]), "dynamodb:UpdateItem")
      && one([for s in data.aws_iam_policy_document.job_api.statement : [s.actions, s.resources] if s.sid == "SendToLaunchQueue"]) == [toset(["sqs:SendMessage"]), toset([aws_sqs_queue.launches.arn])]
    )
    error_message = "job-api statements: ${jsonencode(data.aws_iam_policy_document.job_api.statement)}"
  }
}

# job-api lists the caller's jobs (Query on the three listing indexes, BatchGetItem of the
# jobs) and reads a job's task logs (GetLogEvents on the jobs' log group's streams). The
# log group's arn attribute ends with ":*" in some provider versions: overridden so here,
# the policy must still name arn:...:log-group:<name>:log-stream:*.
run "listing_and_log_permissions" {
  command = plan

  override_resource {
    target          = aws_cloudwatch_log_group.jobs
    override_during = plan
    values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/job-tracker:*" }
  }

  assert {
    condition = {
      for statement in data.aws_iam_policy_document.job_api.statement :
      statement.sid => [statement.actions, statement.resources]
      } == {
      JobsTable = [toset(["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"]), toset([aws_dynamodb_table.jobs.arn])]
      ListingIndexes = [toset(["dynamodb:Query"]), toset([
        "arn:aws:dynamodb:eu-west-1:123456789012:table/job-tracker-jobs/index/owner",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/job-tracker-jobs/index/owner-status",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/job-tracker-jobs/index/owner-definition",
      ])]
      ReadJobLogs       = [toset(["logs:GetLogEvents"]), toset(["arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/job-tracker:log-stream:*"])]
      SendToLaunchQueue = [toset(["sqs:SendMessage"]), toset([aws_sqs_queue.launches.arn])]
    }
    error_message = "job-api statements: ${jsonencode(data.aws_iam_policy_document.job_api.statement)}"
  }
  assert {
    # The reconciler keeps its own two indexes, and no listing index.
    condition = {
      for statement in data.aws_iam_policy_document.job_reconciler.statement :
      statement.sid => statement.resources if statement.sid == "JobsTableIndexes"
      } == {
      JobsTableIndexes = toset([
        "arn:aws:dynamodb:eu-west-1:123456789012:table/job-tracker-jobs/index/pending",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/job-tracker-jobs/index/queue",
      ])
    }
    error_message = "job-reconciler statements: ${jsonencode(data.aws_iam_policy_document.job_reconciler.statement)}"
  }
}

# The same log group ARN without ":*" (as provider 5.x reports it) gives the same policy.
run "log_permission_without_arn_suffix" {
  command = plan

  override_resource {
    target          = aws_cloudwatch_log_group.jobs
    override_during = plan
    values          = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/job-tracker" }
  }

  assert {
    condition = one([
      for statement in data.aws_iam_policy_document.job_api.statement : statement.resources if statement.sid == "ReadJobLogs"
    ]) == toset(["arn:aws:logs:eu-west-1:123456789012:log-group:/ecs/job-tracker:log-stream:*"])
    error_message = "job-api ReadJobLogs: ${jsonencode(data.aws_iam_policy_document.job_api.statement)}"
  }
}

run "jwt_authorization_on_every_route" {
  command = plan

  variables {
    jwt_issuer   = "https://issuer.example.com"
    jwt_audience = ["job-tracker"]
  }

  assert {
    condition = alltrue([
      for route in values(aws_apigatewayv2_route.this) :
      route.authorization_type == "JWT" && route.authorizer_id == aws_apigatewayv2_authorizer.jwt[0].id
    ]) && length(aws_apigatewayv2_route.this) == 5
    error_message = "Every route, GET /jobs and GET /jobs/{id}/logs included, must use the JWT authorizer."
  }
}

run "other_region_other_role_names" {
  command = plan

  variables {
    region = "us-east-1"
  }

  assert {
    condition     = aws_iam_role.function["create-job"].name == "job-tracker-us-east-1-create-job" && aws_iam_role.task_execution.name == "job-tracker-us-east-1-task-execution"
    error_message = "Role names in us-east-1: ${aws_iam_role.function["create-job"].name}, ${aws_iam_role.task_execution.name}"
  }
}

run "service_linked_role_opt_in" {
  command = plan

  variables {
    create_ecs_service_linked_role = true
  }

  assert {
    condition     = aws_iam_service_linked_role.ecs[0].aws_service_name == "ecs.amazonaws.com"
    error_message = "create_ecs_service_linked_role = true must create AWSServiceRoleForECS."
  }
}

run "environment_just_under_4kb" {
  command = plan

  # 346 parameters of 4 characters and one of 10: 4096 bytes as Lambda measures the
  # environment, exactly its limit (one more parameter is 4105).
  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, parameters = ["REPORT_DATE"] }
      backup = { image = "busybox", cpu = 512, memory = 1024, parameters = ["SOURCE"] }
      bulk   = { image = "busybox", cpu = 256, memory = 512, parameters = concat(["P000_LIMIT"], [for i in range(1, 347) : format("P%03d", i)]) }
    }
  }

  assert {
    condition     = local.environment_bytes["create-job"] == 4096 && local.environment_bytes["job-reconciler"] == 4096
    error_message = "create-job environment measured as ${local.environment_bytes["create-job"]} bytes, expected 4096."
  }
}

run "concurrency_limits_and_queue_timeout" {
  command = plan

  # The smallest limits and the longest queue timeout the validations allow.
  variables {
    max_running = 1
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, parameters = ["REPORT_DATE"], max_running = 1, queue_timeout_seconds = 86400 }
      backup = { image = "busybox", cpu = 512, memory = 1024, parameters = ["SOURCE"], queue_timeout_seconds = 1 }
      bulk   = { image = "busybox", cpu = 256, memory = 512, max_running = 40 }
    }
  }

  assert {
    condition = alltrue([
      for fn in ["create-job", "job-reconciler"] : aws_lambda_function.this[fn].environment[0].variables.MAX_RUNNING == "1"
    ])
    error_message = "MAX_RUNNING must be max_running as a string."
  }
  assert {
    # maxRunning and queueTimeoutSeconds only where set: the code's defaults otherwise.
    condition     = aws_lambda_function.this["job-reconciler"].environment[0].variables.JOB_DEFINITIONS == "{\"backup\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"backup\"},\"parameters\":[\"SOURCE\"],\"queueTimeoutSeconds\":1,\"taskDefinition\":\"job-tracker-backup\"},\"bulk\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"bulk\"},\"maxRunning\":40,\"parameters\":[],\"taskDefinition\":\"job-tracker-bulk\"},\"report\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"report\"},\"maxRunning\":1,\"parameters\":[\"REPORT_DATE\"],\"queueTimeoutSeconds\":86400,\"taskDefinition\":\"job-tracker-report\"}}"
    error_message = "JOB_DEFINITIONS: ${aws_lambda_function.this["job-reconciler"].environment[0].variables.JOB_DEFINITIONS}"
  }
}

run "retry_policy_and_attempt_timeout" {
  command = plan

  # Every field of a retry policy and every kind of rule, at the edges the validations
  # allow; a policy with one field; and no policy at all.
  variables {
    job_definitions = {
      report = {
        image = "busybox", cpu = 256, memory = 512, parameters = ["REPORT_DATE"], timeout_seconds = 1
        retry = {
          attempts = 10, interval_seconds = 0, backoff_rate = 1.5, max_delay_seconds = 86400, jitter = true
          rules = [
            { on_exit_code = "137", action = "RETRY" },
            { on_stop_code = "SpotInterruption", action = "RETRY" },
            { on_reason = "CannotPullContainerError*", action = "EXIT" },
            { on_exit_code = "1*", on_stop_code = "EssentialContainerExited", on_reason = "*", action = "EXIT" },
          ]
        }
      }
      backup = { image = "busybox", cpu = 512, memory = 1024, parameters = ["SOURCE"], timeout_seconds = 1200, retry = { attempts = 1 } }
      bulk   = { image = "busybox", cpu = 256, memory = 512, retry = { backoff_rate = 10, jitter = false, rules = [] } }
      plain  = { image = "busybox", cpu = 256, memory = 512 }
    }
  }

  assert {
    # DESIGN.md section 5's names; inside retry and each rule only what is set; rules
    # only when there are any; retry only when set.
    condition = alltrue([
      for fn in ["create-job", "job-reconciler"] :
      aws_lambda_function.this[fn].environment[0].variables.JOB_DEFINITIONS == "{\"backup\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"backup\"},\"parameters\":[\"SOURCE\"],\"retry\":{\"attempts\":1},\"taskDefinition\":\"job-tracker-backup\",\"timeoutSeconds\":1200},\"bulk\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"bulk\"},\"parameters\":[],\"retry\":{\"backoffRate\":10,\"jitter\":false},\"taskDefinition\":\"job-tracker-bulk\"},\"plain\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"plain\"},\"parameters\":[],\"taskDefinition\":\"job-tracker-plain\"},\"report\":{\"container\":\"app\",\"logs\":{\"group\":\"/ecs/job-tracker\",\"region\":\"eu-west-1\",\"streamPrefix\":\"report\"},\"parameters\":[\"REPORT_DATE\"],\"retry\":{\"attempts\":10,\"backoffRate\":1.5,\"intervalSeconds\":0,\"jitter\":true,\"maxDelaySeconds\":86400,\"rules\":[{\"action\":\"RETRY\",\"onExitCode\":\"137\"},{\"action\":\"RETRY\",\"onStopCode\":\"SpotInterruption\"},{\"action\":\"EXIT\",\"onReason\":\"CannotPullContainerError*\"},{\"action\":\"EXIT\",\"onExitCode\":\"1*\",\"onReason\":\"*\",\"onStopCode\":\"EssentialContainerExited\"}]},\"taskDefinition\":\"job-tracker-report\",\"timeoutSeconds\":1}}"
    ])
    error_message = "JOB_DEFINITIONS: ${aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS}"
  }
  assert {
    # job-events' code does not read JOB_DEFINITIONS (its CONTRACT): it gets none, and no
    # retry policy can make its environment grow.
    condition     = !contains(keys(aws_lambda_function.this["job-events"].environment[0].variables), "JOB_DEFINITIONS")
    error_message = "job-events must not get JOB_DEFINITIONS."
  }
}

run "retry_rules_at_most_ten" {
  command = plan

  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, retry = { rules = [for code in range(10) : { on_exit_code = tostring(code), action = "EXIT" }] } }
    }
  }

  assert {
    condition     = length(jsondecode(aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS).report.retry.rules) == 10
    error_message = "Ten rules must plan."
  }
}

run "refused_retry_rule_without_matcher" {
  command = plan

  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, retry = { rules = [{ action = "RETRY" }] } }
    }
  }

  expect_failures = [var.job_definitions]
}

run "refused_retry_rule_action_maybe" {
  command = plan

  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, retry = { rules = [{ on_exit_code = "1", action = "MAYBE" }] } }
    }
  }

  expect_failures = [var.job_definitions]
}

run "refused_retry_attempts_zero" {
  command = plan

  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, retry = { attempts = 0 } }
    }
  }

  expect_failures = [var.job_definitions]
}

run "reconcile_every_hour" {
  command = plan

  variables {
    reconcile_interval_minutes = 60
  }

  assert {
    condition = (
      aws_cloudwatch_event_rule.reconcile.schedule_expression == "rate(60 minutes)"
      && aws_cloudwatch_event_target.reconcile.retry_policy[0].maximum_event_age_in_seconds == 3600
      && aws_lambda_function_event_invoke_config.job_reconciler.maximum_event_age_in_seconds == 3600
    )
    error_message = "Hourly schedule: ${aws_cloudwatch_event_rule.reconcile.schedule_expression}"
  }
}

run "longest_timeout_and_most_concurrency" {
  command = plan

  variables {
    lambda_timeout_seconds       = 900
    launch_queue_max_concurrency = 1000
  }

  assert {
    # 6 x 900 s, within SQS's 12 hours.
    condition     = aws_sqs_queue.launches.visibility_timeout_seconds == 5400 && aws_lambda_event_source_mapping.launches.scaling_config[0].maximum_concurrency == 1000
    error_message = "Visibility timeout ${aws_sqs_queue.launches.visibility_timeout_seconds} s with a 900 s function timeout."
  }
}

run "refused_environment_over_4kb_as_lambda_measures_it" {
  command = plan

  # 465 parameters: names and values add up to 4091 bytes, which a check of names and
  # values alone would let through, but the JSON Lambda measures is 5152 bytes.
  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, parameters = ["REPORT_DATE"] }
      backup = { image = "busybox", cpu = 512, memory = 1024, parameters = ["SOURCE"] }
      bulk   = { image = "busybox", cpu = 256, memory = 512, parameters = [for i in range(465) : format("P%03d", i)] }
    }
  }

  expect_failures = [aws_lambda_function.this]
}

run "refused_security_group_in_another_vpc" {
  command = plan

  variables {
    security_group_ids = ["sg-0elsewhere"]
  }

  override_data {
    target = data.aws_security_group.given["sg-0elsewhere"]
    values = { vpc_id = "vpc-0other" }
  }

  expect_failures = [data.aws_security_group.given]
}

run "refused_subnets_in_two_vpcs" {
  command = plan

  override_data {
    target = data.aws_subnet.job["subnet-0fedcba9876543210"]
    values = { vpc_id = "vpc-0other" }
  }

  expect_failures = [data.aws_subnet.job]
}
