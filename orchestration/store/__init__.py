"""Run state on disk: the coverage ledger (and, after issue 11, journal, runs, atomic files)."""
