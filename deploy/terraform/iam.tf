# The task role: what canaryd itself may do. Least privilege — every action
# here is one canaryd's code calls (deploy/awscalls_test.go checks this file,
# the README's policy and the code agree).

locals {
  lambda_resources       = flatten([for arn in var.protected_function_arns : [arn, "${arn}:*"]])
  traffic_hook_resources = flatten([for arn in var.traffic_hook_function_arns : [arn, "${arn}:*"]])

  config_s3_bucket = var.config_s3_uri == null ? null : split("/", trimprefix(var.config_s3_uri, "s3://"))[0]
  config_s3_key    = var.config_s3_uri == null ? null : join("/", slice(split("/", trimprefix(var.config_s3_uri, "s3://")), 1, length(split("/", trimprefix(var.config_s3_uri, "s3://")))))
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "task_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.current.partition}:ecs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:*"]
    }
  }
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "ReadAndRevertAliases"
    actions = [
      "lambda:GetAlias",
      "lambda:UpdateAlias",
      "lambda:ListVersionsByFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionConcurrency", # the throttles rule's capacity (watcher/concurrency.go)
    ]
    resources = local.lambda_resources
  }

  statement {
    sid       = "ReadMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"] # GetMetricData has no resource-level permissions
  }

  statement {
    sid       = "ReadAccountConcurrency"
    actions   = ["lambda:GetAccountSettings"] # the unreserved pool a function without reserved concurrency draws on
    resources = ["*"]                         # GetAccountSettings has no resource-level permissions
  }

  dynamic "statement" {
    for_each = length(var.cloudfront_distribution_arns) > 0 ? [1] : []
    content {
      sid       = "InvalidateCaches"
      actions   = ["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"]
      resources = var.cloudfront_distribution_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.codedeploy_deployment_group_arns) > 0 ? [1] : []
    content {
      sid       = "StopCodeDeploy"
      actions   = ["codedeploy:ListDeployments", "codedeploy:GetDeployment", "codedeploy:StopDeployment"]
      resources = var.codedeploy_deployment_group_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.traffic_hook_function_arns) > 0 ? [1] : []
    content {
      sid       = "InvokeLambdaTrafficHooks" # only for [target.rollout.*_traffic.lambda] hooks
      actions   = ["lambda:InvokeFunction"]
      resources = local.traffic_hook_resources
    }
  }

  dynamic "statement" {
    for_each = var.events_enabled ? [1] : []
    content {
      sid = "ReadDeployEvents" # config.toml [events]: DeleteMessageBatch is authorised as sqs:DeleteMessage
      actions = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
      ]
      resources = [aws_sqs_queue.events[0].arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.sns_topic_arns) > 0 ? [1] : []
    content {
      sid       = "PageOnCall"
      actions   = ["sns:Publish"]
      resources = var.sns_topic_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.assume_role_arns) > 0 ? [1] : []
    content {
      sid       = "OtherAccounts"
      actions   = ["sts:AssumeRole"]
      resources = var.assume_role_arns
    }
  }

  dynamic "statement" {
    for_each = var.config_s3_uri == null ? [] : [1]
    content {
      sid       = "ReadConfigObject"
      actions   = ["s3:GetObject"]
      resources = ["arn:${data.aws_partition.current.partition}:s3:::${local.config_s3_bucket}/${local.config_s3_key}"]
    }
  }

  dynamic "statement" {
    for_each = var.config_ssm_parameter == null ? [] : [1]
    content {
      sid       = "ReadConfigParameter"
      actions   = ["ssm:GetParameter"]
      resources = [local.config_ssm_parameter_arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptConfig"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
    }
  }
}

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task" {
  name   = "${var.name}-rollback"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# The execution role: what ECS needs to start the task — pull the image,
# write logs, read the secrets into the environment. canaryd never holds it.

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "PullAndLog"
    actions = [
      "ecr:GetAuthorizationToken",
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.secretsmanager_arns) > 0 ? [1] : []
    content {
      sid       = "ReadSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secretsmanager_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.ssm_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadSecretParameters"
      actions   = ["ssm:GetParameters"]
      resources = local.ssm_secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name}-execution"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "${var.name}-start"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}
