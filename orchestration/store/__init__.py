"""What lasts on disk beside a run: call leases shared across processes, the migration guide (the journal and run store move here with issue 11)."""
