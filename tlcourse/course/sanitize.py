"""Student output and markdown, made safe to open in an instructor's browser.

nbgrader turns a submission into HTML in two places: ``nbgrader generate_feedback`` (the
pages under ``feedback/``, which ``tlcourse grade`` makes) and the formgrader's page for a
submission.  Both use nbconvert's ``HTMLExporter`` with the course's nbgrader_config.py,
whose block "sanitised student output" sets

    c.HTMLExporter.sanitize_html = True
    c.HTMLExporter.filters = {"clean_html": "tlcourse.course.sanitize.clean_html",
                              "markdown2html": "tlcourse.course.sanitize.SafeMarkdown"}

``sanitize_html`` is nbconvert's own switch: JavaScript outputs, widget views and widget
state are not written, and HTML and markdown outputs go through the ``clean_html`` filter.
The two filters of this module take part in it:

* ``clean_html`` replaces nbconvert's, which escapes what a notebook shows (headings,
  paragraphs, images, table headers); ours keeps those, tables and http(s) links, and drops
  scripts, event handlers (``on*``), ``javascript:`` URLs, iframes, objects, embeds, forms,
  styles and ``id`` attributes (they could shadow the formgrader's own score fields);
* ``SafeMarkdown``: nbgrader's templates render markdown cells (a student's written answers)
  without ``clean_html``, so the markdown filter itself cleans what it renders.
"""
from __future__ import annotations

import html
import re

import bleach
from jinja2 import pass_context
from traitlets.config import Configurable

TAGS = bleach.ALLOWED_TAGS | {
    "p", "div", "span", "pre", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "img",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "sub", "sup",
    "dl", "dt", "dd", "del", "s", "u", "kbd", "details", "summary"}
ATTRIBUTES = {"*": {"class", "title"}, "a": {"href"}, "img": {"src", "alt", "width", "height"},
              "th": {"colspan", "rowspan"}, "td": {"colspan", "rowspan"}, "table": {"border"},
              "ol": {"start"}}
# data: only for pictures: markdown attachments (a pasted screenshot in a written
# answer) are rendered as data:image URLs.  bleach checks the other schemes.
PROTOCOLS = bleach.ALLOWED_PROTOCOLS | {"data"}
DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml)[;,]")


def _allowed(tag: str, name: str, value: str) -> bool:
    if name not in ATTRIBUTES["*"] and name not in ATTRIBUTES.get(tag, ()):
        return False
    # the URL as bleach reads it: entities decoded, blanks and control characters gone
    url = re.sub(r"[`\x00-\x20\x7f-\xa0\s]+|[^\x00-\x7f]", "", html.unescape(value)).lower()
    return not url.startswith("data:") or (tag == "img" and bool(DATA_IMAGE.match(url)))


def clean_html(text) -> str:
    """``text`` (HTML) with only the tags, attributes and URLs above; other tags are
    shown escaped, as text, so the instructor sees what the student tried."""
    text = text.decode() if isinstance(text, bytes) else str(text)
    return bleach.clean(text, tags=TAGS, attributes=_allowed, protocols=PROTOCOLS)


@pass_context
class SafeMarkdown(Configurable):
    """The exporter's own ``markdown2html`` (attachments, anchors, math), then ``clean_html``.
    nbconvert makes one per exporter, with the exporter as ``parent``."""

    def __call__(self, context, source: str) -> str:
        return clean_html(self.parent.markdown2html(context, source))
