"""The CRM door: JSON API v1, bearer tokens scoped to one organisation."""
