"""The inline stylesheet reaches the page verbatim (not HTML-escaped); user text still is."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from poc.tearsheet import render


def _style_block(html: str) -> str:
    return re.search(r"<style>(.*?)</style>", html, re.S).group(1)


def test_rendered_css_has_no_html_entities_and_keeps_the_font_rule():
    html = render("base.html.j2", {"title": "<b>x</b>", "footer": "f"})
    css = _style_block(html)
    for entity in ("&#34;", "&#39;", "&gt;", "&lt;", "&amp;", "&quot;"):
        assert entity not in css
    source = (Path(str(files("tearsheets"))) / "style.css").read_text()
    assert source.strip() in css
    assert '"Segoe UI"' in css  # the quoted font family that escaping used to break
    # Autoescaping still protects everything else on the page.
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in html
