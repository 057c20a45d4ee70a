"""Reporting: per-workflow report sections (the migration report)."""
