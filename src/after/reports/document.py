"""A report as plain data (sections of text, tables and images) and its two renderings: HTML and Markdown.

The HTML is one self-contained file (inline CSS, no script, no build step) that opens from disk; images
are PNG files beside it, referenced by relative path, so the Markdown twin shows the same pictures.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    path: str          # relative to the report's folder
    caption: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    text: Sequence[str] = ()
    tables: Sequence[Table] = ()
    images: Sequence[Image] = ()


@dataclass(frozen=True)
class Document:
    title: str
    intro: Sequence[str] = ()
    sections: Sequence[Section] = field(default_factory=tuple)


def render_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", ""]
    lines += [p + "\n" for p in doc.intro]
    for s in doc.sections:
        lines += [f"## {s.title}", ""]
        lines += [p + "\n" for p in s.text]
        for t in s.tables:
            if t.caption:
                lines += [f"**{t.caption}**", ""]
            lines.append("| " + " | ".join(t.header) + " |")
            lines.append("|" + "|".join("---" for _ in t.header) + "|")
            lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in t.rows]
            lines.append("")
        for im in s.images:
            lines += [f"![{im.caption}]({im.path})", ""]
            if im.caption:
                lines += [f"*{im.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}caption{text-align:left;font-weight:600;
padding:.3em 0}figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}img{max-width:100%}
figcaption{font-size:.85em;color:#555}p.note{color:#444}figure.half{max-width:calc(50% - 1em);margin-right:.5em}"""


def render_html(doc: Document) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{e(doc.title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{e(doc.title)}</h1>"]
    out += [f'<p class="note">{e(p)}</p>' for p in doc.intro]
    for s in doc.sections:
        out.append(f"<h2>{e(s.title)}</h2>")
        out += [f"<p>{e(p)}</p>" for p in s.text]
        for t in s.tables:
            out.append("<table>")
            if t.caption:
                out.append(f"<caption>{e(t.caption)}</caption>")
            out.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in t.rows]
            out.append("</table>")
        cls = ' class="half"' if len(s.images) > 1 else ""     # several figures (e.g. confusions): side by side
        for im in s.images:
            out.append(f'<figure{cls}><img src="{e(im.path)}" alt="{e(im.caption)}">'
                       f"<figcaption>{e(im.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
