"""Detect how a CSV file is written: its text encoding, delimiter and quote character.

Detection looks only at the first ``SNIFF_BYTES`` bytes, so it costs the same for any file
size. The full read in ``apps.datasets.ingest`` then confirms the encoding over the whole
file and falls back to a single-byte encoding when later bytes are not valid UTF-8.
"""

import codecs
import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Separators the delimiter detection chooses from. Anything else reads as a comma-separated file.
CSV_DELIMITERS = ",;\t|"
CSV_QUOTECHARS = "\"'"
# Encodings a user may choose in place of the detected one, by their Python codec name.
CSV_ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1")
# The encoding, delimiter and quote character are guessed from this many leading bytes.
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class CsvDialect:
    """The text encoding (a Python codec name), delimiter and quote character of a CSV file."""

    encoding: str
    delimiter: str = ","
    quotechar: str = '"'

    def as_json(self) -> dict[str, str]:
        return {"encoding": self.encoding, "delimiter": self.delimiter, "quotechar": self.quotechar}

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> "CsvDialect":
        return cls(
            encoding=str(stored["encoding"]),
            delimiter=str(stored.get("delimiter", ",")),
            quotechar=str(stored.get("quotechar", '"')),
        )


def head_read(path: Path) -> bytes:
    with path.open("rb") as raw:
        return raw.read(SNIFF_BYTES)


def encoding_detect(path: Path) -> str:
    """Return the codec for the file's first bytes: by byte order mark, else UTF-8, else cp1252.

    Bytes that are not valid UTF-8 are read as cp1252, the Windows variant of Latin-1, and
    as ISO-8859-1 when they use the five byte values that cp1252 leaves undefined. Only the
    head is read here. The full read switches a UTF-8 guess to cp1252, and cp1252 to
    ISO-8859-1, when later bytes contradict it.
    """
    return head_encoding_detect(head_read(path))


def head_encoding_detect(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if _head_decodes_as(head, "utf-8"):
        return "utf-8"
    if _head_decodes_as(head, "cp1252"):
        return "cp1252"
    return "latin-1"


def _head_decodes_as(head: bytes, encoding: str) -> bool:
    # Not final: the head may end inside a multi-byte character that the next byte completes.
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        decoder.decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError:
        return False
    return True


def head_text(head: bytes, *, encoding: str) -> str:
    """Decode the head sample, dropping a character cut at its end."""
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)


def csv_dialect_detect(path: Path) -> CsvDialect:
    """Detect the encoding, delimiter and quote character of a CSV file from its head."""
    head = head_read(path)
    encoding = head_encoding_detect(head)
    text = head_text(head, encoding=encoding)
    return separators_detect(text, encoding=encoding, truncated=len(head) == SNIFF_BYTES)


def separators_detect(sample: str, *, encoding: str, truncated: bool) -> CsvDialect:
    """Guess the delimiter and quote character from decoded text at the start of the file."""
    # A cut last line would skew the field counts that the sniffer compares.
    if truncated and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS)
    except csv.Error:
        # The sniffer wants a separator that every sampled line uses equally often, which a
        # file with ragged rows lacks. The header then decides, so that the parse reports
        # the ragged rows by line.
        return CsvDialect(encoding=encoding, delimiter=_header_delimiter(sample))
    sniffed_quote = sniffed.quotechar or '"'
    quotechar = sniffed_quote if sniffed_quote in CSV_QUOTECHARS else '"'
    return CsvDialect(encoding=encoding, delimiter=sniffed.delimiter, quotechar=quotechar)


def _header_delimiter(sample: str) -> str:
    """Return the candidate separator found most often on the first line, comma on a tie or none."""
    first_line = sample.split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] > counts[","] else ","
