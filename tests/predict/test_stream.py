from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from domaintune.data.excel import open_workbook
from domaintune.data.nested import with_fields
from domaintune.data.sniff import decode_lines
from domaintune.data.sources import read_table
from domaintune.errors import UserError
from domaintune.predict import stream
from domaintune.predict.stream import (
    TableWriter,
    UTF8Stream,
    open_table,
    output_format,
    rechunk,
)
from tests.exported import EXPORTS, TICKETS, workbook

MIXED = (
    "id,text\n"
    '1,"a quoted text, with a comma\nand a second line"\n'
    "2,NA\n"
    "3,\n"
    "4,1234\n"
    "5,caf\u00e9 \u2014 na\u00efve\n"
).encode()
LATIN = "6,d\u00e9j\u00e0 vu in cp1252\n".encode("cp1252")
"""A CSV with what real files hold: a quoted text over two lines, the text NA, an empty text, a
number, non-ASCII UTF-8, and a line pasted in from a cp1252 system."""


def all_rows(path: Path, *, rows: int) -> pd.DataFrame:
    table = open_table(path)
    chunks = list(table.chunks(rows=rows, columns=table.columns))
    assert all(len(chunk) <= rows for chunk in chunks)
    return pd.concat(chunks, ignore_index=True)


def test_utf8_stream_decodes_each_line_as_read_table_does_across_small_blocks() -> None:
    """Catches a block boundary inside a multi-byte character or a line read as cp1252 when it is
    UTF-8 (or the reverse): blocks of 7 bytes must give the bytes of decoding the whole at once."""
    raw = MIXED + LATIN + MIXED
    stream = UTF8Stream(io.BytesIO(raw), block_bytes=7)
    text, fallback = decode_lines(raw)
    assert io.BufferedReader(stream).read() == text.encode("utf-8")
    assert stream.lines_not_utf8 == fallback == 1


def test_a_csv_in_chunks_reads_as_read_table_reads_it_whole(tmp_path: Path) -> None:
    """Catches the streaming CSV reader reading cells differently from `read_table` (which
    `prepare` uses): `NA` or an empty cell turned into a null, a number into a float, a quoted
    line break into two rows, a cp1252 line into an error; in chunks of two rows."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(MIXED + LATIN)
    chunked = all_rows(path, rows=2)
    whole = read_table(path)
    assert chunked.astype(object).equals(whole.astype(object))
    assert chunked["text"].tolist()[1:4] == ["NA", "", "1234"]


def test_a_tsv_is_read_with_tabs(tmp_path: Path) -> None:
    """Catches a TSV read with commas (one column holding whole lines)."""
    path = tmp_path / "t.tsv"
    path.write_text("id\ttext\n1\thello, world\n2\tbye\n")
    assert all_rows(path, rows=1).to_dict("list") == {
        "id": ["1", "2"],
        "text": ["hello, world", "bye"],
    }


def test_jsonl_chunks_have_every_key_of_the_file(tmp_path: Path) -> None:
    """Catches chunks with different columns (a key that first appears in a later chunk) and
    blank lines read as rows."""
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id": 1, "text": "a"}\n\n{"text": "b", "id": 2}\n{"id": 3, "text": "c", "x": [1]}\n'
    )
    table = open_table(path)
    assert table.columns == ["id", "text", "x"]
    frame = all_rows(path, rows=2)
    assert frame["text"].tolist() == ["a", "b", "c"]
    assert frame["x"].isna().tolist()[:2] == [True, True]


def test_invalid_json_names_its_line_past_the_first_chunk(tmp_path: Path) -> None:
    """Catches a line number counted within a chunk, or a parser error without one."""
    lines = [f'{{"text": "t{i}"}}' for i in range(9)]
    lines[7] = '{"text": "unclosed'
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"t\.jsonl: line 8 is not valid JSON"):
        list(open_table(path).chunks(rows=3, columns=["text"]))


def test_a_parquet_file_gives_its_row_count_and_batches(tmp_path: Path) -> None:
    """Catches a Parquet file read whole (one chunk) or without the row count its metadata holds,
    which the progress bar shows, and the index pandas wrote taken for a column of the user's."""
    path = tmp_path / "t.parquet"
    frame = pd.DataFrame({"id": range(10), "text": [f"t{i}" for i in range(10)]})
    frame.index = [f"x{i}" for i in range(10)]  # stored as the column __index_level_0__
    frame.to_parquet(path)
    table = open_table(path)
    assert table.rows == 10 and table.columns == ["id", "text"]
    sizes = [len(chunk) for chunk in table.chunks(rows=4, columns=["text"])]
    assert sizes == [4, 4, 2]


def test_a_json_document_is_read_whole_and_given_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"text": "a"}, {"text": "b"}, {"text": "c"}]')
    assert [len(c) for c in open_table(path).chunks(rows=2, columns=["text"])] == [2, 1]


def test_rechunk_gives_tables_of_the_asked_size_in_order() -> None:
    """Catches rows lost or repeated where CSV blocks and chunks do not line up."""
    batches = [
        pa.record_batch({"n": list(range(start, end))}) for start, end in [(0, 3), (3, 4), (4, 11)]
    ]
    tables = list(rechunk(batches, rows=4))
    assert [t.num_rows for t in tables] == [4, 4, 3]
    assert [n for t in tables for n in t["n"].to_pylist()] == list(range(11))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("none.csv", None, "not found"),
        ("empty.csv", "", "is empty"),
        ("t.docx", "x", "unsupported file type"),
        ("t.xlsx", "x", "not a valid Excel workbook"),
        ("twice.csv", "text,id,text\na,1,b\n", "has the column 'text' twice"),
        ("bad.parquet", "not parquet", "not a valid PARQUET file"),
    ],
)
def test_unreadable_files_are_refused_naming_them(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as error:
        open_table(path)
    assert str(path) in str(error.value)


def test_output_format_comes_from_the_option_or_the_suffix() -> None:
    """Catches a Parquet file written as JSON Lines because --format was left out, or a clash
    of --format and the suffix passed silently."""
    assert output_format(Path("out.parquet"), None) == "parquet"
    assert output_format(Path("out.TSV"), None) == "tsv"
    assert output_format(None, None) == "jsonl"
    assert output_format(Path("out.txt"), "csv") == "csv"
    with pytest.raises(UserError, match="names a parquet file"):
        output_format(Path("out.parquet"), "csv")
    with pytest.raises(UserError, match="choose csv, tsv, jsonl, parquet"):
        output_format(None, "xml")


def test_parquet_writer_takes_a_column_empty_in_the_first_chunk_as_text(tmp_path: Path) -> None:
    """Catches a column with no value in the first chunk typed as null, which refuses the texts
    of later chunks; a later chunk whose types cannot be written is refused naming its rows."""
    path = tmp_path / "out.parquet"
    writer = TableWriter(path, file_format="parquet")
    writer.write(pd.DataFrame({"n": [1, 2], "note": [None, None]}))
    writer.write(pd.DataFrame({"n": [3], "note": ["later"]}))
    with pytest.raises(UserError, match="rows 4-4 cannot be written to Parquet"):
        writer.write(pd.DataFrame({"n": ["not a number"], "note": ["x"]}))
    writer.close()
    assert pq.read_table(path).to_pydict() == {"n": [1, 2, 3], "note": [None, None, "later"]}


@pytest.mark.parametrize("kind", sorted(EXPORTS))
def test_an_exported_file_in_chunks_reads_as_read_table_reads_it_whole(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches predict's reader and prepare's parting on any kind of exported file: another
    encoding or delimiter decided from the first block, a UTF-16 line end split across blocks,
    workbook cells read otherwise, nested fields addressed otherwise; in chunks of two rows and
    blocks of 64 bytes for the text files."""
    monkeypatch.setattr(stream, "BLOCK_BYTES", 64)
    path = EXPORTS[kind](tmp_path)
    table = open_table(path)
    whole = read_table(path)
    assert table.columns == [str(c) for c in whole.columns]
    if kind == "nested_jsonl":
        assert table.nested == ["meta.body", "meta.lang", "routing.team", "routing.team.name"]
        names = ["id", "meta.body", "routing.team.name"]
        whole = with_fields(whole, names)[names]
    else:
        names = table.columns
    chunks = list(table.chunks(rows=2, columns=names))
    assert [len(chunk) for chunk in chunks] == [2, 2, 2]
    chunked = pd.concat(chunks, ignore_index=True)
    assert chunked.astype(object).equals(whole.astype(object))
    texts = chunked["meta.body" if kind == "nested_jsonl" else "text"].tolist()
    assert texts == [row[1] for row in TICKETS]


def test_a_utf16_stream_in_tiny_blocks_gives_the_text_of_the_whole() -> None:
    """Catches a UTF-16 file cut into lines at a 0x0A byte (half of a character), or a character
    split across two blocks lost."""
    raw = "id\ttext\r\n1\tcaf\u00e9 \u20ac\r\n2\t\u010a\u0a0a\r\n".encode("utf-16")
    stream = UTF8Stream(io.BytesIO(raw), encoding="utf-16", block_bytes=3)
    assert io.BufferedReader(stream).read().decode() == raw.decode("utf-16")


def test_a_workbook_is_opened_in_read_only_mode(tmp_path: Path) -> None:
    """Catches a sheet loaded whole (openpyxl's default mode keeps every cell in memory): the
    reader must open workbooks read-only, whose rows are parsed as they are iterated."""
    book = open_workbook(workbook(tmp_path))
    assert book.read_only
    book.close()


def test_a_broken_utf16_file_gives_both_readers_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches a decoding error surfacing as a parser's error, or at another byte when the file is
    read in blocks (a character cut by a block boundary counted twice)."""
    monkeypatch.setattr(stream, "BLOCK_BYTES", 5)
    path = tmp_path / "cut.csv"
    path.write_bytes("text;label\r\nhello;a\r\n".encode("utf-16") + b"\x00")
    message = r"cut\.csv: byte 44 is not utf-16, the encoding its first 64 KiB showed \(tried"
    with pytest.raises(UserError, match=message):
        read_table(path)
    with pytest.raises(UserError, match=message):
        list(open_table(path).chunks(rows=1, columns=["text"]))
