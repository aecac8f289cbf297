"""Bridges to other tools; each one imports its tool lazily, only when called."""
