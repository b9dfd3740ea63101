# ECS Task State Change events of the tasks this service started (startedBy
# "job-tracker/<jobId>/<attempt>", a prefix fixed in the code) in this cluster only.
resource "aws_cloudwatch_event_rule" "task_state_change" {
  name        = "${var.name}-task-state-change"
  description = "ECS task state changes of ${var.name} jobs, to the job-events function"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.jobs.arn]
      startedBy  = [{ prefix = "job-tracker/" }]
    }
  })
}

resource "aws_cloudwatch_event_target" "job_events" {
  rule = aws_cloudwatch_event_rule.task_state_change.name
  arn  = aws_lambda_function.this["job-events"].arn

  # Lambda throttling or an outage must not lose an event: EventBridge keeps retrying for a
  # day (the maximum), then parks the event in the dead-letter queue.
  retry_policy {
    maximum_event_age_in_seconds = 86400
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.events_dlq.arn
  }
}

resource "aws_lambda_permission" "events" {
  statement_id  = "eventbridge-task-state-change"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["job-events"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.task_state_change.arn
}

# Events EventBridge could not deliver to job-events.
resource "aws_sqs_queue" "events_dlq" {
  name                      = "${var.name}-events-dlq"
  message_retention_seconds = 1209600 # 14 days, the maximum: time to investigate and replay
  sqs_managed_sse_enabled   = true
}

data "aws_iam_policy_document" "events_dlq" {
  statement {
    sid       = "EventBridgeRuleOnly"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events_dlq.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.task_state_change.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events_dlq" {
  queue_url = aws_sqs_queue.events_dlq.id
  policy    = data.aws_iam_policy_document.events_dlq.json
}

# Events job-events received but failed on (after Lambda's own retries), e.g. an event it
# cannot parse. Written by the Lambda service with job-events' role.
resource "aws_sqs_queue" "job_events_dlq" {
  name                      = "${var.name}-job-events-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_lambda_function_event_invoke_config" "job_events" {
  function_name                = aws_lambda_function.this["job-events"].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 21600
}
