# job-reconciler's schedule: every reconcile_interval_minutes, one pass that launches the
# queued jobs that are due and asks ECS about the jobs that events have not moved. Two
# passes at once are safe (every write is conditional), so a slow pass needs no lock.
resource "aws_cloudwatch_event_rule" "reconcile" {
  name                = "${var.name}-reconcile"
  description         = "Runs the ${var.name} job-reconciler function every ${var.reconcile_interval_minutes} minute(s)"
  schedule_expression = "rate(${var.reconcile_interval_minutes} ${var.reconcile_interval_minutes == 1 ? "minute" : "minutes"})"
}

resource "aws_cloudwatch_event_target" "reconcile" {
  rule = aws_cloudwatch_event_rule.reconcile.name
  arn  = aws_lambda_function.this["job-reconciler"].arn

  # A tick that cannot be delivered (Lambda throttling, an outage) is retried until the
  # next one is due, which does the same work; then it is parked in the dead-letter
  # queue, whose alarm says the reconciler is not being run.
  retry_policy {
    maximum_event_age_in_seconds = 60 * var.reconcile_interval_minutes
    maximum_retry_attempts       = 185
  }

  dead_letter_config {
    arn = aws_sqs_queue.reconcile_dlq.arn
  }
}

resource "aws_lambda_permission" "reconcile" {
  statement_id  = "eventbridge-reconcile-schedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["job-reconciler"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reconcile.arn
}

# Lambda also retries a failed asynchronous invocation (twice by default, minutes apart),
# overlapping the next ticks to redo the same pass: a failed pass is left to the next
# tick, and counted by the Errors alarm (monitoring.tf).
resource "aws_lambda_function_event_invoke_config" "job_reconciler" {
  function_name                = aws_lambda_function.this["job-reconciler"].function_name
  maximum_retry_attempts       = 0
  maximum_event_age_in_seconds = 60 * var.reconcile_interval_minutes
}

# Ticks EventBridge could not deliver to job-reconciler. Nothing to replay (a later tick
# does the same work); a message here means the reconciler was not run.
resource "aws_sqs_queue" "reconcile_dlq" {
  name                      = "${var.name}-reconcile-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

data "aws_iam_policy_document" "reconcile_dlq" {
  statement {
    sid       = "EventBridgeRuleOnly"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.reconcile_dlq.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.reconcile.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "reconcile_dlq" {
  queue_url = aws_sqs_queue.reconcile_dlq.id
  policy    = data.aws_iam_policy_document.reconcile_dlq.json
}
