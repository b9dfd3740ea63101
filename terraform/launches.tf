# The launch queue: "launch this job now" messages that job-reconciler consumes. create-job
# and job-reconciler put a job here, delayed (DelaySeconds up to 900), when its launch
# must be retried later (throttled, no capacity, ECS did not answer); job-events puts one
# here when a job ends and frees a concurrency slot, so that the next queued job of that
# definition starts at once rather than at the next reconciliation tick. A lost message
# delays a job, never loses it: the reconciler also finds every queued job through the
# jobs table's queue index.
resource "aws_sqs_queue" "launches" {
  name                    = "${var.name}-launches"
  sqs_managed_sse_enabled = true
  # AWS's recommendation for a Lambda event source: at least six times the function's
  # timeout, so that a batch still being processed (or retried by Lambda after a
  # throttle) does not become visible to a second invocation.
  visibility_timeout_seconds = 6 * var.lambda_timeout_seconds
  # Four days (SQS's default), shorter than the dead-letter queue's 14: SQS keeps a
  # message's first enqueue time when it moves it, so a dead-letter queue must keep
  # messages longer than its source for them to be seen there at all.
  message_retention_seconds = 345600

  # A message the reconciler failed on five times (reported as a batch item failure, or
  # the whole batch failed) is parked, with an alarm (monitoring.tf).
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.launches_dlq.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue" "launches_dlq" {
  name                      = "${var.name}-launches-dlq"
  message_retention_seconds = 1209600 # 14 days, the maximum: time to investigate and replay
  sqs_managed_sse_enabled   = true
}

# Lambda polls the queue with job-reconciler's role (iam.tf: ConsumeLaunchQueue) and
# invokes the function with up to 10 messages; the function reports the messages it
# failed on (ReportBatchItemFailures), so that only those are retried.
resource "aws_lambda_event_source_mapping" "launches" {
  event_source_arn        = aws_sqs_queue.launches.arn
  function_name           = aws_lambda_function.this["job-reconciler"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.launch_queue_max_concurrency
  }
}
