"""Governance: the admin policy, the spend ledger across runs, the audit record of a run."""
