# canaryd on ECS Fargate: one service of desired_count tasks sharing a Redis
# store, its config read from S3 or SSM at start and on SIGHUP, secrets
# injected by ECS from Secrets Manager or SSM, logs in CloudWatch Logs, and a
# container health check through `canaryd healthcheck` (the image has no
# shell).

locals {
  secretsmanager_arns = [for arn in values(var.secrets) : arn if startswith(arn, "arn:${data.aws_partition.current.partition}:secretsmanager:")]
  ssm_secret_arns     = [for arn in values(var.secrets) : arn if startswith(arn, "arn:${data.aws_partition.current.partition}:ssm:")]

  config_ssm_parameter_arn = var.config_ssm_parameter == null ? null : "arn:${data.aws_partition.current.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter/${trimprefix(var.config_ssm_parameter, "/")}"
  config_source            = var.config_s3_uri != null ? var.config_s3_uri : "ssm:${var.config_ssm_parameter}"

  redis_addrs = var.create_redis ? ["${aws_elasticache_replication_group.store[0].primary_endpoint_address}:6379"] : var.redis_addrs

  environment = merge(
    {
      CANARYD_LISTEN = "0.0.0.0:${var.admin_port}"
      AWS_REGION     = data.aws_region.current.name
    },
    length(local.redis_addrs) > 0 ? {
      CANARYD_REDIS_ADDRS = join(",", local.redis_addrs)
      CANARYD_REDIS_TLS   = var.create_redis ? "true" : "false"
    } : {},
    var.environment,
  )

  secrets = merge(
    var.secrets,
    var.redis_auth_token_secret_arn == null ? {} : { CANARYD_REDIS_PASSWORD = var.redis_auth_token_secret_arn },
  )

  container = {
    name                   = "canaryd"
    image                  = var.image
    essential              = true
    command                = ["run", "--config", local.config_source, "--log-format", "json"]
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    stopTimeout            = 30 # daemon.shutdown_timeout (20s) plus margin
    portMappings           = [{ containerPort = var.admin_port, protocol = "tcp" }]
    environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets                = [for k in sort(keys(local.secrets)) : { name = k, valueFrom = local.secrets[k] }]
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/canaryd", "healthcheck"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "canaryd"
      }
    }
  }
}

resource "aws_ecs_cluster" "this" {
  count = var.cluster_arn == null ? 1 : 0
  name  = var.name
  tags  = var.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "this" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_security_group" "task" {
  name        = "${var.name}-task"
  description = "canaryd tasks: admin API in, AWS APIs, probes, Redis and notifiers out"
  vpc_id      = var.vpc_id
  tags        = var.tags

  egress {
    description = "AWS APIs, health probes, notifiers, Redis"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  dynamic "ingress" {
    for_each = length(var.admin_cidr_blocks) > 0 ? [1] : []
    content {
      description = "admin API, /metrics, /healthz"
      from_port   = var.admin_port
      to_port     = var.admin_port
      protocol    = "tcp"
      cidr_blocks = var.admin_cidr_blocks
    }
  }
}

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  task_role_arn            = aws_iam_role.task.arn
  execution_role_arn       = aws_iam_role.execution.arn
  container_definitions    = jsonencode([local.container])
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  lifecycle {
    precondition {
      condition     = (var.config_s3_uri == null) != (var.config_ssm_parameter == null)
      error_message = "Set exactly one of config_s3_uri and config_ssm_parameter."
    }
    precondition {
      condition     = var.desired_count <= 1 || length(local.redis_addrs) > 0
      error_message = "More than one replica needs the Redis store: set create_redis or redis_addrs."
    }
  }
}

resource "aws_ecs_service" "this" {
  name                               = var.name
  cluster                            = var.cluster_arn == null ? aws_ecs_cluster.this[0].arn : var.cluster_arn
  task_definition                    = aws_ecs_task_definition.this.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  enable_execute_command             = false
  propagate_tags                     = "SERVICE"
  tags                               = var.tags

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = var.assign_public_ip
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
}
