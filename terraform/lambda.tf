locals {
  function_keys = toset(["create-job", "job-events", "job-api", "job-reconciler"])

  # What create-job and job-reconciler both need to launch a job's task and to honour the
  # concurrency limits. MAX_RUNNING is always set: empty means no service-wide limit.
  launch_environment = {
    JOBS_TABLE           = aws_dynamodb_table.jobs.name
    ECS_CLUSTER          = aws_ecs_cluster.jobs.arn
    ECS_SUBNETS          = join(",", var.subnet_ids)
    ECS_SECURITY_GROUPS  = join(",", local.security_group_ids)
    ECS_ASSIGN_PUBLIC_IP = var.assign_public_ip ? "ENABLED" : "DISABLED"
    JOB_DEFINITIONS      = local.job_definitions_json
    LAUNCH_QUEUE_URL     = aws_sqs_queue.launches.url
    MAX_RUNNING          = var.max_running == null ? "" : tostring(var.max_running)
  }

  # The environment each function reads, exactly (each function's CONTRACT, printed by
  # function-contracts), and the policy of its role (iam.tf).
  functions = {
    "create-job" = {
      description = "POST /jobs: records a job and starts its ECS task, or queues it"
      environment = local.launch_environment
      policy      = data.aws_iam_policy_document.create_job.json
    }
    "job-events" = {
      description = "ECS Task State Change events (EventBridge) -> job status; frees concurrency slots"
      environment = {
        JOBS_TABLE       = aws_dynamodb_table.jobs.name
        LAUNCH_QUEUE_URL = aws_sqs_queue.launches.url
      }
      policy = data.aws_iam_policy_document.job_events.json
    }
    "job-api" = {
      description = "GET /jobs: lists the caller's jobs; GET /jobs/{id}: reads a job; GET /jobs/{id}/logs: its task's logs; DELETE /jobs/{id}: cancels it"
      # Cancelling stops the job's task in the cluster (ECS_CLUSTER); a job cancelled
      # before it has a task gives its concurrency slots back at once and tells the
      # launch queue (LAUNCH_QUEUE_URL), as job-events does when a task stops.
      environment = {
        JOBS_TABLE       = aws_dynamodb_table.jobs.name
        ECS_CLUSTER      = aws_ecs_cluster.jobs.arn
        LAUNCH_QUEUE_URL = aws_sqs_queue.launches.url
      }
      policy = data.aws_iam_policy_document.job_api.json
    }
    "job-reconciler" = {
      description = "Schedule and launch queue: launches queued jobs, reconciles jobs with ECS"
      environment = local.launch_environment
      policy      = data.aws_iam_policy_document.job_reconciler.json
    }
  }

  function_names = { for fn in local.function_keys : fn => "${var.name}-${fn}" }

  # Lambda refuses an environment over 4 KB (4096 bytes) as it measures it: the variables
  # serialized as one JSON object, {"NAME":"value",...}, so quotes, separators and the
  # escaping of the quotes inside JOB_DEFINITIONS count too. Measured here the same way, in
  # UTF-8 bytes (through base64, as length() counts characters). Terraform's jsonencode
  # also escapes <, > and & (6 bytes each), so for those this errs on the safe side.
  environment_json = { for fn, f in local.functions : fn => jsonencode(f.environment) }
  environment_bytes = {
    for fn, json in local.environment_json :
    fn => length(base64encode(json)) / 4 * 3 - length(regex("=*$", base64encode(json)))
  }
  # What each job definition adds to JOB_DEFINITIONS as it sits in that JSON (escaped),
  # largest first, for the error message.
  job_definition_json = {
    for key, entry in local.job_definition_entries : key => jsonencode(jsonencode({ (key) = entry }))
  }
  job_definition_bytes = {
    for key, json in local.job_definition_json :
    key => length(base64encode(json)) / 4 * 3 - length(regex("=*$", base64encode(json))) - 4 # less "{}" and outer quotes
  }
  job_definitions_by_size = [
    for line in reverse(sort([for key, n in local.job_definition_bytes : format("%06d %s", n, key)])) :
    format("%s (%d bytes)", split(" ", line)[1], tonumber(split(" ", line)[0]))
  ]
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:Encrypted at rest by CloudWatch Logs with its service key; a customer managed key would need a key policy for the logs service, which this module does not manage.
  for_each = local.function_keys

  # The name Lambda logs to; created here so that retention applies from the first log line.
  name              = "/aws/lambda/${local.function_names[each.key]}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The functions call only AWS service APIs (DynamoDB, ECS, SQS, CloudWatch Logs) over TLS with SigV4; a VPC would add NAT or interface endpoints and cold-start latency and protect nothing.
  #checkov:skip=CKV_AWS_173:The environment holds no secrets (table, cluster, subnet and security group ids, job definitions, the launch queue URL, a limit); Lambda encrypts it at rest with its service key.
  #checkov:skip=CKV_AWS_272:The zips come from this repository's own build (scripts/build-lambdas); code signing needs an AWS Signer profile, left to deployments that require it.
  #checkov:skip=CKV_AWS_115:No reserved concurrency: it would be carved out of the account's pool; the API stage throttle bounds the HTTP functions, the event source mapping's maximum concurrency bounds job-reconciler's launch-queue invocations, and capping job-events would only delay status updates.
  #checkov:skip=CKV_AWS_116:job-events has a dead-letter queue (dynamic block below). create-job and job-api are invoked synchronously by API Gateway, where errors go back to the caller and a DLQ is never used. job-reconciler is invoked by its schedule, whose failed pass the next tick redoes (nothing to replay: its invoke config retries nothing), and by SQS, whose redrive policy is the launch queue's dead-letter queue.
  #checkov:skip=CKV_AWS_50:The functions emit no X-Ray segments; active tracing would need xray:PutTraceSegments on Resource "*" in every role for Lambda's own segment only.
  for_each = local.functions

  function_name    = local.function_names[each.key]
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.lambda_architecture]
  filename         = "${var.lambda_build_dir}/${each.key}/bootstrap.zip"
  source_code_hash = filebase64sha256("${var.lambda_build_dir}/${each.key}/bootstrap.zip")
  memory_size      = var.lambda_memory_mb
  timeout          = var.lambda_timeout_seconds

  environment {
    variables = each.value.environment
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  dynamic "dead_letter_config" {
    for_each = each.key == "job-events" ? [aws_sqs_queue.job_events_dlq.arn] : []
    content {
      target_arn = dead_letter_config.value
    }
  }

  lifecycle {
    precondition {
      # JOB_DEFINITIONS grows with every job definition and parameter (see
      # local.environment_bytes for how Lambda measures it).
      condition = local.environment_bytes[each.key] <= 4096
      error_message = format(
        "The environment of %s is %d bytes as Lambda measures it (its variables as one JSON object), over Lambda's limit of 4096.%s",
        each.key, local.environment_bytes[each.key],
        !contains(keys(each.value.environment), "JOB_DEFINITIONS") ? "" : format(
          " JOB_DEFINITIONS, largest entries first: %s. Declare fewer job definitions or parameters, or shorter names.",
          join(", ", local.job_definitions_by_size),
        ),
      )
    }
  }

  # The role's policy must exist before the function can log or use its DLQ.
  depends_on = [aws_iam_role_policy.function]
}
