locals {
  use_jwt = var.jwt_issuer != null

  # Each route gets its integration, authorization and invoke permission from the
  # resources below, so a new route cannot be less protected than the others.
  # The operations of openapi.yaml, exactly (scripts/terraform-contract.py checks it).
  routes = {
    "POST /jobs"          = "create-job"
    "GET /jobs"           = "job-api"
    "GET /jobs/{id}"      = "job-api"
    "DELETE /jobs/{id}"   = "job-api"
    "GET /jobs/{id}/logs" = "job-api"
  }
}

resource "aws_apigatewayv2_api" "jobs" {
  name          = var.name
  description   = "Job tracker REST API"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  count = local.use_jwt ? 1 : 0

  api_id           = aws_apigatewayv2_api.jobs.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_integration" "function" {
  for_each = toset(values(local.routes))

  api_id                 = aws_apigatewayv2_api.jobs.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.this[each.key].invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "this" {
  for_each = local.routes

  api_id    = aws_apigatewayv2_api.jobs.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.function[each.value].id}"

  # Every route is authenticated: the caller's identity is the job owner.
  authorization_type = local.use_jwt ? "JWT" : "AWS_IAM"
  authorizer_id      = local.use_jwt ? aws_apigatewayv2_authorizer.jwt[0].id : null
}

# API Gateway delivers access logs as "vended logs". Setting up delivery into a log group
# writes that group into a CloudWatch Logs resource policy of the account (one per region,
# capped at 5,120 characters) unless a wildcard there already covers it. AWS's documented
# way around the cap is the /aws/vendedlogs/ prefix: when the policy nears it, CloudWatch
# Logs puts /aws/vendedlogs/* in it, which covers every group under the prefix. Hence this
# name: the access logs of any number of deployments do not grow that policy.
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-CWL.html
resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:Encrypted at rest by CloudWatch Logs with its service key; a customer managed key would need a key policy for the logs service, which this module does not manage.
  name              = "/aws/vendedlogs/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.jobs.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit = var.api_throttling_burst_limit
    throttling_rate_limit  = var.api_throttling_rate_limit
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userArn            = "$context.identity.userArn"
      jwtSub             = "$context.authorizer.claims.sub"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
    })
  }
}

# API Gateway may invoke each function for its own routes only, one permission per route.
# The stage is "*" (this API has one stage) and the job id of /jobs/{id} is matched by
# "*", since the source ARN carries the request path.
resource "aws_lambda_permission" "api" {
  for_each = local.routes

  statement_id  = "api-${lower(replace(replace(each.key, "/[^A-Za-z0-9]+/", "-"), "/-+$/", ""))}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.value].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn = format("%s/*/%s%s", aws_apigatewayv2_api.jobs.execution_arn,
    split(" ", each.key)[0],
  replace(split(" ", each.key)[1], "/\\{[^}]+\\}/", "*"))
}
