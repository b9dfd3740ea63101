locals {
  alarm_topic_arn = var.alarm_topic_arn != null ? var.alarm_topic_arn : (
    var.alarm_email != null ? aws_sns_topic.alarms[0].arn : null
  )
  alarm_actions = local.alarm_topic_arn == null ? [] : [local.alarm_topic_arn]

  # Each dead-letter queue, and what a message in it means.
  dead_letter_queues = {
    events = {
      queue   = aws_sqs_queue.events_dlq.name
      meaning = "ECS events EventBridge could not deliver to job-events: jobs may show a stale status until the reconciler corrects them. Fix the cause, replay the messages to job-events."
    }
    job-events = {
      queue   = aws_sqs_queue.job_events_dlq.name
      meaning = "ECS events job-events failed on: jobs may show a stale status until the reconciler corrects them. See the function's log, fix the cause, replay the messages to job-events."
    }
    launches = {
      queue   = aws_sqs_queue.launches_dlq.name
      meaning = "Launch messages job-reconciler failed on five times: those jobs wait for the next reconciliation pass (the queue index still holds them). See job-reconciler's log for the cause."
    }
    reconcile = {
      queue   = aws_sqs_queue.reconcile_dlq.name
      meaning = "Schedule ticks EventBridge could not deliver to job-reconciler: the reconciler is not being run, so lost events and queued jobs wait. Nothing to replay; fix the cause (throttling, permissions)."
    }
  }
}

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic encrypted with the AWS managed aws/sns key, and notifications carry only the alarm's name and state.
  count = var.alarm_topic_arn == null && var.alarm_email != null ? 1 : 0

  name = "${var.name}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = length(aws_sns_topic.alarms)

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

# Anything in a dead-letter queue is work the service could not do on its own.
resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = local.dead_letter_queues

  alarm_name          = "${each.value.queue}-not-empty"
  alarm_description   = "Messages are waiting in ${each.value.queue}. ${each.value.meaning}"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value.queue }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# Errors are failed invocations (crash, init failure, timeout), not 4xx/5xx answers.
resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = aws_lambda_function.this

  alarm_name          = "${each.value.function_name}-errors"
  alarm_description   = "${each.value.function_name} failed invocations (crash, init failure or timeout). See its log group ${aws_cloudwatch_log_group.function[each.key].name}."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
