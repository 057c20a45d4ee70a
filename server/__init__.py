"""Language server and CLI front ends: the only layer that knows LSP."""
