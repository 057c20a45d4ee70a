"""Store: files kept with a run (the migration guide)."""
