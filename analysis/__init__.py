"""Tree-sitter analysis: discovery, languages, work units, anchoring. No agents, no LSP.

Modules (one concern each):
- discover.py   which files of a workspace to analyse; every other file gets a reason.
- languages.py  detection by extension/shebang, grammars, and the per-language tables
                (definition node types, names, imports, comments) the others read.
- definitions.py  reading one definition node (name, kind, signature) from those tables.
- units.py      split_text: lossless, bounded, syntax-aware work units with stable ids.
- plan.py       plan_workspace: discovery + units, cached by content hash.
- symbols.py    list_symbols: a file's definitions (for agent tools and outlines).
- anchor.py     anchor_quote: where a quoted snippet sits in the current text.
- tokens.py     estimate_tokens: the fast token heuristic every budget here uses.
"""
