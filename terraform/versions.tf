terraform {
  # 1.9 is the first release whose variable validations may refer to other variables and
  # locals (jwt_issuer/jwt_audience, name/region, dynamodb_kms_key_arn/region,
  # job_definitions/local.fargate_memory_by_cpu). That security_group_ids and subnet_ids
  # are in one VPC needs the AWS API: it is a postcondition of their data sources (ecs.tf).
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, { Service = var.name })
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}
