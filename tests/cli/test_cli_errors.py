"""The command line never shows a traceback: every usage or input error is one line on stderr
(`mixedfx: error: ...`) and exit status 2; options that do not apply are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import mixedfx as mfx
from mixedfx.cli.main import main

F = "Yield ~ 1 + (1 | Batch)"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    data = mfx.datasets.load("Dyestuff")
    data.to_csv(d / "ok.csv", index=False)
    data.to_csv(d / "semi.csv", index=False, sep=";")
    data.assign(Batch=data["Batch"].astype(str) + "é").to_csv(d / "latin.csv", index=False,
                                                               encoding="latin-1")
    data.rename(columns={"Yield": "Yéld"}).to_csv(d / "latinhdr.csv", index=False,
                                                   encoding="latin-1")
    (d / "empty.csv").write_bytes(b"")
    (d / "blank.csv").write_text("\n\n")
    (d / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    (d / "text.parquet").write_text("Batch,Yield\nA,1\n")
    (d / "adir").mkdir()
    (d / "adir.png").mkdir()
    (d / "ragged.csv").write_text('a,b\n1,2\n3,"4\n')
    (d / "bad.csv.gz").write_bytes(b"\x1f\x8bnot gzip")
    (d / "garbage.csv").write_bytes(bytes(range(256)) * 20)
    os.symlink(d / "loop.csv", d / "loop.csv")
    return d


def _cases(d: Path) -> list[tuple[str, list[str], str]]:
    """(case, argv, text stderr must contain)."""
    return [
        ("latin-1 data", ["fit", F, "--data", str(d / "latin.csv")], "--encoding latin-1"),
        ("latin-1 header", ["fit", F, "--data", str(d / "latinhdr.csv")], "not valid utf-8"),
        ("empty file", ["fit", F, "--data", str(d / "empty.csv")], "empty file"),
        ("blank file", ["fit", F, "--data", str(d / "blank.csv")], "no columns"),
        ("/dev/null", ["fit", F, "--data", "/dev/null"], "character device"),
        ("/dev/zero", ["fit", F, "--data", "/dev/zero"], "character device"),
        ("a directory", ["fit", F, "--data", str(d / "adir")], "is a directory"),
        ("invalid Parquet", ["fit", F, "--data", str(d / "bad.parquet")], "not a readable Parquet"),
        ("text named .parquet", ["fit", F, "--data", str(d / "text.parquet")], "Parquet"),
        ("semicolon-separated", ["fit", F, "--data", str(d / "semi.csv"), "--sep", ","],
         "pass --sep ';'"),
        ("unterminated quote", ["fit", "a ~ 1 + (1 | b)", "--data", str(d / "ragged.csv")],
         "ragged.csv"),
        ("unknown column", ["fit", "Yield ~ x + (1 | Batch)", "--data", str(d / "ok.csv")],
         "unknown variable 'x'"),
        ("missing file", ["fit", F, "--data", str(d / "nope.csv")], "no such file"),
        ("empty --data", ["fit", F, "--data", ""], "--data is empty"),
        ("symlink loop", ["fit", F, "--data", str(d / "loop.csv")], "loop.csv"),
        ("corrupt gzip", ["fit", F, "--data", str(d / "bad.csv.gz")], "bad.csv.gz"),
        ("random bytes", ["fit", F, "--data", str(d / "garbage.csv")], "garbage.csv"),
        ("unknown data set", ["fit", F, "--data", "Dyestuf"], "did you mean 'Dyestuff'"),
        ("--nagq on a Gaussian fit", ["fit", F, "--data", "Dyestuff", "--nagq", "5"],
         "--nagq applies to generalized models"),
        ("--ml on a GLMM", ["fit", "incidence ~ period + (1 | herd)", "--data", "cbpp",
                            "--family", "poisson", "--ml"], "--ml applies"),
        ("nAGQ beyond 100", ["fit", "incidence ~ period + (1 | herd)", "--data", "cbpp",
                             "--family", "poisson", "--nagq", "1000"], "nAGQ"),
        ("unknown option", ["fit", F, "--data", "Dyestuff", "--bogus"], "--bogus"),
        ("no subcommand", [], "command"),
        ("missing --data", ["fit", F], "--data"),
        ("non-integer --nagq", ["fit", F, "--data", "Dyestuff", "--nagq", "x"], "--nagq"),
        ("unknown family", ["fit", F, "--data", "Dyestuff", "--family", "poison"],
         "did you mean 'poisson'"),
        ("unknown encoding", ["fit", F, "--data", str(d / "ok.csv"), "--encoding", "nope"],
         "--encoding"),
        ("two-character --sep", ["fit", F, "--data", str(d / "ok.csv"), "--sep", ";;"], "--sep"),
        ("unknown plot", ["fit", F, "--data", "Dyestuff", "--plot", "pie", "x.png"], "'pie'"),
        ("model the data refuse", ["fit", F, "--data", "Dyestuff", "--family", "binomial"],
         "response 'Yield'"),
        ("missing weights column", ["fit", F, "--data", "Dyestuff", "--weights", "w"], "'w'"),
        ("empty --data", ["fit", F, "--data", ""], "--data is empty"),
        ("--data name too long for the file system", ["fit", F, "--data", "a" * 5000],
         "File name too long"),
        # a bad --plot target is refused before the fit (no warning line ahead of the error)
        ("--plot to a missing folder", ["fit", F, "--data", "Dyestuff", "--plot", "caterpillar",
                                        str(d / "nope" / "x.png")], "does not exist"),
        ("--plot file without an image suffix", ["fit", F, "--data", "Dyestuff", "--plot",
                                                  "caterpillar", str(d / "x.txt")], ".png"),
        ("--plot to a directory", ["fit", F, "--data", "Dyestuff", "--plot", "caterpillar",
                                   str(d / "adir.png")], "is a directory"),
    ]


CASE_NAMES = [c[0] for c in _cases(Path("."))]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_input_errors_exit_2_with_one_line(case: str, files: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, argv, text = next(c for c in _cases(files) if c[0] == case)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mixedfx: error: "), err
    assert text in lines[0], lines[0]


def test_semicolon_file_is_read_by_detecting_the_delimiter(
        files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", F, "--data", str(files / "semi.csv"), "--json"]) == 0
    assert '"nobs": 30' in capsys.readouterr().out
    assert main(["fit", F, "--data", str(files / "latin.csv"), "--encoding", "latin-1"]) == 0


def test_version_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mixedfx {mfx.__version__}"


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "usage" in capsys.readouterr().out


def test_internal_errors_are_one_line_with_status_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import mixedfx.cli.main as cli

    def boom(*args: object, **kwargs: object) -> pd.DataFrame:
        raise RuntimeError("bug")

    monkeypatch.setattr(cli, "load_data", boom)
    assert main(["fit", F, "--data", "Dyestuff"]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["mixedfx: error: internal error (RuntimeError: bug); "
                                        "please report it"]


@pytest.mark.parametrize("data", ["/dev/zero", "latin"])
def test_a_real_process_shows_no_traceback(data: str, files: Path) -> None:
    """`python -m mixedfx` on /dev/zero is refused at once (no read of the device)."""
    if data == "/dev/zero" and not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    path = data if data.startswith("/") else str(files / "latin.csv")
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(src), os.environ.get("PYTHONPATH", "")])}
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    out = run([sys.executable, "-m", "mixedfx", "fit", F, "--data", path],
              capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
