"""Verification: mechanical checks of proposed edits, and the project's own checks on a temporary worktree."""
