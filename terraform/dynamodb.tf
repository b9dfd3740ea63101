# The jobs table: one item per job, read and written by key or through its two indexes,
# never scanned. Besides the jobs it holds small counter items for the concurrency
# limits (jobId "slots#definition#<name>" and "slots#service", attribute running),
# updated in the same transactions as the jobs whose slots they count.
#
# Two sparse global secondary indexes let the reconciler find the jobs that still need
# attention at a cost that grows with their number, never with the table's: an item is
# in an index only while it carries that index's key attributes, which the code removes
# when the job no longer needs it. Both project keys only (the reconciler reads the jobs
# themselves with BatchGetItem), so an index write is the size of a key, whatever the
# size of the job.
#   pending  every unfinished job, by shard and by the time it became pending. The code
#            spreads the jobs over 16 values of pendingShard, so that hundreds of
#            submissions per second never concentrate on one index partition; the
#            reconciler queries the 16 shards, oldest first.
#   queue    the jobs waiting for a launch (throttled, no capacity, a concurrency limit),
#            by job definition (queuedFor) and oldest first (queuedSince).
# Index writes, per job: pending twice (when the job is created, when it finishes);
# queue twice more only for a job that had to wait.
resource "aws_dynamodb_table" "jobs" {
  name                        = "${var.name}-jobs"
  billing_mode                = "PAY_PER_REQUEST" # nothing is paid when no job runs
  hash_key                    = "jobId"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "jobId"
    type = "S"
  }

  attribute {
    name = "pendingShard"
    type = "S"
  }

  attribute {
    name = "pendingSince"
    type = "S"
  }

  attribute {
    name = "queuedFor"
    type = "S"
  }

  attribute {
    name = "queuedSince"
    type = "S"
  }

  # On-demand: the indexes have no capacity of their own to set.
  global_secondary_index {
    name            = "pending"
    hash_key        = "pendingShard"
    range_key       = "pendingSince"
    projection_type = "KEYS_ONLY"
  }

  global_secondary_index {
    name            = "queue"
    hash_key        = "queuedFor"
    range_key       = "queuedSince"
    projection_type = "KEYS_ONLY"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.dynamodb_kms_key_arn
  }

  # Declared now for the retention feature (ttlSecondsAfterFinished-like expiry of
  # finished jobs): the code does not write expiresAt yet, so nothing expires until it does.
  ttl {
    attribute_name = "expiresAt"
    enabled        = true
  }
}
