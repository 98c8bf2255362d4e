"""Findings about a run: curve rules, set-up checks, post-mortem, pre-flight, environment, troubleshooting."""
