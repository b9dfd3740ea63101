# The jobs table: one item per job, read and written by key or through its indexes,
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
#
# Three listing indexes serve GET /jobs (job-api), a caller's jobs newest first: every job
# carries their keys from its creation on (an item without them, such as a counter, is in
# none). Each hash key starts with the owner and ends with the job's write shard
# (<owner>#...#<shard>, shard 0..3); the range key is
# listCreated = "<createdAt, RFC 3339 UTC millis>#<jobId>", so a Query reads one owner's
# jobs in creation order, and job-api merges the 4 shards. job-api Queries the three
# indexes only and reads the jobs themselves with BatchGetItem.
#   owner             listOwner = <owner>#<shard>: all the caller's jobs. KEYS_ONLY.
#   owner-status      listStatus = <owner>#<STATUS>#<shard>: the caller's jobs in one
#                     status (the key moves with the status). INCLUDE definition, so a
#                     filter on status and definition at once can be decided on the
#                     index entry, without reading the job.
#   owner-definition  listDefinition = <owner>#<definition>#<shard>: the caller's jobs of
#                     one job definition. KEYS_ONLY.
# What they cost per job, in index writes (every entry is keys-sized, the definition name
# included, under 1 KB: one write unit each):
#   owner             1, at creation (the key never changes);
#   owner-definition  1, at creation;
#   owner-status      1 at creation + 2 per status change (the old entry deleted, the new
#                     one put): SUBMITTED -> STARTING -> RUNNING -> STOPPING -> SUCCEEDED
#                     is 1 + 4 x 2 = 9;
#   so about 11 listing-index write units for a job that runs once.
# Hot partitions: DynamoDB limits one partition to 1,000 write units per second. With 4
# shards in every key, one owner's entries spread over 4 partition key values per index:
#   owner, owner-definition  1 write per job: 4 x 1,000 = 4,000 jobs created per second
#                            per owner (per owner and definition);
#   owner-status             a job that passes through a status writes that status's key
#                            twice (put on entering, delete on leaving):
#                            4 x 1,000 / 2 = 2,000 jobs per second per owner per status.
# Far above what one owner can start (RunTask accepts tens of tasks per second).
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

  attribute {
    name = "listOwner"
    type = "S"
  }

  attribute {
    name = "listStatus"
    type = "S"
  }

  attribute {
    name = "listDefinition"
    type = "S"
  }

  attribute {
    name = "listCreated"
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

  # GET /jobs: the listing indexes (see above).
  global_secondary_index {
    name            = "owner"
    hash_key        = "listOwner"
    range_key       = "listCreated"
    projection_type = "KEYS_ONLY"
  }

  global_secondary_index {
    name               = "owner-status"
    hash_key           = "listStatus"
    range_key          = "listCreated"
    projection_type    = "INCLUDE"
    non_key_attributes = ["definition"]
  }

  global_secondary_index {
    name            = "owner-definition"
    hash_key        = "listDefinition"
    range_key       = "listCreated"
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
