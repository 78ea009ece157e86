# canaryd's shared store: an ElastiCache Redis replication group — Multi-AZ
# with a replica, encrypted in transit and at rest, AUTH token, daily
# snapshots. Replicas of canaryd share targets through leases in it.

resource "aws_elasticache_subnet_group" "store" {
  count      = var.create_redis ? 1 : 0
  name       = "${var.name}-store"
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_security_group" "store" {
  count       = var.create_redis ? 1 : 0
  name        = "${var.name}-store"
  description = "canaryd Redis store: reachable from the canaryd tasks only"
  vpc_id      = var.vpc_id
  tags        = var.tags

  ingress {
    description     = "Redis from canaryd"
    from_port       = 6379
    to_port         = 6379
    protocol        = "tcp"
    security_groups = [aws_security_group.task.id]
  }
}

resource "aws_elasticache_replication_group" "store" {
  count = var.create_redis ? 1 : 0

  replication_group_id       = "${var.name}-store"
  description                = "canaryd state: watches, journals, incidents, alert outbox, leases"
  engine                     = "redis"
  engine_version             = "7.1"
  node_type                  = var.redis_node_type
  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true
  port                       = 6379
  subnet_group_name          = aws_elasticache_subnet_group.store[0].name
  security_group_ids         = [aws_security_group.store[0].id]
  at_rest_encryption_enabled = true
  transit_encryption_enabled = true
  auth_token                 = var.redis_auth_token
  snapshot_retention_limit   = 7
  apply_immediately          = false
  tags                       = var.tags

  lifecycle {
    precondition {
      condition     = var.redis_auth_token != null && var.redis_auth_token_secret_arn != null
      error_message = "create_redis needs redis_auth_token and redis_auth_token_secret_arn (the same token, for ElastiCache and for the task)."
    }
  }
}
