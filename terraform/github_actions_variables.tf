# Variables of github_actions.tf: the GitHub repository whose weekly-improvement workflow may start
# a weekly cycle through Workload Identity Federation.

variable "github_repository" {
  type        = string
  description = "owner/name of the GitHub repository whose workflow publishes the weekly-cycle trigger (the OIDC token's repository claim)."

  validation {
    condition     = can(regex("^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository is owner/name, e.g. my-org/weekly-improvement."
  }
}

variable "github_repository_id" {
  type        = string
  description = "The repository's numeric id (gh api repos/OWNER/NAME --jq .id). When set, the identity pool also checks it: a deleted and re-created repository of the same name is not accepted."
  default     = null
}

variable "github_ref" {
  type        = string
  description = "The only git ref whose runs may authenticate: the default branch (schedules run there; a dispatched run must choose it)."
  default     = "refs/heads/main"
}

variable "github_weekly_workflow" {
  type        = string
  description = "Path of the workflow that may authenticate (the OIDC token's workflow_ref names it)."
  default     = ".github/workflows/weekly-improvement.yml"
}

variable "github_pool_id" {
  type        = string
  description = "Workload identity pool id (a deleted pool's id stays taken for 30 days)."
  default     = "github-actions"
}

variable "github_provider_id" {
  type        = string
  description = "Workload identity pool provider id (GitHub's OIDC issuer)."
  default     = "github"
}
