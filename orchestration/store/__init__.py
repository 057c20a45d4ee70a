"""Run store pieces: journal, runs, coverage ledger, atomic files, following run logs."""
