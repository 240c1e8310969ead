# Composite Firestore indexes: every query in shared/ that filters or orders on more than one
# field (tests/platform/test_firestore_indexes.py checks the code against this file).

# shared/catalog/store.py stale_active_models (the drift check's "active models not seen in N days")
resource "google_firestore_index" "models_active_last_seen_at" {
  project    = var.project_id
  database   = "(default)"
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
