"""Durable state shared by processes: call leases (and, after issue 11, the journal, runs, coverage, atomic files)."""
