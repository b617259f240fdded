"""Docusaurus (MDX): `:::tip` admonitions, `<Tabs>` components, imports and `{#id}` headings; github-slugger ids."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..slugs import split_custom_id
from .base import Dialect

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


class Docusaurus(Dialect):
    name = "docusaurus"
    alerts = False
    footnotes = False
    config_files = ("docusaurus.config.js", "docusaurus.config.ts", "docusaurus.config.mjs", "docusaurus.config.cjs")

    def __init__(self) -> None:
        super().__init__()
        self.text = None  # the source clean-up leaves nothing for text tokens to drop

    def configure(self, md: MarkdownIt) -> None:
        """CommonMark + tables + definition lists, as before dialects existed (the golden files pin it)."""

    def heading(self, text: str) -> tuple[str, str | None]:
        return split_custom_id(text)
