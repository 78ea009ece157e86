# Copy this directory, fill in the names, `terraform init && terraform apply`.

provider "aws" {
  region = "us-east-1"
}

data "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id = "canaryd/redis-auth-token"
}

module "canaryd" {
  source = "../.."

  image      = "123456789012.dkr.ecr.us-east-1.amazonaws.com/canaryd@sha256:0000000000000000000000000000000000000000000000000000000000000000"
  vpc_id     = "vpc-0123456789abcdef0"
  subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

  config_ssm_parameter = "/canaryd/config"
  config_toml          = file("${path.module}/config.toml")

  secrets = {
    CANARYD_ADMIN_TOKEN   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:canaryd/admin-token"
    PAGERDUTY_ROUTING_KEY = "arn:aws:secretsmanager:us-east-1:123456789012:secret:canaryd/pagerduty"
  }

  protected_function_arns      = ["arn:aws:lambda:us-east-1:123456789012:function:checkout-api"]
  cloudfront_distribution_arns = ["arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE12345"]
  sns_topic_arns               = ["arn:aws:sns:us-east-1:123456789012:deploys"]

  # Deploy events: the queue config.toml's [events] reads (output events_queue_url).
  events_enabled = true

  redis_auth_token_secret_arn = data.aws_secretsmanager_secret_version.redis_auth.arn
  redis_auth_token            = data.aws_secretsmanager_secret_version.redis_auth.secret_string

  admin_cidr_blocks = ["10.0.0.0/8"]
}

output "task_role_arn" {
  value = module.canaryd.task_role_arn
}
