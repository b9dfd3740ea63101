# ---- general -----------------------------------------------------------------

variable "region" {
  type        = string
  description = "AWS region to deploy into, e.g. eu-west-1."

  validation {
    condition     = can(regex("^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$", var.region))
    error_message = "region must be an AWS region code such as eu-west-1 or us-gov-west-1."
  }
}

variable "name" {
  type        = string
  description = "Name of this deployment: the prefix of every resource name (table, cluster, functions, task definition families, log groups, queues, alarms). Use a different name per environment in the same region. IAM roles, whose names are account-wide, are named <name>-<region>-<role>, so the same name may be deployed in several regions of one account."
  default     = "job-tracker"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name must be 2-32 characters of lowercase letters, digits and '-', starting with a letter and not ending with '-'."
  }
  validation {
    # IAM role names (64 characters at most) are the tightest limit of the derived names;
    # the longest is "<name>-<region>-task-execution" (iam.tf).
    condition     = length("${var.name}-${var.region}-task-execution") <= 64
    error_message = "name is too long for region ${var.region}: the IAM role name \"${var.name}-${var.region}-task-execution\" would exceed IAM's 64 characters."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource that supports tags (through the provider's default_tags), besides Service = var.name."
  default     = {}
}

# ---- data --------------------------------------------------------------------

variable "dynamodb_kms_key_arn" {
  type        = string
  description = "ARN of a customer managed KMS key for the jobs table (arn:aws:kms:<region>:<account>:key/<key-id>, in the table's region); null uses the AWS managed key aws/dynamodb. The functions' roles get no KMS permission: the key policy must allow use through DynamoDB by the principals of this account (AWS's recommended statement: Principal \"*\" with kms:ViaService = dynamodb.<region>.amazonaws.com and kms:CallerAccount = this account)."
  default     = null

  validation {
    # DynamoDB reports the key ARN whatever it was given: an alias (or a bare key id)
    # would show as a change on every plan. The key must be in the table's region.
    condition = var.dynamodb_kms_key_arn == null || can(regex(
      "^arn:aws[a-z-]*:kms:${var.region}:[0-9]{12}:key/(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$",
      coalesce(var.dynamodb_kms_key_arn, "-"),
    ))
    error_message = "dynamodb_kms_key_arn must be the ARN of a KMS key in ${var.region} (arn:aws:kms:${var.region}:<account>:key/<key-id>), not an alias, an alias ARN or a bare key id: DynamoDB reports the key ARN, so anything else would show as a change on every plan."
  }
}

variable "dynamodb_deletion_protection" {
  type        = bool
  description = "Refuse to delete the jobs table (in Terraform and in the console) until this is set to false and applied. Keep it true in production."
  default     = true
}

# ---- jobs (ECS) --------------------------------------------------------------

variable "job_definitions" {
  type = map(object({
    image       = string
    cpu         = number
    memory      = number
    command     = optional(list(string))
    environment = optional(map(string), {})
    parameters  = optional(list(string), [])
    container   = optional(string, "app")
    # Writable scratch space stays at /tmp (an ephemeral volume); set to false only for an
    # image that must write elsewhere on its root filesystem.
    readonly_root_filesystem = optional(bool, true)
    cpu_architecture         = optional(string, "X86_64")
    # The job's own IAM role. null uses the shared job task role, which has no permissions:
    # give a job that calls AWS its own role with exactly what it needs.
    task_role_arn = optional(string)
    # Lifecycle policy (DESIGN.md section 5): null leaves the code's default.
    max_running           = optional(number)
    queue_timeout_seconds = optional(number)
    timeout_seconds       = optional(number)
    retry = optional(object({
      attempts          = optional(number)
      interval_seconds  = optional(number)
      backoff_rate      = optional(number)
      max_delay_seconds = optional(number)
      jitter            = optional(bool)
      rules = optional(list(object({
        on_exit_code = optional(string)
        on_stop_code = optional(string)
        on_reason    = optional(string)
        action       = string
      })), [])
    }))
  }))
  description = <<-EOT
    The jobs clients may run, keyed by the definition name clients send in POST /jobs.
    Each entry becomes one Fargate task definition (family "<name>-<key>") and one entry
    of create-job's JOB_DEFINITIONS, so the two cannot drift apart.
      image       container image (an ECR image of this account gets pull permissions)
      cpu, memory Fargate task size (CPU units, MiB): a pair Fargate offers, e.g.
                  256/512, 512/1024, 1024/2048, 2048/4096 (see local.fargate_memory_by_cpu)
      command     optional command override for the image
      environment fixed environment variables of the container
      parameters  names clients may set (each becomes an environment variable; the
                  service always sets JOB_ID and JOB_ATTEMPT itself)
      container   name of the job's container (default "app")
      readonly_root_filesystem  default true; /tmp is always writable
      cpu_architecture          X86_64 (default) or ARM64
      task_role_arn             the job's own task role (default: a role with no permissions)
      max_running               at most this many jobs of the definition have a task that
                                is not yet stopped; further jobs wait SUBMITTED and start
                                oldest first (default: no limit but the service-wide
                                max_running)
      queue_timeout_seconds     a job that cannot start within this many seconds ends
                                FAILED (1 to 86400; default: the code's, one hour)
      timeout_seconds           an attempt still running after this many seconds is
                                stopped and counts as failed (at least 1; default: the
                                code's)
      retry                     when a failed attempt is retried as a new attempt (a new
                                task); every field optional, the code's default where unset:
        attempts                runs in all, the first included (1 to 10)
        interval_seconds        wait before the first retry (0 to 86400)
        backoff_rate            factor by which each further wait grows (1 to 10)
        max_delay_seconds       longest wait between attempts (1 to 86400)
        jitter                  randomise each wait (spreads retries of many jobs)
        rules                   at most 10, in order, the first match decides: each
                                matches on_exit_code, on_stop_code and/or on_reason (glob
                                patterns, at least one) and has action "RETRY" or "EXIT";
                                unmatched failures: platform failures are retried,
                                application exit codes are not
      A request may lower retry.attempts and timeout_seconds for its own job, never raise
      them.
  EOT

  validation {
    condition     = length(var.job_definitions) > 0
    error_message = "job_definitions must declare at least one job definition."
  }
  validation {
    condition     = alltrue([for k in keys(var.job_definitions) : can(regex("^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", k))])
    error_message = "job_definitions keys must be 1-63 letters, digits, '-' or '_', starting with a letter or digit."
  }
  validation {
    condition = alltrue(flatten([
      for d in values(var.job_definitions) : [
        for p in d.parameters : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", p)) && !contains(["JOB_ID", "JOB_ATTEMPT"], p)
      ]
    ]))
    error_message = "parameters must be valid environment variable names (letters, digits, '_', not starting with a digit) and not JOB_ID or JOB_ATTEMPT, which the service sets itself."
  }
  validation {
    condition     = alltrue([for d in values(var.job_definitions) : contains(keys(local.fargate_memory_by_cpu), tostring(d.cpu))])
    error_message = "cpu must be a Fargate CPU size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
  validation {
    # RegisterTaskDefinition refuses any other pair ("No Fargate configuration exists for
    # given values"), part-way through an apply.
    condition = alltrue([
      for d in values(var.job_definitions) :
      contains(lookup(local.fargate_memory_by_cpu, tostring(d.cpu), [d.memory]), d.memory)
    ])
    error_message = join("\n", [
      for k, d in var.job_definitions : format(
        "job_definitions[\"%s\"]: Fargate offers no %d MiB with cpu %d; memory must be one of %s.",
        k, d.memory, d.cpu, join(", ", local.fargate_memory_by_cpu[tostring(d.cpu)]),
      ) if !contains(lookup(local.fargate_memory_by_cpu, tostring(d.cpu), [d.memory]), d.memory)
    ])
  }
  validation {
    condition     = alltrue([for d in values(var.job_definitions) : contains(["X86_64", "ARM64"], d.cpu_architecture)])
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
  validation {
    condition = alltrue([
      for d in values(var.job_definitions) : d.max_running == null || try(d.max_running >= 1 && floor(d.max_running) == d.max_running, false)
    ])
    error_message = "max_running of a job definition must be a whole number of at least 1 (or unset for no per-definition limit)."
  }
  validation {
    condition = alltrue([
      for d in values(var.job_definitions) : d.queue_timeout_seconds == null || try(d.queue_timeout_seconds >= 1 && d.queue_timeout_seconds <= 86400 && floor(d.queue_timeout_seconds) == d.queue_timeout_seconds, false)
    ])
    error_message = "queue_timeout_seconds of a job definition must be a whole number of seconds from 1 to 86400 (or unset for the code's default, 3600)."
  }
  # The lifecycle fields below are parsed strictly by the code at cold start: refused here,
  # they stop the plan instead of every function that reads JOB_DEFINITIONS.
  validation {
    condition = alltrue([
      for d in values(var.job_definitions) : d.timeout_seconds == null || try(d.timeout_seconds >= 1 && d.timeout_seconds <= 31536000 && floor(d.timeout_seconds) == d.timeout_seconds, false)
    ])
    error_message = "timeout_seconds of a job definition must be a whole number of seconds from 1 to 31536000 (365 days), or unset for no limit."
  }
  validation {
    condition = alltrue([
      for d in values(var.job_definitions) : try(d.retry.attempts, null) == null || try(d.retry.attempts >= 1 && d.retry.attempts <= 10 && floor(d.retry.attempts) == d.retry.attempts, false)
    ])
    error_message = "retry.attempts of a job definition must be a whole number from 1 to 10 (it counts the first run: 1 means never retry)."
  }
  validation {
    condition = alltrue([
      for d in values(var.job_definitions) : try(d.retry.interval_seconds, null) == null || try(d.retry.interval_seconds >= 0 && d.retry.interval_seconds <= 86400 && floor(d.retry.interval_seconds) == d.retry.interval_seconds, false)
    ])
    error_message = "retry.interval_seconds of a job definition must be a whole number of seconds from 0 to 86400."
  }
  validation {
    condition = alltrue([
      for d in values(var.job_definitions) : try(d.retry.backoff_rate, null) == null || try(d.retry.backoff_rate >= 1 && d.retry.backoff_rate <= 10, false)
    ])
    error_message = "retry.backoff_rate of a job definition must be a number from 1 to 10 (1 waits the same interval before every retry)."
  }
  validation {
    condition = alltrue([
      for d in values(var.job_definitions) : try(d.retry.max_delay_seconds, null) == null || try(d.retry.max_delay_seconds >= 1 && d.retry.max_delay_seconds <= 86400 && floor(d.retry.max_delay_seconds) == d.retry.max_delay_seconds, false)
    ])
    error_message = "retry.max_delay_seconds of a job definition must be a whole number of seconds from 1 to 86400."
  }
  validation {
    condition     = alltrue([for d in values(var.job_definitions) : length(try(d.retry.rules, [])) <= 10])
    error_message = "retry.rules of a job definition may hold at most 10 rules."
  }
  validation {
    # The code refuses a rule that matches on nothing; one that means "any failure" says
    # so with a "*" pattern.
    condition = alltrue(flatten([
      for d in values(var.job_definitions) : [
        for rule in try(d.retry.rules, []) : anytrue([for pattern in [rule.on_exit_code, rule.on_stop_code, rule.on_reason] : pattern != null && pattern != ""])
      ]
    ]))
    error_message = "Each retry rule of a job definition must match on at least one of on_exit_code, on_stop_code or on_reason (a non-empty glob pattern; \"*\" matches anything)."
  }
  validation {
    condition = alltrue(flatten([
      for d in values(var.job_definitions) : [for rule in try(d.retry.rules, []) : contains(["RETRY", "EXIT"], rule.action)]
    ]))
    error_message = "The action of each retry rule of a job definition must be \"RETRY\" or \"EXIT\"."
  }
}

variable "ecs_container_insights" {
  type        = bool
  description = "Enable CloudWatch Container Insights on the cluster (per-task CPU, memory and network metrics; billed as custom metrics)."
  default     = true
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets the job tasks run in (awsvpc). Private subnets with a NAT gateway or VPC endpoints (ECR, S3, CloudWatch Logs) for image pulls and logs, or public subnets with assign_public_ip = true."

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "subnet_ids must name at least one subnet."
  }
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the job tasks. Empty (the default) creates one in the VPC of subnet_ids that allows no inbound traffic and outbound HTTPS (443) only, enough to pull images and call AWS APIs; pass your own groups when jobs need more. They must be in the VPC of subnet_ids (checked at plan time, ecs.tf)."
  default     = []
}

variable "create_ecs_service_linked_role" {
  type        = bool
  description = "Create the account's ECS service-linked role AWSServiceRoleForECS, which Fargate needs to attach task network interfaces (RunTask fails with \"Unable to assume the service linked role\" without it). ECS creates it on first use only when the caller may call iam:CreateServiceLinkedRole; set true in an account that has never used ECS and whose deployer may create it. Leave false where the role exists (creating it again fails), and set it in one deployment per account only: the role is account-wide, and destroying the deployment that owns it deletes it."
  default     = false
}

variable "assign_public_ip" {
  type        = bool
  description = "Give job tasks a public IP (needed in public subnets without a NAT gateway, to pull images)."
  default     = false
}

# ---- launches and reconciliation ----------------------------------------------

variable "max_running" {
  type        = number
  description = "Service-wide concurrency limit: at most this many jobs (of all definitions) have a task that is not yet stopped; further jobs wait SUBMITTED and start oldest first as tasks stop. Protects the account's Fargate quota (vCPUs per region). null (the default) sets no service-wide limit; each job definition may still set its own max_running."
  default     = null

  validation {
    condition     = var.max_running == null || try(var.max_running >= 1 && floor(var.max_running) == var.max_running, false)
    error_message = "max_running must be a whole number of at least 1, or null for no service-wide limit."
  }
}

variable "reconcile_interval_minutes" {
  type        = number
  nullable    = false
  description = "How often the job-reconciler function runs (an EventBridge schedule, rate(N minutes)): it launches queued jobs that are due, and asks ECS (DescribeTasks) about jobs that events have not moved. A job whose events were all lost reaches its true state within about this interval plus the code's own staleness threshold."
  default     = 1

  validation {
    condition     = var.reconcile_interval_minutes >= 1 && var.reconcile_interval_minutes <= 60 && floor(var.reconcile_interval_minutes) == var.reconcile_interval_minutes
    error_message = "reconcile_interval_minutes must be a whole number of minutes from 1 to 60."
  }
}

variable "launch_queue_max_concurrency" {
  type        = number
  nullable    = false
  description = "Most concurrent job-reconciler invocations the launch queue (SQS, delayed launches and freed slots) may drive: the event source mapping's maximum concurrency. ECS's own RunTask rate (Fargate task launches per second per account and region) bounds what more concurrency buys; more only turns into throttled launches, which wait in the queue. 2 is the minimum Lambda allows."
  default     = 5

  validation {
    condition     = var.launch_queue_max_concurrency >= 2 && var.launch_queue_max_concurrency <= 1000 && floor(var.launch_queue_max_concurrency) == var.launch_queue_max_concurrency
    error_message = "launch_queue_max_concurrency must be a whole number from 2 to 1000 (the range Lambda allows for an SQS event source's maximum concurrency)."
  }
}

# ---- functions ---------------------------------------------------------------

variable "lambda_build_dir" {
  type        = string
  description = "Directory holding <function>/bootstrap.zip as written by scripts/build-lambdas (cargo lambda build --output-format zip), relative to the directory Terraform runs in or absolute."
  default     = "../target/lambda"
}

variable "lambda_architecture" {
  type        = string
  description = "Instruction set of the functions: x86_64 (default) or arm64 (Graviton, about 20% cheaper per GB-second; build with LAMBDA_ARCH=arm64 scripts/build-lambdas). Must match the zips."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

variable "lambda_memory_mb" {
  type        = number
  description = "Memory of each function in MB (CPU is allocated in proportion)."
  default     = 128
}

variable "lambda_timeout_seconds" {
  type        = number
  description = "Timeout of each function in seconds. The functions' AWS calls are budgeted to answer within 10 s in the worst case (shared::infra::sdk::CallBudget), so a stalled endpoint ends in the service's own error rather than a Lambda timeout; API Gateway gives up on the HTTP functions after 30 seconds whatever this says."
  default     = 15

  validation {
    condition     = var.lambda_timeout_seconds >= 15 && var.lambda_timeout_seconds <= 900
    error_message = "lambda_timeout_seconds must be 15 to 900: below 15 a stalled AWS call (up to 10 s of SDK budget, after init) would end in a Lambda timeout instead of the service's own error."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of every log group (functions, job tasks, API access log), in days."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

# ---- API ---------------------------------------------------------------------

variable "jwt_issuer" {
  type        = string
  description = "Issuer URL of a JWT (OIDC) identity provider, e.g. https://cognito-idp.eu-west-1.amazonaws.com/<pool-id>. When set (with jwt_audience), the routes use a JWT authorizer and the job owner is the token's sub claim; when null (the default), the routes require AWS_IAM (SigV4) and the owner is the caller's IAM ARN."
  default     = null

  validation {
    condition     = (var.jwt_issuer == null) == (length(var.jwt_audience) == 0)
    error_message = "Set jwt_issuer and jwt_audience together (JWT authorization), or neither (IAM authorization)."
  }
  validation {
    condition     = var.jwt_issuer == null || startswith(coalesce(var.jwt_issuer, "-"), "https://")
    error_message = "jwt_issuer must be an https:// URL."
  }
}

variable "jwt_audience" {
  type        = list(string)
  description = "Accepted aud (or client_id) values of the JWTs; required with jwt_issuer."
  default     = []
}

variable "api_throttling_burst_limit" {
  type        = number
  description = "Burst limit (requests) of the API stage, across all callers."
  default     = 50
}

variable "api_throttling_rate_limit" {
  type        = number
  description = "Steady-state rate limit (requests per second) of the API stage, across all callers."
  default     = 25
}

# ---- alarms ------------------------------------------------------------------

variable "alarm_topic_arn" {
  type        = string
  description = "ARN of an existing SNS topic the alarms notify. Takes precedence over alarm_email."
  default     = null
}

variable "alarm_email" {
  type        = string
  description = "Email address to notify of alarms through a new SNS topic (the address must confirm the subscription). Ignored when alarm_topic_arn is set; with neither, alarms only show in the CloudWatch console."
  default     = null
}
