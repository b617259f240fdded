"""GitHub-flavoured Markdown (READMEs, wikis, plain folders): alerts, footnotes, task lists, emoji shortcodes."""

from __future__ import annotations

from .base import Dialect


class GitHub(Dialect):
    name = "github"
