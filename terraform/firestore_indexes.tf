# The Firestore database and its composite indexes: every query in shared/ that filters or orders
# on more than one field (tests/platform/test_firestore_indexes.py checks the code against this file).

# Protected from deletion twice: the API refuses to delete it, and a `terraform destroy` only
# forgets it (ABANDON). An existing database is adopted with
#   terraform import google_firestore_database.default "projects/<project>/databases/(default)"
resource "google_firestore_database" "default" {
  project                           = var.project_id
  name                              = "(default)"
  location_id                       = coalesce(var.firestore_location, var.region)
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "OPTIMISTIC"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"

  depends_on = [google_project_service.api]
}

# shared/catalog/store.py stale_active_models (the drift check's "active models not seen in N days")
resource "google_firestore_index" "models_active_last_seen_at" {
  project    = var.project_id
  database   = google_firestore_database.default.name
  collection = "models"

  fields {
    field_path = "active"
    order      = "ASCENDING"
  }
  fields {
    field_path = "last_seen_at"
    order      = "ASCENDING"
  }
}
