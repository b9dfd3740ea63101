# The jobs table: one item per job, read and written by key only (no indexes, no scans).
resource "aws_dynamodb_table" "jobs" {
  name                        = "${var.name}-jobs"
  billing_mode                = "PAY_PER_REQUEST" # nothing is paid when no job runs
  hash_key                    = "jobId"
  deletion_protection_enabled = var.dynamodb_deletion_protection

  attribute {
    name = "jobId"
    type = "S"
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
