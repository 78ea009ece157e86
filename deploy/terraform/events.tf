# Deploy events (config.toml [events]): EventBridge rules send Lambda alias
# changes (CloudTrail UpdateAlias/CreateAlias) and CodeDeploy deployment
# state changes to an SQS queue that canaryd long-polls, with a dead-letter
# queue for messages it cannot read. Set events_enabled and put the
# events_queue_url output in config.toml's [events] queue_url. For functions
# in other accounts, point their accounts' forwarding rules at
# events_bus_name here (events_source_account_ids may put events on it):
# see the README's "Deploy events".

locals {
  events_count    = var.events_enabled ? 1 : 0
  events_bus_name = var.events_bus_name
}

resource "aws_sqs_queue" "events_dlq" {
  count                     = local.events_count
  name                      = "${var.name}-deploy-events-dlq"
  message_retention_seconds = 1209600 # 14 days: time to look at what canaryd could not read
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "events" {
  count                      = local.events_count
  name                       = "${var.name}-deploy-events"
  visibility_timeout_seconds = var.events_visibility_timeout_seconds
  receive_wait_time_seconds  = 20
  message_retention_seconds  = 86400 # a day: older alias changes are the sweep's
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.events_dlq[0].arn
    maxReceiveCount     = var.events_max_receive_count
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "lambda_alias_changes" {
  count          = local.events_count
  name           = "${var.name}-lambda-alias-changes"
  description    = "Lambda CreateAlias/UpdateAlias calls (CloudTrail) for canaryd's deploy detection."
  event_bus_name = local.events_bus_name
  event_pattern = jsonencode({
    source        = ["aws.lambda"]
    "detail-type" = ["AWS API Call via CloudTrail"]
    detail = {
      eventSource = ["lambda.amazonaws.com"]
      eventName   = [{ prefix = "UpdateAlias" }, { prefix = "CreateAlias" }]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_rule" "codedeploy_deployments" {
  count          = local.events_count
  name           = "${var.name}-codedeploy-deployments"
  description    = "CodeDeploy deployment state changes for canaryd's deploy detection."
  event_bus_name = local.events_bus_name
  event_pattern = jsonencode({
    source        = ["aws.codedeploy"]
    "detail-type" = ["CodeDeploy Deployment State-change Notification"]
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "lambda_alias_changes" {
  count          = local.events_count
  rule           = aws_cloudwatch_event_rule.lambda_alias_changes[0].name
  event_bus_name = local.events_bus_name
  arn            = aws_sqs_queue.events[0].arn
}

resource "aws_cloudwatch_event_target" "codedeploy_deployments" {
  count          = local.events_count
  rule           = aws_cloudwatch_event_rule.codedeploy_deployments[0].name
  event_bus_name = local.events_bus_name
  arn            = aws_sqs_queue.events[0].arn
}

data "aws_iam_policy_document" "events_queue" {
  count = local.events_count
  statement {
    sid       = "EventBridgeDelivers"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.lambda_alias_changes[0].arn, aws_cloudwatch_event_rule.codedeploy_deployments[0].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  count     = local.events_count
  queue_url = aws_sqs_queue.events[0].id
  policy    = data.aws_iam_policy_document.events_queue[0].json
}

# Other accounts' rules forward their alias changes to this bus.
data "aws_iam_policy_document" "events_bus" {
  count = var.events_enabled && length(var.events_source_account_ids) > 0 ? 1 : 0
  statement {
    sid       = "OtherAccountsForwardDeployEvents"
    actions   = ["events:PutEvents"]
    resources = ["arn:${data.aws_partition.current.partition}:events:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:event-bus/${local.events_bus_name}"]
    principals {
      type        = "AWS"
      identifiers = var.events_source_account_ids
    }
  }
}

resource "aws_cloudwatch_event_bus_policy" "events" {
  count          = var.events_enabled && length(var.events_source_account_ids) > 0 ? 1 : 0
  event_bus_name = local.events_bus_name
  policy         = data.aws_iam_policy_document.events_bus[0].json
}
