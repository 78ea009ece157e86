# config.toml as an SSM parameter, when the caller hands the module its
# content. canaryd reads it with ssm:GetParameter at start and on SIGHUP;
# a new deployment of the service (or ecs update-service
# --force-new-deployment) picks up a change.

resource "aws_ssm_parameter" "config" {
  count = var.config_toml != null && var.config_ssm_parameter != null ? 1 : 0

  name        = var.config_ssm_parameter
  description = "canaryd config.toml"
  type        = "String" # secrets are *_env references, never in the file
  tier        = length(var.config_toml) > 4096 ? "Advanced" : "Standard"
  value       = var.config_toml
  tags        = var.tags
}
