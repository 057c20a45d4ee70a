"""The engine: workflow scripts, sandbox, scheduler, providers, journal, runs. No LSP."""
