"""How a delimited text file is written: its encoding and its delimiter, told from its first bytes.

`prepare` (`sources.read_table`, the whole file) and `predict --file` (`predict.stream`, a block at
a time) both decide here, from the same first `SAMPLE_BYTES`, and decode with the same `Decoder`,
so a file reads alike in both.

Encodings, in order: a byte-order mark decides (UTF-8, UTF-16 or UTF-32, as Excel's "Unicode
text" and "CSV UTF-8" write them); a file without one whose bytes alternate with NULs is UTF-16;
a file with any UTF-8 beyond ASCII is UTF-8, each line that is not read as cp1252 (files pasted
together from several systems); otherwise charset-normalizer decides, and cp1252 (Windows' Western
default, what Excel writes as "CSV") wins whenever it reads the bytes without much mess: the
detector's first choice for Western text was as often cp775, cp1250 or mac_latin2 (French, German
and English samples with euro signs and curly quotes, charset-normalizer 3.5), while Cyrillic or
Greek read as cp1252 is mess (0.69 or more) and goes to the detector (cp1251, cp1253). A cp1252
file is still read line by line, each line that is UTF-8 as UTF-8, so that UTF-8 lines pasted in
after the first 64 KiB are read right too.
"""

from __future__ import annotations

import codecs
import csv
import io
from itertools import islice

from charset_normalizer import from_bytes

from domaintune.errors import UserError

SAMPLE_BYTES = 1 << 16
"""Bytes from the start of a file that decide its encoding and (decoded) its delimiter."""
SNIFF_ROWS = 50
"""Records read to sniff a delimiter: enough to see that each row has the header's width."""
DELIMITERS = (",", ";", "\t", "|")
"""The delimiters sniffed; the first is the default when none splits the header."""
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose mark begins it
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
LEGACY = "cp1252"
LINE_BY_LINE = ("utf-8", "utf-8-sig", LEGACY)
"""Read line by line: a line that is not UTF-8 is read as cp1252 (latin-1 as the last resort)."""
FALLBACK_ENCODINGS = (LEGACY, "latin-1")
"""Tried, in order, for a line that is not UTF-8; latin-1 decodes any bytes, so it never fails."""
CLEAN_ENOUGH = 0.2
"""The most mess (charset-normalizer's chaos) cp1252 may show and be taken: the detector's own
bar for a plausible encoding. Western samples read as cp1252 measured 0 to 0.14."""
TRIED = "byte-order marks, UTF-8 (cp1252 line by line), UTF-16 and charset-normalizer's detection"


def sniff_encoding(head: bytes, *, source: str) -> str:
    """The codec to read a file with, from its first bytes (`SAMPLE_BYTES` of them)."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    if head.startswith(b"PK\x03\x04"):
        raise UserError(
            f"{source} is a zip archive, not a text table: an Excel workbook must be named .xlsx"
        )
    if b"\x00" in head:
        found = utf16_without_bom(head) or detect(head)
    elif has_utf8(head):
        return "utf-8"
    else:
        found = detect(head)
    if found is None:
        raise UserError(
            f"{source} cannot be read as text (tried {TRIED}): save it as CSV UTF-8, "
            "or give a Parquet, JSONL or Excel file"
        )
    return found


def utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 written without a mark: text in Latin script has NULs at every other byte."""
    pairs = head[: len(head) // 2 * 2]
    odd, even = pairs[1::2].count(0), pairs[0::2].count(0)
    half = len(pairs) // 2
    if half and odd > 0.4 * half and even == 0:
        return "utf-16-le"
    if half and even > 0.4 * half and odd == 0:
        return "utf-16-be"
    return None


def has_utf8(head: bytes) -> bool:
    """Whether the bytes are UTF-8 (a character cut at the sample's end aside), or any of their
    lines is UTF-8 beyond ASCII: then the file is UTF-8 with a few lines pasted from elsewhere."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        return True
    except UnicodeDecodeError:
        pass
    for line in head.splitlines():
        if not line.isascii():
            try:
                line.decode("utf-8")
                return True
            except UnicodeDecodeError:
                continue
    return False


def detect(head: bytes) -> str | None:
    """cp1252 when it reads the bytes without much mess, else charset-normalizer's choice."""
    legacy = from_bytes(head, cp_isolation=[LEGACY], threshold=CLEAN_ENOUGH).best()
    if legacy is not None:
        return LEGACY
    best = from_bytes(head).best()
    return None if best is None else best.encoding


def decode_lines(raw: bytes) -> tuple[str, int]:
    """Text of a file whose lines may mix encodings (files pasted together from several systems):
    each line is read as UTF-8 when it is, else as cp1252. Returns the text and how many lines
    needed the fallback."""
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    lines, fallback = [], 0
    for line in raw.splitlines(keepends=True):
        try:
            lines.append(line.decode("utf-8"))
            continue
        except UnicodeDecodeError:
            fallback += 1
        for encoding in FALLBACK_ENCODINGS:
            try:
                lines.append(line.decode(encoding))
                break
            except UnicodeDecodeError:
                continue
    return "".join(lines), fallback


class Decoder:
    """Decodes a file's bytes, given in blocks of any size, in its encoding: UTF-8 and cp1252 a
    line at a time (cp1252 for a line that is not UTF-8, counted in `lines_not_utf8`), any other
    codec with its incremental decoder. The whole file at once reads the same as in blocks."""

    def __init__(self, encoding: str, *, source: str) -> None:
        self.encoding = encoding
        self.source = source
        self.lines_not_utf8 = 0
        self.carry = b""
        self.offset = 0
        self.started = False
        self.codec = None if encoding in LINE_BY_LINE else codecs.getincrementaldecoder(encoding)()

    def decode(self, block: bytes, *, final: bool) -> str:
        if self.codec is not None:
            held = len(self.codec.getstate()[0])  # bytes of a character cut by the last block
            try:
                text = self.codec.decode(block, final=final)
            except UnicodeDecodeError as error:
                at = self.offset - held + error.start
                raise UserError(
                    f"{self.source}: byte {at} is not {self.encoding}, the "
                    f"encoding its first {SAMPLE_BYTES // 1024} KiB showed (tried {TRIED}): save "
                    "it as CSV UTF-8"
                ) from None
            self.offset += len(block)
            return text
        data = self.carry + block
        if not self.started and len(data) < len(codecs.BOM_UTF8) and not final:
            self.carry = data  # too short yet to tell a mark
            return ""
        if not self.started:
            self.started = True
            data = data.removeprefix(codecs.BOM_UTF8)
        cut = len(data) if final else data.rfind(b"\n") + 1  # a cut line waits for its end
        data, self.carry = data[:cut], data[cut:]
        text, fallback = decode_lines(data)
        self.lines_not_utf8 += fallback
        return text


def decode(raw: bytes, encoding: str, *, source: str) -> tuple[str, int]:
    """A whole file's text, and how many of its lines were read as cp1252 (not being UTF-8)."""
    decoder = Decoder(encoding, source=source)
    text = decoder.decode(raw, final=True)
    return text, decoder.lines_not_utf8


def head_of(text: str) -> str:
    """The part of a decoded text that `sniff_delimiter` reads: what the first `SAMPLE_BYTES` of
    its UTF-8 give (the streaming reader sees the same)."""
    return text[:SAMPLE_BYTES].encode("utf-8")[:SAMPLE_BYTES].decode("utf-8", errors="ignore")


def sniff_delimiter(head: str) -> str:
    """The delimiter (comma, semicolon, tab or pipe) that splits the header into the most columns
    and the rows after it into as many (a last record without its line end may be cut, and is
    left out). Quoted cells count as one, so a comma CSV whose texts hold semicolons stays
    comma-separated. A header no delimiter splits is one column, read with a delimiter its rows
    do not hold either (a one-column file of texts with commas)."""
    best, best_score = DELIMITERS[0], (False, -1.0, 0)
    for delimiter in DELIMITERS:
        try:
            records = list(
                islice(csv.reader(io.StringIO(head), delimiter=delimiter), SNIFF_ROWS + 1)
            )
        except csv.Error:
            continue
        if not head.endswith(("\n", "\r")) and len(records) > 1:
            records = records[:-1]
        rows = [record for record in records if record]
        if not rows:
            continue
        width = len(rows[0])
        rest = rows[1:]
        alike = sum(len(row) == width for row in rest) / len(rest) if rest else 1.0
        score = (width > 1, alike, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def resolve_delimiter(configured: str, *, suffix: str, head: str) -> str:
    """The configured delimiter; for `auto`, tab for .tsv, else the one sniffed."""
    if configured != "auto":
        return configured
    if suffix == ".tsv":
        return "\t"
    return sniff_delimiter(head)


def check_header(columns: list[str], *, source: str, encoding: str) -> None:
    """Refuse column names holding NULs: bytes decoded in the wrong encoding, never a header."""
    if any("\x00" in str(column) for column in columns):
        raise UserError(
            f"{source}: its header holds NUL characters when read as {encoding} (tried {TRIED}): "
            "save it as CSV UTF-8"
        )
