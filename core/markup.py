"""Values from data (categories, sources, metadata, collection names, chunk text) shown where something reads
markup, so that they show as written and never become a link, an image or styled text.

Plotly reads a few HTML tags (<a href>, <span style>, <b>, <br>, <img> is dropped) in trace names, legends,
hover labels, axis and tick labels, annotations and titles; Markdown (st.markdown, st.caption, st.subheader,
message boxes) reads links, images, emphasis and Streamlit's :colour[...] directives."""
from __future__ import annotations

import html
import re

# Every ASCII character Markdown (or Streamlit's :directives:) could treat as markup.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$&:=^\"'])")


def plotly_text(value: object) -> str:
    """`value` for a Plotly name, label or hover text: its tags escaped, so Plotly shows the characters."""
    return html.escape(str(value), quote=False)


def markdown_text(value: object) -> str:
    """`value` for Markdown: every character that could be markup backslash-escaped (line breaks left as they are)."""
    return _MARKDOWN.sub(r"\\\1", str(value))
