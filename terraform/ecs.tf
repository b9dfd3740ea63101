locals {
  # Task sizes Fargate offers (Linux): memory in MiB for each CPU value. Any other pair is
  # refused by RegisterTaskDefinition ("No Fargate configuration exists for given values").
  # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html#fargate-tasks-size
  fargate_memory_by_cpu = {
    "256"   = [512, 1024, 2048]
    "512"   = range(1024, 4096 + 1, 1024)
    "1024"  = range(2048, 8192 + 1, 1024)
    "2048"  = range(4096, 16384 + 1, 1024)
    "4096"  = range(8192, 30720 + 1, 1024)
    "8192"  = range(16384, 61440 + 1, 4096)  # Linux platform 1.4.0 or later
    "16384" = range(32768, 122880 + 1, 8192) # Linux platform 1.4.0 or later
  }

  # One task definition family per job definition; prefixed so that two deployments (or
  # other workloads) in one account never share a family.
  job_families = { for key, def in var.job_definitions : key => "${var.name}-${key}" }

  # What create-job and job-reconciler read as JOB_DEFINITIONS (DESIGN.md section 5),
  # generated from the same variable as the task definitions, so the API's allow-list and
  # the families it runs cannot drift apart. taskDefinition is a family: RunTask starts its
  # latest ACTIVE revision. It is read from the task definition resources, so a function
  # that advertises a definition is configured only after its task definition is
  # registered. Lifecycle fields are present only when set, inside retry and its rules
  # too: absent, the code's default applies (and the environment, capped at 4 KB, does
  # not grow).
  job_definition_entries = {
    for key, def in var.job_definitions : key => merge(
      {
        taskDefinition = aws_ecs_task_definition.job[key].family
        container      = def.container
        parameters     = def.parameters
        # Where the task's container logs go (job-api reads them for GET /jobs/{id}/logs):
        # the awslogs options of the task definition below, from the same local, so the
        # two cannot disagree. A task's stream is <streamPrefix>/<container>/<task id>.
        logs = {
          group        = local.job_log_options[key]["awslogs-group"]
          region       = local.job_log_options[key]["awslogs-region"]
          streamPrefix = local.job_log_options[key]["awslogs-stream-prefix"]
        }
      },
      def.max_running == null ? {} : { maxRunning = def.max_running },
      def.queue_timeout_seconds == null ? {} : { queueTimeoutSeconds = def.queue_timeout_seconds },
      def.timeout_seconds == null ? {} : { timeoutSeconds = def.timeout_seconds },
      def.retry == null ? {} : { retry = local.job_retry_policies[key] },
    )
  }
  job_retry_policies = {
    for key, def in var.job_definitions : key => merge(
      def.retry.attempts == null ? {} : { attempts = def.retry.attempts },
      def.retry.interval_seconds == null ? {} : { intervalSeconds = def.retry.interval_seconds },
      def.retry.backoff_rate == null ? {} : { backoffRate = def.retry.backoff_rate },
      def.retry.max_delay_seconds == null ? {} : { maxDelaySeconds = def.retry.max_delay_seconds },
      def.retry.jitter == null ? {} : { jitter = def.retry.jitter },
      length(def.retry.rules) == 0 ? {} : {
        rules = [
          for rule in def.retry.rules : merge(
            rule.on_exit_code == null ? {} : { onExitCode = rule.on_exit_code },
            rule.on_stop_code == null ? {} : { onStopCode = rule.on_stop_code },
            rule.on_reason == null ? {} : { onReason = rule.on_reason },
            { action = rule.action },
          )
        ]
      },
    ) if def.retry != null
  }
  job_definitions_json = jsonencode(local.job_definition_entries)

  # The awslogs options of each job definition's container: its logs go to the jobs' log
  # group, in streams named <definition name>/<container>/<task id>.
  job_log_options = {
    for key, def in var.job_definitions : key => {
      awslogs-group         = aws_cloudwatch_log_group.jobs.name
      awslogs-region        = var.region
      awslogs-stream-prefix = key
    }
  }

  security_group_ids = length(var.security_group_ids) > 0 ? var.security_group_ids : [aws_security_group.jobs[0].id]

  # Images in this account's (or any account's) private ECR: the execution role may pull
  # exactly these repositories. Images from other registries need no AWS permission.
  ecr_image_pattern = "^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)"
  ecr_repository_arns = distinct([
    for def in values(var.job_definitions) : format(
      "arn:%s:ecr:%s:%s:repository/%s",
      local.partition,
      regex(local.ecr_image_pattern, def.image)[1],
      regex(local.ecr_image_pattern, def.image)[0],
      regex(local.ecr_image_pattern, def.image)[2],
    ) if can(regex(local.ecr_image_pattern, def.image))
  ])
}

resource "aws_ecs_cluster" "jobs" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.ecs_container_insights ? "enabled" : "disabled"
  }

  # CreateCluster creates the service-linked role itself when the caller may: when this
  # deployment creates it (iam.tf), it must exist first, or the two creations race.
  depends_on = [aws_iam_service_linked_role.ecs]
}

resource "aws_cloudwatch_log_group" "jobs" {
  #checkov:skip=CKV_AWS_158:Encrypted at rest by CloudWatch Logs with its service key; a customer managed key would need a key policy for the logs service, which this module does not manage.
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ecs_task_definition" "job" {
  for_each = var.job_definitions

  family                   = local.job_families[each.key]
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(each.value.cpu)
  memory                   = tostring(each.value.memory)
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = coalesce(each.value.task_role_arn, aws_iam_role.job_task.arn)

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = each.value.cpu_architecture
  }

  # Fargate task storage, mounted at /tmp so that a read-only root filesystem still has
  # somewhere to write.
  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([
    merge(
      {
        name      = each.value.container
        image     = each.value.image
        essential = true
        # The task size is the container's hard limit too (the container is alone).
        memory                 = each.value.memory
        readonlyRootFilesystem = each.value.readonly_root_filesystem
        environment = [
          for k in sort(keys(each.value.environment)) : { name = k, value = each.value.environment[k] }
        ]
        mountPoints = [{ sourceVolume = "scratch", containerPath = "/tmp", readOnly = false }]
        logConfiguration = {
          logDriver = "awslogs"
          options   = local.job_log_options[each.key]
        }
      },
      each.value.command == null ? {} : { command = each.value.command },
    )
  ])

  lifecycle {
    # Any change registers a new revision. Destroy-first would deregister the old one
    # first, leaving the family without an ACTIVE revision (RunTask fails for every job
    # submitted meanwhile); the new revision is registered first, then the old one goes.
    create_before_destroy = true
  }
}

# The subnets and the given security groups, read to check at plan time, rather than at
# the first job's RunTask, that they are all in one VPC: the VPC of the first subnet.
data "aws_subnet" "first" {
  id = var.subnet_ids[0]
}

locals {
  vpc_id = data.aws_subnet.first.vpc_id
}

data "aws_subnet" "job" {
  for_each = toset(var.subnet_ids)
  id       = each.key

  lifecycle {
    postcondition {
      condition     = self.vpc_id == local.vpc_id
      error_message = "subnet_ids: ${self.id} is in ${self.vpc_id}, but ${var.subnet_ids[0]} is in ${local.vpc_id}; the subnets of a task must all be in one VPC."
    }
  }
}

data "aws_security_group" "given" {
  for_each = toset(var.security_group_ids)
  id       = each.key

  lifecycle {
    postcondition {
      condition     = self.vpc_id == local.vpc_id
      error_message = "security_group_ids: ${self.id} is in ${self.vpc_id}, but subnet_ids are in ${local.vpc_id}; the job tasks' security groups must be in the VPC of their subnets."
    }
  }
}

resource "aws_security_group" "jobs" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: create-job and job-reconciler pass it to every RunTask (ECS_SECURITY_GROUPS), which Terraform cannot see.
  count = length(var.security_group_ids) > 0 ? 0 : 1

  name        = "${var.name}-jobs"
  description = "Job tasks of ${var.name}: no inbound, outbound HTTPS only"
  vpc_id      = local.vpc_id

  egress {
    description = "HTTPS to image registries and AWS APIs"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["0.0.0.0/0"]
  }
}
