"""Modules run inside the peers' virtualenv (and the task body shared by every system)."""
