"""pygls language server, one module per feature."""
