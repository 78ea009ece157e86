output "service_name" {
  description = "The ECS service."
  value       = aws_ecs_service.this.name
}

output "task_role_arn" {
  description = "The role canaryd runs as: trust it from other accounts' roles (assume_role_arns)."
  value       = aws_iam_role.task.arn
}

output "task_security_group_id" {
  description = "Security group of the tasks: allow it into health endpoints and Redis caches canaryd clears."
  value       = aws_security_group.task.id
}

output "log_group_name" {
  description = "CloudWatch Logs group of the tasks."
  value       = aws_cloudwatch_log_group.this.name
}

output "redis_addrs" {
  description = "The Redis store canaryd uses."
  value       = local.redis_addrs
}
