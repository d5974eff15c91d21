"""Reading `--data` for the command line: a bundled data set or a CSV / TSV / Parquet file.

Every way the input can be unusable becomes a `CliError` with one line saying what is wrong
and what to do: a path that is not a regular file (a directory, /dev/null, /dev/zero: refused
before a byte is read, so a device cannot be read for ever), an empty file, bytes that are not
in the chosen `--encoding` (default UTF-8), a file that is not Parquet although named so, a
CSV the parser cannot read. The delimiter of a CSV is detected from its first 64 KiB (comma,
semicolon, tab or bar, Python's `csv.Sniffer`) unless `--sep` gives it; a file read into a
single column whose name holds a `;` or a tab is refused with a suggestion of `--sep`.
"""

from __future__ import annotations

import codecs
import csv
import stat
from pathlib import Path

import pandas as pd

from mixedfx import datasets
from mixedfx.errors import MixedfxError, did_you_mean

SNIFF_BYTES = 64 * 1024
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".gz", ".parquet", ".pq")
_DELIMITERS = ",;\t|"


class CliError(Exception):
    """A usage or input error of the command line: printed as one line, exit status 2."""


def load_data(source: str, sep: str | None = None, encoding: str = "utf-8") -> pd.DataFrame:
    """A bundled data set by name, or a CSV / TSV / Parquet file by path (see the module
    docstring); the frame's `attrs["name"]` is the data set name or the file's stem."""
    if not source.strip():
        raise CliError("--data is empty; give a bundled data set name (mixedfx datasets) or "
                       "the path of a CSV / Parquet file")
    path = Path(source)
    try:
        on_disk = path.exists() or path.is_symlink()
    except OSError as exc:                   # a name too long for the file system, ...
        raise CliError(f"--data {source[:80]!r}{'...' if len(source) > 80 else ''}: cannot "
                       f"read it ({exc.strerror or exc})") from None
    if on_disk or path.suffix.lower() in DATA_SUFFIXES or "/" in source or "\\" in source:
        df = read_file(path, source, sep, encoding)
        df.attrs["name"] = path.stem
        return df
    try:
        df = datasets.load(source)
    except MixedfxError:
        names = datasets.names()
        raise CliError(f"--data {source!r} is neither a file nor a bundled data set"
                       f"{did_you_mean(source, names)}; bundled: {', '.join(names)}") from None
    df.attrs["name"] = source
    return df


def read_file(path: Path, source: str, sep: str | None, encoding: str) -> pd.DataFrame:
    """Read a regular file as Parquet (by suffix or its PAR1 magic number) or as text."""
    _check_regular_file(path, source)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise CliError(f"--encoding {encoding!r} is not a known text encoding (e.g. utf-8, "
                       "latin-1, cp1252)") from None
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise CliError(f"--data {source!r} is an empty file")
    if path.suffix.lower() in (".parquet", ".pq") or head[:4] == b"PAR1":
        return _read_parquet(path, source)
    if path.suffix.lower() == ".gz":
        return _read_text(path, source, sep or ",", encoding)
    if sep is None:
        sep = "\t" if path.suffix.lower() == ".tsv" else _sniff(head, encoding)
    return _read_text(path, source, sep, encoding)


def _check_regular_file(path: Path, source: str) -> None:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CliError(f"--data {source!r}: no such file") from None
    except OSError as exc:
        raise CliError(f"--data {source!r}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise CliError(f"--data {source!r} is a directory; give a CSV or Parquet file (a "
                       "directory of Parquet files needs the Python API with Dask)")
    if not stat.S_ISREG(st.st_mode):
        kind = "a character device" if stat.S_ISCHR(st.st_mode) else \
            "a pipe" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
        raise CliError(f"--data {source!r} is {kind}; give a CSV or Parquet file")


def _sniff(head: bytes, encoding: str) -> str:
    """The delimiter of the first complete lines of `head` (comma when unsure)."""
    text = head.decode(encoding, errors="replace")
    lines = text.splitlines()
    sample = "\n".join(lines[:-1] if len(lines) > 1 and len(head) == SNIFF_BYTES else lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _read_text(path: Path, source: str, sep: str, encoding: str) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep=sep, encoding=encoding)
    except UnicodeDecodeError as exc:
        raise CliError(f"--data {source!r} is not valid {encoding} text (it holds the byte "
                       f"0x{exc.object[exc.start]:02x}); save it as UTF-8 or pass its "
                       "encoding, e.g. --encoding latin-1") from None
    except pd.errors.EmptyDataError:
        raise CliError(f"--data {source!r} holds no columns (an empty or blank file)") from None
    except (pd.errors.ParserError, ValueError, OSError, EOFError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"--data {source!r} could not be read as delimited text "
                       f"(sep={sep!r}): {first}; check the file or pass --sep") from None
    if df.shape[1] == 1:
        name = str(df.columns[0])
        other = next((d for d in ";\t|," if d != sep and d in name), None)
        if other is not None:
            raise CliError(f"--data {source!r} was read as one column {name[:60]!r}: its "
                           f"fields look separated by {other!r}; pass --sep {other!r}")
    return df


def _read_parquet(path: Path, source: str) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise CliError("reading Parquet needs pyarrow: pip install pyarrow") from None
    except Exception as exc:  # pyarrow's errors have no common base: report any as bad input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"--data {source!r} is not a readable Parquet file: {first}") from None
