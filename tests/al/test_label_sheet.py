"""to_label.csv as spreadsheet programs save it: UTF-8 with BOM, ';' separators, Latin-1 (issue 7)."""
from __future__ import annotations

import codecs

import pytest

from after.al.label_sheet import LabelSheetError
from after.al.oracles import FileOracle, LabelsPending

CLIPS = {"utt0": "/a/utt0.wav", "utt1": "/a/utt1.wav", "café_2": "/a/café_2.wav"}
ALLOWED = ["angry", "neutral"]


def oracle(tmp_path) -> FileOracle:
    return FileOracle(tmp_path / "to_label.csv", CLIPS, ALLOWED)


@pytest.mark.parametrize("encoding,sep,bom", [("utf-8", ",", True), ("utf-8", ";", False), ("utf-8", ";", True),
                                              ("cp1252", ";", False), ("latin-1", ",", False), ("utf-8", "\t", False)])
def test_spreadsheet_saved_sheets_are_read(tmp_path, encoding, sep, bom):
    text = sep.join(["id", "path", "Label", "notes"]) + "\r\n" + "\r\n".join(
        sep.join([i, p, lab, "écouté"]) for (i, p), lab in zip(CLIPS.items(), ["Angry", " neutral ", "angry"])) + "\r\n"
    text += sep * 3 + "\r\n"                                  # a padding row spreadsheets leave
    raw = (codecs.BOM_UTF8 if bom else b"") + text.encode(encoding)
    o = oracle(tmp_path)
    o.path.write_bytes(raw)
    assert o.query(["utt0", "utt1", "café_2"]) == {"utt0": "angry", "utt1": "neutral", "café_2": "angry"}
    # asking for more keeps the people's separator and their extra column
    o.clips["utt3"] = "/a/utt3.wav"
    with pytest.raises(LabelsPending):
        o.query(["utt3"])
    back = o.path.read_bytes()
    assert back.startswith(codecs.BOM_UTF8) == (bom or encoding != "utf-8")
    lines = back.decode("utf-8-sig").splitlines()
    assert lines[0] == sep.join(["id", "path", "label", "notes"]) and lines[1].endswith(sep + "écouté")
    assert lines[-1] == sep.join(["utt3", "/a/utt3.wav", "", ""])
    assert o.query(["utt0"]) == {"utt0": "angry"}


def test_latin1_is_read_with_a_warning(tmp_path, caplog):
    o = oracle(tmp_path)
    o.path.write_bytes("id;path;label\ncafé_2;/a/café_2.wav;neutral\n".encode("latin-1"))
    assert o.query(["café_2"]) == {"café_2": "neutral"}
    assert "not UTF-8" in caplog.text and "Latin-1" in caplog.text


def test_utf16_and_a_wrong_header_are_refused_saying_what_was_found(tmp_path):
    o = oracle(tmp_path)
    o.path.write_bytes(codecs.BOM_UTF16_LE + "id\tpath\tlabel\n".encode("utf-16-le"))
    with pytest.raises(LabelSheetError, match="UTF-16"):
        o.query(["utt0"])
    o.path.write_text("clip|file|emotion\nutt0|x|angry\n")
    with pytest.raises(LabelSheetError, match=r"the first line is 'clip\|file\|emotion'; it needs the columns"):
        o.query(["utt0"])


def test_conflicting_rows_name_both_lines_and_equal_ones_pass(tmp_path):
    o = oracle(tmp_path)
    o.path.write_text("id,path,label\nutt0,/a/utt0.wav,angry\nutt1,/a/utt1.wav,neutral\nutt0,/a/utt0.wav,neutral\n")
    with pytest.raises(LabelSheetError, match="'utt0' has two different labels, 'angry' on line 2 and 'neutral' on line 4"):
        o.query(["utt0"])
    o.path.write_text("id,path,label\nutt0,/a/utt0.wav,angry\nutt0,/a/utt0.wav,ANGRY\nutt1,/a/utt1.wav,\n"
                      "utt1,/a/utt1.wav,neutral\n")
    assert o.query(["utt0", "utt1"]) == {"utt0": "angry", "utt1": "neutral"}


def test_a_changed_label_of_a_used_clip_is_refused(tmp_path):
    o = oracle(tmp_path)
    o.path.write_text("id,path,label\nutt0,/a/utt0.wav,neutral\nutt1,/a/utt1.wav,neutral\n")
    o.check_unchanged({"utt1": ("neutral", 0)})
    with pytest.raises(LabelSheetError, match=r"line 2: clip 'utt0' now says 'neutral', but it was labelled "
                                              r"'angry' in round 3"):
        o.check_unchanged({"utt0": ("angry", 3)})
