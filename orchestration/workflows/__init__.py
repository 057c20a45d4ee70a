"""Bundled workflow scripts (loaded as text and run in the sandbox, never imported)."""
