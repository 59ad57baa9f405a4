"""A student's outputs and markdown, rendered as nbgrader renders them for the instructor
(the feedback page and the formgrader's submission page, nbgrader's own templates) with
the course's nbgrader_config.py: nothing of theirs may run, and plots, tables, links and
written answers still show.  tests/test_browser.py opens both pages in Chromium."""
from __future__ import annotations

import base64
import io
import re
import shutil
from html.parser import HTMLParser

import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from course import ROOT
from tlcourse.course.sanitize import clean_html

MARK = "__tlcourse_pwned"
# What a student's outputs could try, each with its own number (window.__tlcourse_pwned=N).
ATTACKS = {
    1: f"<script>window.{MARK}=1</script>",
    2: f'<img src=x onerror="window.{MARK}=2">',
    3: f'<a href="javascript:window.{MARK}=3">pwn link</a>',
    4: f'<iframe src="javascript:parent.{MARK}=4"></iframe>',
    5: f'<object data="javascript:parent.{MARK}=5"></object>'
       f'<embed src="javascript:parent.{MARK}=5">',
    6: f'<svg><script>window.{MARK}=6</script></svg>'
       f'<div onmouseover="window.{MARK}=6">hover</div>',
    7: f'<a href="&#106;ava&#x09;script:window.{MARK}=7">entity link</a>',
}
JS_OUTPUT = 8            # application/javascript
WIDGET = 9               # a widget view and the widget state it would load
MARKDOWN = (10, 11, 12)  # a written answer: script, javascript: link, onerror image
TABLE = ('<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n'
         '      <th></th>\n      <th>breed</th>\n      <th>accuracy</th>\n    </tr>\n  </thead>\n'
         '  <tbody>\n    <tr>\n      <th>0</th>\n      <td>Abyssinian</td>\n      <td>0.91</td>\n'
         '    </tr>\n  </tbody>\n</table>')                          # pandas' DataFrame.to_html
ORDINARY = '<b>bold</b> and <a href="https://example.org/pets">a link</a>'


def plot_png() -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1, 2], [0.2, 0.7, 0.9])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


PNG = plot_png()


def student_notebook():
    html = [new_output("display_data", data={"text/html": h, "text/plain": "<HTML>"})
            for h in [*ATTACKS.values(), TABLE, ORDINARY]]
    js = new_output("display_data", data={"application/javascript": f"window.{MARK}={JS_OUTPUT}",
                                          "text/plain": "<Javascript>"})
    widget = new_output("display_data", data={
        "application/vnd.jupyter.widget-view+json": {"model_id": f"{MARK}={WIDGET}",
                                                     "version_major": 2, "version_minor": 0},
        "text/plain": "HTML(value='...')"})
    plot = new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})
    answer = new_markdown_cell(
        f"## My answer\n\nThe base is frozen, **then** fine-tuned.\n\n"
        f"<script>window.{MARK}={MARKDOWN[0]}</script>\n\n"
        f"[a link](javascript:window.{MARK}={MARKDOWN[1]})\n\n"
        f'<img src=y onerror="window.{MARK}={MARKDOWN[2]}">\n\n![my plot](attachment:plot.png)\n\n'
        "> a < b & c\n\n```python\nif a < b:\n\n    pass\n```")
    answer.attachments = {"plot.png": {"image/png": PNG}}
    nb = new_notebook(cells=[answer, new_code_cell("show()", outputs=[*html, js, widget, plot])])
    nb.metadata.widgets = {"application/vnd.jupyter.widget-state+json": {
        "state": {f"{MARK}={WIDGET}": {"model_name": "HTMLModel", "state": {"value": "<b>hi</b>"}}},
        "version_major": 2, "version_minor": 0}}
    return nb


# What nbgrader hands its templates (the formgrader's handler; GetGrades for feedback).
RESOURCES = {
    "formgrade": {"base_url": "", "notebook_id": "Lab", "assignment_id": "lab",
                  "submission_id": "1", "index": 0, "total": 1, "student": "ann",
                  "first_name": "A", "last_name": "N", "notebook_path": "Lab.ipynb"},
    "feedback": {"nbgrader": {"notebook": "Lab", "score": 0.0, "max_score": 0.0,
                              "late_penalty": 0.0}},
}


@pytest.fixture(scope="module")
def course_config(tmp_path_factory) -> Config:
    """The course's nbgrader_config.py, read as nbgrader reads it (in a copy: it makes
    an exchange folder beside itself)."""
    where = tmp_path_factory.mktemp("config")
    shutil.copy(ROOT / "nbgrader_config.py", where)
    return PyFileConfigLoader("nbgrader_config.py", path=str(where)).load_config()


def render(config: Config, template: str) -> str:
    from nbgrader.server_extensions.formgrader import handlers

    # as nbgrader's GenerateFeedback and formgrader set it up
    css = f"{handlers.static_path}/node_modules/bootstrap/dist/css"
    exporter = HTMLExporter(config=config, template_name=template,
                            extra_template_basedirs=[handlers.template_path],
                            extra_template_paths=[css])
    body, _ = exporter.from_notebook_node(student_notebook(), resources=dict(RESOURCES[template]))
    return body


class Audit(HTMLParser):
    """Which of the numbered attacks reached a place where a browser runs it: a script or
    style element, an attribute (on* handlers, URLs), a frame.  Escaped, as text, is fine."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.ran: set[int] = set()
        self.tags: list[tuple[str, dict]] = []
        self.frames: list[str] = []
        self._raw = None
        self.feed(page)
        self.close()

    def _note(self, text: str) -> None:
        self.ran.update(int(n) for n in re.findall(rf"{MARK}\W*(\d+)", text))

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("iframe", "frame", "object", "embed"):
            self.frames.append(tag)
        for _, value in attrs:
            self._note(value or "")
        if tag in ("script", "style"):
            self._raw = tag

    def handle_endtag(self, tag):
        if tag == self._raw:
            self._raw = None

    def handle_data(self, data):
        if self._raw:
            self._note(data)


EVERY_ATTACK = {*ATTACKS, JS_OUTPUT, WIDGET, *MARKDOWN}


@pytest.mark.parametrize("template", ["feedback", "formgrade"])
def test_the_audit_sees_every_attack_when_nothing_is_sanitised(template):
    # the checks below are not vacuous: nbconvert's defaults let every one through
    audit = Audit(render(Config(), template))
    assert audit.ran == EVERY_ATTACK and audit.frames


@pytest.mark.parametrize("template", ["feedback", "formgrade"])
def test_no_student_script_reaches_the_instructors_page(course_config, template):
    page = render(course_config, template)
    audit = Audit(page)
    assert audit.ran == set() and audit.frames == [], (audit.ran, audit.frames)
    # what was refused is shown as text, so the instructor sees what was tried
    assert f"&lt;script&gt;window.{MARK}=1&lt;/script&gt;" in page


@pytest.mark.parametrize("template", ["feedback", "formgrade"])
def test_plots_tables_links_and_written_answers_still_show(course_config, template):
    page = render(course_config, template)
    tags = Audit(page).tags
    images = [a["src"] for t, a in tags if t == "img"]
    assert images.count(f"data:image/png;base64,{PNG}") == 2         # the plot, the pasted one
    assert re.search(r'<table border="1" class="dataframe">\s*<thead>', page)
    assert "<th>breed</th>" in page and "<td>Abyssinian</td>" in page
    assert ORDINARY in page
    assert re.search(r"<h2>My answer", page) and "<strong>then</strong>" in page
    assert "<blockquote>\n<p>a &lt; b &amp; c</p>" in page          # markdown, not mangled


@pytest.mark.parametrize("html, kept", [
    ('<a href="https://example.org/">x</a>', '<a href="https://example.org/">x</a>'),
    ('<a href="mailto:ta@example.org">x</a>', '<a href="mailto:ta@example.org">x</a>'),
    ('<a href="JaVaScRiPt:alert(1)">x</a>', "<a>x</a>"),
    ('<a href=" java\tscript:alert(1)">x</a>', "<a>x</a>"),
    ('<a href="data:text/html,<script>alert(1)</script>">x</a>', "<a>x</a>"),
    ('<a href="&#100;ata:text/html,x">x</a>', "<a>x</a>"),
    ('<img src="data:image/png;base64,AAAA">', '<img src="data:image/png;base64,AAAA">'),
    ('<img src="data:text/html;base64,AAAA">', "<img>"),
    ('<img src="vbscript:x" onload="x()">', "<img>"),
    ('<p id="score_1" style="position:fixed">x</p>', "<p>x</p>"),
    ('<form action="https://example.org"><input name=x></form>',
     '&lt;form action="https://example.org"&gt;&lt;input name=x&gt;&lt;/form&gt;'),
])
def test_clean_html_keeps_safe_urls_and_drops_the_rest(html, kept):
    assert clean_html(html) == kept
