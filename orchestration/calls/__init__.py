"""Everything about making calls: pacing by rate limits (and, after issue 11, the scheduler, budget and capacity)."""
