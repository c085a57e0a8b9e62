"""The HTML report a runs folder holds: sections of text, tables and figures on one self-contained
page, written atomically."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnlab._io import atomic_write


@dataclass(frozen=True)
class Section:
    """A part of a report: a heading, an optional text and table, and figures."""

    title: str
    text: str = ""
    header: Sequence[str] = ()
    rows: Sequence[Sequence[object]] = ()
    images: Sequence[Path] = ()


def _section_html(section: Section, page_dir: Path) -> str:
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    if section.text:
        parts.append(f"<p>{html.escape(section.text)}</p>")
    if section.rows:
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in section.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
            for row in section.rows
        )
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    for image in section.images:
        source = html.escape(os.path.relpath(image, page_dir))
        parts.append(
            f'<figure><img src="{source}" alt="{html.escape(image.stem)}">'
            f"<figcaption>{html.escape(image.stem)}</figcaption></figure>"
        )
    return "\n".join(parts)


def html_report(path: Path, title: str, summary: str, sections: Sequence[Section]) -> Path:
    """Write a self-contained HTML page (images linked relative to it) atomically."""
    body = "\n".join(_section_html(section, path.parent) for section in sections)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>
{body}
</body></html>
"""
    atomic_write(path, page)
    return path
