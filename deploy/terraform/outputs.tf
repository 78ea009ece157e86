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

output "events_queue_url" {
  description = "The deploy event queue (events_enabled): config.toml's [events] queue_url."
  value       = var.events_enabled ? aws_sqs_queue.events[0].url : null
}

output "events_dead_letter_queue_url" {
  description = "Where deploy events canaryd could not read end up."
  value       = var.events_enabled ? aws_sqs_queue.events_dlq[0].url : null
}
