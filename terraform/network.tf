# The way out for functions that call an internal-ingress function (code_runner): Cloud Run
# counts a call from another function as internal only when it leaves through a VPC network.
# Each caller (an internal HTTP function's invoked_by in the manifest: benchmark) gets a Serverless
# VPC Access connector with all-traffic egress; the subnet has Private Google Access (the
# run.app URL and Google APIs) and Cloud NAT takes everything else (OpenRouter) out.
# No caller, no network: every resource here has count 0.

locals {
  internal_callers = toset(flatten([
    for name, f in local.http_functions : [
      for caller in f.invoked_by : caller if contains(keys(local.pipeline_functions), caller)
    ] if f.ingress == "internal"
  ]))
  egress = length(local.internal_callers) > 0 ? 1 : 0
}

resource "google_compute_network" "egress" {
  count                   = local.egress
  name                    = "pipeline-egress"
  auto_create_subnetworks = false

  depends_on = [google_project_service.api]
}

# Nothing may connect in: the connector only carries the functions' outbound calls
resource "google_compute_firewall" "egress_deny_ingress" {
  count     = local.egress
  name      = "pipeline-egress-deny-ingress"
  network   = google_compute_network.egress[0].name
  direction = "INGRESS"
  priority  = 1000

  deny {
    protocol = "all"
  }
  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

resource "google_compute_subnetwork" "egress" {
  count                    = local.egress
  name                     = "pipeline-egress"
  region                   = var.region
  network                  = google_compute_network.egress[0].id
  ip_cidr_range            = var.egress_subnet_cidr
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

resource "google_vpc_access_connector" "egress" {
  count         = local.egress
  name          = "pipeline-egress"
  region        = var.region
  machine_type  = "e2-micro"
  min_instances = 2
  max_instances = 3

  subnet {
    name = google_compute_subnetwork.egress[0].name
  }
}

resource "google_compute_router" "egress" {
  count   = local.egress
  name    = "pipeline-egress"
  region  = var.region
  network = google_compute_network.egress[0].id
}

resource "google_compute_router_nat" "egress" {
  count                              = local.egress
  name                               = "pipeline-egress"
  region                             = var.region
  router                             = google_compute_router.egress[0].name
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}
