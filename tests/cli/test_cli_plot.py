"""`mixedfx fit ... --plot KIND FILE` writes the plot after the summary."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

from mixedfx.cli.main import main

matplotlib.use("Agg")


@pytest.mark.parametrize("kind", ["caterpillar", "diagnostics", "check"])
def test_fit_plot_writes_png(tmp_path: Path, kind: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{kind}.png"
    rc = main(["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy",
               "--plot", kind, str(out)])
    assert rc == 0
    captured = capsys.readouterr()
    assert "Linear mixed model fit by REML" in captured.out
    assert f"wrote {kind} plot" in captured.err
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.shape[0] > 200 and img.shape[1] > 200
    assert img[..., :3].std() > 0.05           # not a blank canvas


def test_fit_plot_refuses_unknown_kind(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["fit", "Yield ~ 1 + (1 | Batch)", "--data", "Dyestuff",
               "--plot", "pie", str(tmp_path / "x.png")])
    assert rc == 2
    assert "unknown plot 'pie'" in capsys.readouterr().err
