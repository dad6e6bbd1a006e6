"""The git store backend: a readable file per item, a commit per run (README "Storage format: git")."""

from storage.git.store import GitStore

__all__ = ["GitStore"]
