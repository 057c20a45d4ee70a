"""Workflow scripts: finding, checking and authoring them; the RestrictedPython sandbox they run in."""
