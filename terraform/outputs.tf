output "api_endpoint" {
  description = "Base URL of the REST API, without a trailing slash: POST and GET $api_endpoint/jobs, GET and DELETE $api_endpoint/jobs/{id}, GET $api_endpoint/jobs/{id}/logs (openapi.yaml). jobctl takes it as --endpoint: jobctl --endpoint $(terraform output -raw api_endpoint)."
  # The API's own endpoint (no trailing slash; the $default stage serves it).
  value = aws_apigatewayv2_api.jobs.api_endpoint
}

output "api_id" {
  description = "Id of the API Gateway HTTP API."
  value       = aws_apigatewayv2_api.jobs.id
}

output "api_authorization" {
  description = "How callers authenticate: AWS_IAM (SigV4, service execute-api) or JWT."
  value       = local.use_jwt ? "JWT" : "AWS_IAM"
}

output "jobs_table_name" {
  description = "Name of the DynamoDB jobs table."
  value       = aws_dynamodb_table.jobs.name
}

output "jobs_table_arn" {
  description = "ARN of the DynamoDB jobs table."
  value       = aws_dynamodb_table.jobs.arn
}

output "ecs_cluster_arn" {
  description = "ARN of the ECS cluster the jobs run in."
  value       = aws_ecs_cluster.jobs.arn
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster the jobs run in."
  value       = aws_ecs_cluster.jobs.name
}

output "task_definition_families" {
  description = "Task definition family of each job definition (definition name => family)."
  value       = local.job_families
}

output "task_definition_arns" {
  description = "Task definition revision registered by this apply, per job definition."
  value       = { for key, def in aws_ecs_task_definition.job : key => def.arn }
}

output "job_security_group_ids" {
  description = "Security groups the job tasks run with (created or given)."
  value       = local.security_group_ids
}

output "job_log_group_name" {
  description = "CloudWatch log group of the job containers (stream prefix = job definition name)."
  value       = aws_cloudwatch_log_group.jobs.name
}

output "function_names" {
  description = "Lambda function name of each function (create-job, job-events, job-api, job-reconciler)."
  value       = { for fn, f in aws_lambda_function.this : fn => f.function_name }
}

output "function_arns" {
  description = "Lambda function ARN of each function."
  value       = { for fn, f in aws_lambda_function.this : fn => f.arn }
}

output "function_role_arns" {
  description = "IAM execution role ARN of each function."
  value       = { for fn, r in aws_iam_role.function : fn => r.arn }
}

output "function_environment" {
  description = "Environment variables Terraform set on each function (no secrets: names and ids only)."
  value       = { for fn, f in aws_lambda_function.this : fn => f.environment[0].variables }
}

output "function_log_group_names" {
  description = "CloudWatch log group of each function."
  value       = { for fn, g in aws_cloudwatch_log_group.function : fn => g.name }
}

output "events_rule_arn" {
  description = "ARN of the EventBridge rule that delivers this cluster's job task state changes to job-events."
  value       = aws_cloudwatch_event_rule.task_state_change.arn
}

output "reconciler_function_name" {
  description = "Lambda function name of job-reconciler (run on a schedule and by the launch queue); invoke it with an empty event for a reconciliation pass now."
  value       = aws_lambda_function.this["job-reconciler"].function_name
}

output "reconcile_rule_arn" {
  description = "ARN of the EventBridge schedule rule that runs job-reconciler."
  value       = aws_cloudwatch_event_rule.reconcile.arn
}

output "launch_queue_url" {
  description = "URL of the SQS launch queue (delayed launches and freed concurrency slots, consumed by job-reconciler)."
  value       = aws_sqs_queue.launches.url
}

output "launch_queue_arn" {
  description = "ARN of the SQS launch queue."
  value       = aws_sqs_queue.launches.arn
}

output "launch_dead_letter_queue_arn" {
  description = "ARN of the launch queue's dead-letter queue (launch messages job-reconciler failed on five times)."
  value       = aws_sqs_queue.launches_dlq.arn
}

output "dead_letter_queue_urls" {
  description = "SQS dead-letter queues: events (EventBridge could not deliver to job-events), job-events (job-events failed on the event), launches (job-reconciler failed on a launch message five times) and reconcile (EventBridge could not deliver a schedule tick to job-reconciler)."
  value = {
    events     = aws_sqs_queue.events_dlq.url
    job-events = aws_sqs_queue.job_events_dlq.url
    launches   = aws_sqs_queue.launches_dlq.url
    reconcile  = aws_sqs_queue.reconcile_dlq.url
  }
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify, or null when none is configured."
  value       = local.alarm_topic_arn
}
