"""Tree-sitter analysis: discovery, languages, work units, anchoring. No agents, no LSP."""
