"""Verification helpers: dedup of candidates by place and category family (and, after issue 11, vote, findings, edits)."""
