"""Per-call mechanics: prompt-cache layout rules and capacity (and, after issue 11, scheduler, budget)."""
