"""`mixedfx fit FORMULA --data NAME_OR_PATH [--ml] [--family F] [--json] [--plot KIND PNG]`:
fit and print (and draw: `--plot caterpillar|diagnostics|check out.png`, needs mixedfx[plot]).

`--data` is a bundled data set name (`mixedfx.datasets.names()`) or a CSV / Parquet file
(see `mixedfx.cli.data`). The summary is printed as lme4 prints it; `--json` prints the
machine-readable record instead.

Exit status: 0 on success; 2 for every usage or input error (a bad option, an option that does
not apply to the model, unreadable data, a formula or data the model refuses), reported as one
line `mixedfx: error: ...` on stderr without a traceback; 1 for an unexpected internal error
(also one line); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import warnings
from pathlib import Path

import pandas as pd

from mixedfx import datasets, plots
from mixedfx.api import glmer, glmer_nb, lmer
from mixedfx.cli.data import CliError, load_data
from mixedfx.errors import FormulaError, MixedfxError
from mixedfx.plots import PlotDependencyError
from mixedfx.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are raised (one line, exit 2) instead of printed with the
    usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see mixedfx {self.prog.split()[-1]} --help)"
                       if " " in self.prog else f"{message} (see mixedfx --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mixedfx", description="Mixed-effects models with lme4's formulas.")
    parser.add_argument("--version", action="version", version=f"mixedfx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit a model and print its summary")
    fit.add_argument("formula", help="lme4 formula, e.g. 'Reaction ~ Days + (Days | Subject)'")
    fit.add_argument("--data", required=True,
                     help="bundled data set name or path to a CSV / Parquet file")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--family", default="gaussian",
                     help="gaussian (lmer, default), binomial, poisson, Gamma, "
                          "inverse_gaussian or negative_binomial (glmer / glmer_nb)")
    fit.add_argument("--link", default=None, help="link function (default: the family's)")
    fit.add_argument("--nagq", type=int, default=None,
                     help="glmer: 1 = Laplace (default), >1 adaptive Gauss-Hermite (at most "
                          "100), 0 fast")
    fit.add_argument("--weights", default=None, help="column of prior weights")
    fit.add_argument("--sep", default=None,
                     help="field separator of a text file (default: detected; e.g. ';')")
    fit.add_argument("--encoding", default="utf-8",
                     help="text encoding of a CSV file (default utf-8; e.g. latin-1)")
    fit.add_argument("--json", action="store_true", help="print machine-readable JSON")
    fit.add_argument("--plot", nargs=2, metavar=("KIND", "FILE"), default=None,
                     help="also draw KIND (caterpillar, diagnostics or check) to FILE "
                          "(e.g. out.png; needs mixedfx[plot])")
    sub.add_parser("datasets", help="list the bundled data sets")
    return parser


def run() -> int:
    """The `mixedfx` script and `python -m mixedfx`: `main` on the command line's arguments.

    The process ends right after, so every object left is first moved to the garbage
    collector's permanent generation (`gc.freeze()`): the interpreter's exit then skips its
    full cycle collections over the ~80,000 objects numpy, scipy, pandas and mixedfx hold
    (several, each longer than the sleepstudy fit itself: about a fifth of the run's CPU
    time). atexit handlers and the modules' finalization still run; `main` called as a
    function (tests, scripts) leaves the collector alone.
    """
    status = main()
    gc.freeze()
    return status


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    try:
        return _main(argv)
    except CliError as exc:
        return _fail(str(exc))
    except MixedfxError as exc:
        return _fail(exc.reason if isinstance(exc, FormulaError) else str(exc))
    except KeyboardInterrupt:
        print("mixedfx: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, no traceback, a distinct status
        return _fail(f"internal error ({type(exc).__name__}: {exc}); please report it",
                     status=1)


def _fail(message: str, status: int = 2) -> int:
    print(f"mixedfx: error: {' '.join(str(message).split())}", file=sys.stderr)
    return status


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # --help / --version print and exit 0
        return int(exc.code or 0)
    if args.command == "datasets":
        for name in datasets.names():
            print(name)
        return 0
    if args.plot is not None:
        _check_plot_target(*args.plot)
    _check_options(args)
    data = load_data(args.data, sep="\t" if args.sep == "\\t" else args.sep,
                     encoding=args.encoding)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = _fit(args, data)
    for w in caught:
        print(f"mixedfx: warning: {' '.join(str(w.message).split())}", file=sys.stderr)
    if args.json:
        record = model.to_dict()
        record["warnings"] = [str(w.message) for w in caught]
        print(json.dumps(record, indent=2, default=float))
    else:
        print(model.summary())
    if args.plot is not None:
        return _plot(model, *args.plot)
    return 0


def _is_lmm(args: argparse.Namespace) -> bool:
    return args.family.strip().lower() == "gaussian" and args.link in (None, "identity")


def _check_options(args: argparse.Namespace) -> None:
    """Options that do not apply to the model asked for are refused, not ignored."""
    if _is_lmm(args) and args.nagq is not None:
        raise CliError("--nagq applies to generalized models (--family binomial, poisson, ...);"
                       " a gaussian fit (lmer) has no quadrature")
    if not _is_lmm(args) and args.ml:
        raise CliError("--ml applies to linear mixed models; glmer fits are always maximum "
                       "likelihood")
    if args.sep is not None and len(args.sep) != 1 and args.sep != "\\t":
        raise CliError(f"--sep must be one character (e.g. ';' or a tab), got {args.sep!r}")


PLOTS = ("caterpillar", "diagnostics", "check")
# matplotlib's savefig formats (Agg, PDF, PS, SVG, PGF backends)
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".svgz", ".jpg", ".jpeg", ".tif", ".tiff", ".webp",
                 ".eps", ".ps", ".pgf", ".raw", ".rgba")


def _check_plot_target(kind: str, path: str) -> None:
    """Refuse a bad --plot before the fit: an unknown kind, a file type matplotlib cannot
    write, a directory, or a folder that does not exist."""
    if kind not in PLOTS:
        raise CliError(f"unknown plot {kind!r}; choose one of {', '.join(PLOTS)}")
    target = Path(path)
    if target.suffix.lower() not in PLOT_SUFFIXES:
        raise CliError(f"--plot FILE {path!r} must end in an image suffix such as .png, .pdf "
                       f"or .svg (one of {', '.join(PLOT_SUFFIXES)})")
    try:
        if target.is_dir():
            raise CliError(f"--plot FILE {path!r} is a directory; give a file name such as "
                           "out.png")
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise CliError(f"--plot FILE {path!r}: the folder {str(folder)!r} does not exist")
    except OSError as exc:
        raise CliError(f"--plot FILE {path!r}: {exc.strerror or exc}") from None


def _plot(model: object, kind: str, path: str) -> int:
    """Draw one of PLOTS with the Agg backend and save it."""
    try:
        import matplotlib  # optional dependency (mixedfx[plot]): only a plot needs it

        matplotlib.use("Agg")
    except ImportError:
        pass            # the plot function raises PlotDependencyError with the install hint
    draw = {"caterpillar": plots.caterpillar, "diagnostics": plots.diagnostics,
            "check": plots.check_model}[kind]
    try:
        fig = draw(model)
        fig.savefig(path, dpi=100)
    except PlotDependencyError as exc:
        print(f"mixedfx: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"mixedfx: error: could not draw the plot: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"mixedfx: error: could not write the plot: {exc}", file=sys.stderr)
        return 2
    print(f"mixedfx: wrote {kind} plot to {path}", file=sys.stderr)
    return 0


def _fit(args: argparse.Namespace, data: pd.DataFrame) -> object:
    family = args.family.strip()
    nagq = 1 if args.nagq is None else args.nagq
    if _is_lmm(args):
        return lmer(args.formula, data=data, REML=not args.ml, weights=args.weights)
    if family.lower() in ("negative_binomial", "negbin", "nb"):
        return glmer_nb(args.formula, data=data, nAGQ=nagq, weights=args.weights,
                        link=args.link or "log")
    return glmer(args.formula, data=data, family=family, link=args.link, nAGQ=nagq,
                 weights=args.weights)


if __name__ == "__main__":
    sys.exit(run())
