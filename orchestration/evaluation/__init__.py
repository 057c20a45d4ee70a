"""refute eval: score a workflow (or any tool's SARIF) on a corpus with known truth."""
