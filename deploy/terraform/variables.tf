variable "name" {
  description = "Name of the service, its task family, roles, log group and Redis."
  type        = string
  default     = "canaryd"
}

variable "image" {
  description = "canaryd image, pinned by digest (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/canaryd@sha256:...)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster to run in; null creates one named var.name."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC of the task, and of the Redis store when the module creates it."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the task (and Redis). They need a route to the AWS APIs: a NAT gateway or VPC endpoints (lambda, monitoring, cloudfront, sns, sts, s3/ssm, logs, ecr)."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "Give the task a public IP (only for public subnets without NAT)."
  type        = bool
  default     = false
}

variable "desired_count" {
  description = "Replicas. More than one needs the Redis store (create_redis or redis_addrs): replicas share targets through leases."
  type        = number
  default     = 2
}

variable "cpu" {
  description = "Task CPU units (256 = 1/4 vCPU: about 1,000 targets, see the README's performance section)."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory in MiB."
  type        = number
  default     = 512
}

variable "admin_port" {
  description = "Port of the admin API, /healthz, /readyz and /metrics."
  type        = number
  default     = 8080
}

variable "admin_cidr_blocks" {
  description = "Networks allowed to reach the admin port (Prometheus, operators' canaryd CLI, pipelines announcing deploys)."
  type        = list(string)
  default     = []
}

variable "config_s3_uri" {
  description = "config.toml as an S3 object, s3://bucket/key (reloaded on SIGHUP, i.e. on the next deployment of the service). One of config_s3_uri and config_ssm_parameter."
  type        = string
  default     = null

  validation {
    condition     = var.config_s3_uri == null || can(regex("^s3://[^/]+/.+", var.config_s3_uri))
    error_message = "config_s3_uri must look like s3://bucket/key."
  }
}

variable "config_ssm_parameter" {
  description = "config.toml as an SSM parameter name (e.g. /canaryd/config). With config_toml set, the module creates it."
  type        = string
  default     = null
}

variable "config_toml" {
  description = "Content of config.toml, written by the module to config_ssm_parameter (at most 8 KB, the Advanced tier's limit; use config_s3_uri beyond)."
  type        = string
  default     = null
}

variable "secrets" {
  description = "Environment variables the task reads its secrets from, by name, each a Secrets Manager secret ARN or an SSM parameter ARN (e.g. { CANARYD_ADMIN_TOKEN = \"arn:aws:secretsmanager:...\" }). config.toml names them with *_env keys."
  type        = map(string)
  default     = {}
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt the secrets, the SSM config parameter or the S3 config object (none for AWS-managed keys)."
  type        = list(string)
  default     = []
}

variable "environment" {
  description = "Extra plain environment variables for the container."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention of the task's logs."
  type        = number
  default     = 30
}

variable "protected_function_arns" {
  description = "Lambda functions canaryd protects (unqualified ARNs): it reads and reverts their aliases."
  type        = list(string)
}

variable "cloudfront_distribution_arns" {
  description = "CloudFront distributions a rollback invalidates."
  type        = list(string)
  default     = []
}

variable "codedeploy_deployment_group_arns" {
  description = "CodeDeploy deployment groups ([target.codedeploy]) whose in-progress deployments a rollback stops: arn:aws:codedeploy:REGION:ACCOUNT:deploymentgroup:APP/GROUP."
  type        = list(string)
  default     = []
}

variable "traffic_hook_function_arns" {
  description = "Lambda functions of lambda traffic hooks ([target.rollout.pre_traffic.lambda] / post_traffic.lambda), unqualified ARNs: canaryd invokes them (lambda:InvokeFunction) during its own rollouts."
  type        = list(string)
  default     = []
}

variable "sns_topic_arns" {
  description = "SNS topics canaryd pages through."
  type        = list(string)
  default     = []
}

variable "assume_role_arns" {
  description = "Roles canaryd assumes for targets in other accounts (role_arn in config.toml)."
  type        = list(string)
  default     = []
}

variable "create_redis" {
  description = "Create an ElastiCache Redis replication group (Multi-AZ, encrypted, snapshots) as canaryd's store and point the task at it."
  type        = bool
  default     = true
}

variable "redis_addrs" {
  description = "An existing Redis store (host:port list) instead of create_redis."
  type        = list(string)
  default     = []
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_auth_token_secret_arn" {
  description = "Secrets Manager secret holding the Redis AUTH token (16-128 printable characters). Injected as CANARYD_REDIS_PASSWORD."
  type        = string
  default     = null
}

variable "redis_auth_token" {
  description = "The same AUTH token, for ElastiCache when create_redis (read it from the secret with a data source in the caller)."
  type        = string
  default     = null
  sensitive   = true
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}

variable "events_enabled" {
  description = "Create the deploy event queue, its dead-letter queue and the EventBridge rules feeding it (config.toml [events]), and let the task read the queue."
  type        = bool
  default     = false
}

variable "events_bus_name" {
  description = "The event bus the rules watch: \"default\" for this account's own functions, or a central bus other accounts forward to."
  type        = string
  default     = "default"
}

variable "events_source_account_ids" {
  description = "Accounts whose forwarding rules may put events on events_bus_name (functions canaryd protects in other accounts)."
  type        = list(string)
  default     = []
}

variable "events_visibility_timeout_seconds" {
  description = "How long a received deploy event stays invisible to other replicas while canaryd handles it."
  type        = number
  default     = 60
}

variable "events_max_receive_count" {
  description = "Receives after which an unreadable deploy event goes to the dead-letter queue."
  type        = number
  default     = 5
}
