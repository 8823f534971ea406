"""Scale-out storage: several collectors into one DuckLake (catalog in PostgreSQL)."""
