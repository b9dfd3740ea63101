# Plans of the whole module with a mocked AWS provider: offline, nothing is created.
# scripts/terraform-check runs them with the values of terraform.tfvars.example
# (terraform test -var-file=terraform.tfvars.example); each run changes what it tests.
# The runs named refused_* must fail on exactly the check they name (expect_failures):
# the preconditions and postconditions that stop a plan before AWS would stop the apply
# half-way. Variable validations are exercised by scripts/terraform-check itself.

mock_provider "aws" {
  # Computed values below are known at plan time, as they would be on a second apply.
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_data "aws_subnet" {
    defaults = { vpc_id = "vpc-0example" }
  }
  mock_data "aws_security_group" {
    defaults = { vpc_id = "vpc-0example" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/job-tracker" }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0a1b2c3d4e5f60718" }
  }
}

variables {
  # Empty zip files: filebase64sha256() needs a file, the mocked Lambda API nothing more.
  lambda_build_dir = "tests/fixtures/lambda"
}

run "example" {
  command = plan

  assert {
    # DESIGN.md section 5: the shape create-job reads.
    condition     = aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS == "{\"backup\":{\"container\":\"app\",\"parameters\":[\"SOURCE\"],\"taskDefinition\":\"job-tracker-backup\"},\"report\":{\"container\":\"app\",\"parameters\":[\"REPORT_DATE\"],\"taskDefinition\":\"job-tracker-report\"}}"
    error_message = "JOB_DEFINITIONS of the example: ${aws_lambda_function.this["create-job"].environment[0].variables.JOB_DEFINITIONS}"
  }
  assert {
    # The size Lambda measures: len(json.dumps(environment, separators=(",", ":"))) in
    # Python is 486 for this environment; the names and values alone are 421.
    condition     = local.environment_bytes["create-job"] == 486
    error_message = "create-job environment measured as ${local.environment_bytes["create-job"]} bytes, expected 486."
  }
  assert {
    condition     = length(aws_iam_service_linked_role.ecs) == 0
    error_message = "The ECS service-linked role is opt-in."
  }
  assert {
    # IAM names are account-wide: the region keeps two regions of one account apart.
    condition = alltrue([
      for name in concat([for r in aws_iam_role.function : r.name], [aws_iam_role.task_execution.name, aws_iam_role.job_task.name]) :
      startswith(name, "job-tracker-eu-west-1-") && length(name) <= 64
    ])
    error_message = "IAM role names must start with <name>-<region>-."
  }
  assert {
    condition     = startswith(aws_cloudwatch_log_group.api_access.name, "/aws/vendedlogs/")
    error_message = "The API access log group must be under /aws/vendedlogs/ (api.tf)."
  }
}

run "other_region_other_role_names" {
  command = plan

  variables {
    region = "us-east-1"
  }

  assert {
    condition     = aws_iam_role.function["create-job"].name == "job-tracker-us-east-1-create-job" && aws_iam_role.task_execution.name == "job-tracker-us-east-1-task-execution"
    error_message = "Role names in us-east-1: ${aws_iam_role.function["create-job"].name}, ${aws_iam_role.task_execution.name}"
  }
}

run "service_linked_role_opt_in" {
  command = plan

  variables {
    create_ecs_service_linked_role = true
  }

  assert {
    condition     = aws_iam_service_linked_role.ecs[0].aws_service_name == "ecs.amazonaws.com"
    error_message = "create_ecs_service_linked_role = true must create AWSServiceRoleForECS."
  }
}

run "environment_just_under_4kb" {
  command = plan

  # 390 one-letter-and-digits parameters: 4086 bytes as Lambda measures the environment.
  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, parameters = ["REPORT_DATE"] }
      backup = { image = "busybox", cpu = 512, memory = 1024, parameters = ["SOURCE"] }
      bulk   = { image = "busybox", cpu = 256, memory = 512, parameters = [for i in range(390) : format("P%03d", i)] }
    }
  }

  assert {
    condition     = local.environment_bytes["create-job"] == 4086
    error_message = "create-job environment measured as ${local.environment_bytes["create-job"]} bytes, expected 4086."
  }
}

run "refused_environment_over_4kb_as_lambda_measures_it" {
  command = plan

  # 500 parameters: names and values add up to 3999 bytes, which the old check let
  # through, but the JSON Lambda measures is 5076 bytes.
  variables {
    job_definitions = {
      report = { image = "busybox", cpu = 256, memory = 512, parameters = ["REPORT_DATE"] }
      backup = { image = "busybox", cpu = 512, memory = 1024, parameters = ["SOURCE"] }
      bulk   = { image = "busybox", cpu = 256, memory = 512, parameters = [for i in range(500) : format("P%03d", i)] }
    }
  }

  expect_failures = [aws_lambda_function.this]
}

run "refused_security_group_in_another_vpc" {
  command = plan

  variables {
    security_group_ids = ["sg-0elsewhere"]
  }

  override_data {
    target = data.aws_security_group.given["sg-0elsewhere"]
    values = { vpc_id = "vpc-0other" }
  }

  expect_failures = [data.aws_security_group.given]
}

run "refused_subnets_in_two_vpcs" {
  command = plan

  override_data {
    target = data.aws_subnet.job["subnet-0fedcba9876543210"]
    values = { vpc_id = "vpc-0other" }
  }

  expect_failures = [data.aws_subnet.job]
}
