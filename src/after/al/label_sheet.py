"""The label sheet people fill in (``to_label.csv``), read as a spreadsheet program may have saved it.

Spreadsheet programs change a CSV when they save it: Excel writes UTF-8 with a byte-order mark ("CSV UTF-8"),
uses ``;`` between fields where the decimal separator is a comma, and "CSV (Windows)" is Windows-1252
(Latin-1 plus a few signs). :func:`read_sheet` reads all of these and says which it found; a format it
cannot read (UTF-16 "Unicode text", a header without the needed columns) is refused with what was found.
:func:`write_sheet` writes the sheet back in the separator it came in, keeping every column the people added.
"""
from __future__ import annotations

import codecs
import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from after.atomic import atomic_open
from after.errors import AfterError

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t")


class LabelSheetError(AfterError, ValueError):
    """A label sheet that cannot be read as it is; the message names the file, the line and what to do."""


@dataclass
class Sheet:
    """A label sheet: its columns (needed ones first spelled as the program expects), rows and format."""

    fields: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)    # the file line of each row (1 = header)
    delimiter: str = ","
    bom: bool = False                                 # write back as UTF-8 with a byte-order mark


def _decode(path: Path, raw: bytes) -> tuple[str, bool]:
    """The file's text and whether to write it back with a BOM (UTF-8 BOM, UTF-8, or Windows-1252)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LabelSheetError(f"{path}: saved as UTF-16 (\"Unicode text\"); save it again as \"CSV UTF-8\" "
                              "(comma or semicolon separated) and run the same command again")
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8):].decode("utf-8"), True
        except UnicodeDecodeError as exc:
            raise LabelSheetError(f"{path}: starts with a UTF-8 byte-order mark but byte {exc.start + 3} is not "
                                  "UTF-8; save it again as \"CSV UTF-8\" and run the same command again") from None
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    log.warning("%s is not UTF-8: read it as Latin-1 (Windows-1252, as spreadsheet programs save \"CSV\"); "
                "it is written back as UTF-8 with a byte-order mark", path)
    return text, True


def _header(path: Path, first_line: str, required: Sequence[str]) -> tuple[str, list[str]]:
    """The separator that splits the header into the required columns, and the column names."""
    for delimiter in DELIMITERS:
        names = [n.strip() for n in next(csv.reader([first_line], delimiter=delimiter), [])]
        canonical = [n.lower() if n.lower() in required else n for n in names]
        if set(required) <= set(canonical):
            return delimiter, canonical
    raise LabelSheetError(f"{path}: the first line is {first_line.strip()[:80]!r}; it needs the columns "
                          f"{','.join(required)} separated by commas or semicolons. Restore that header line and "
                          "run the same command again")


def read_sheet(path: str | Path, required: Sequence[str]) -> Sheet:
    """Read ``path``; cells stay as typed; rows whose cells are all empty (spreadsheet padding) are skipped."""
    p = Path(path)
    text, bom = _decode(p, p.read_bytes())
    if not text.strip():
        return Sheet(list(required), bom=bom)
    delimiter, fields = _header(p, text.splitlines()[0], required)
    if len(set(fields)) != len(fields):
        raise LabelSheetError(f"{p}: the header names a column twice ({', '.join(fields)}); remove the copy")
    sheet = Sheet(fields, delimiter=delimiter, bom=bom)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader)
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(fields) and any(c.strip() for c in cells[len(fields):]):
            raise LabelSheetError(f"{p}, line {reader.line_num}: {len(cells)} fields for {len(fields)} columns; "
                                  f"is a {delimiter!r} inside a value? Correct that line and run the same command again")
        sheet.rows.append({f: (cells[k] if k < len(cells) else "") for k, f in enumerate(fields)})   # as typed
        sheet.lines.append(reader.line_num)
    if delimiter != "," or bom:
        log.info("%s: read %s-separated%s", p, "semicolon" if delimiter == ";" else repr(delimiter),
                 " with a byte-order mark" if bom else "")
    return sheet


def write_sheet(path: str | Path, sheet: Sheet) -> None:
    """Write ``sheet`` atomically, in the separator it was read with."""
    with atomic_open(path, "w", encoding="utf-8-sig" if sheet.bom else "utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=sheet.fields, delimiter=sheet.delimiter)
        w.writeheader()
        w.writerows(sheet.rows)
