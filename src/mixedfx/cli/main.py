"""`mixedfx fit FORMULA --data NAME_OR_PATH [--ml] [--family F] [--json] [--plot KIND PNG]`:
fit and print (and draw: `--plot caterpillar|diagnostics|check out.png`, needs mixedfx[plot]).

`--data` is a bundled data set name (`mixedfx.datasets.names()`) or a CSV / Parquet file.
The summary is printed as lme4 prints it; `--json` prints the machine-readable record instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import pandas as pd

from mixedfx import datasets


def load_data(source: str) -> pd.DataFrame:
    """A bundled data set by name, or a CSV / Parquet file by path."""
    path = Path(source)
    if path.suffix.lower() in (".csv", ".gz", ".parquet", ".pq", ".tsv") or path.exists():
        if not path.exists():
            raise SystemExit(f"mixedfx: data file not found: {source}")
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ",")
        df.attrs["name"] = path.stem
        return df
    try:
        df = datasets.load(source)
    except ValueError as exc:
        raise SystemExit(f"mixedfx: {exc}") from None
    df.attrs["name"] = source
    return df


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixedfx",
                                     description="Mixed-effects models with lme4's formulas.")
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
    fit.add_argument("--nagq", type=int, default=1,
                     help="glmer: 1 = Laplace (default), >1 adaptive Gauss-Hermite, 0 fast")
    fit.add_argument("--weights", default=None, help="column of prior weights")
    fit.add_argument("--json", action="store_true", help="print machine-readable JSON")
    fit.add_argument("--plot", nargs=2, metavar=("KIND", "FILE"), default=None,
                     help="also draw KIND (caterpillar, diagnostics or check) to FILE "
                          "(e.g. out.png; needs mixedfx[plot])")
    sub.add_parser("datasets", help="list the bundled data sets")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "datasets":
        for name in datasets.names():
            print(name)
        return 0
    if args.plot is not None and args.plot[0] not in PLOTS:
        print(f"mixedfx: error: unknown plot {args.plot[0]!r}; choose one of "
              f"{', '.join(PLOTS)}", file=sys.stderr)
        return 2
    data = load_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = _fit(args, data)
        except (ValueError, TypeError, RuntimeError) as exc:
            print(f"mixedfx: error: {exc}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"mixedfx: warning: {w.message}", file=sys.stderr)
    if args.json:
        record = model.to_dict()
        record["warnings"] = [str(w.message) for w in caught]
        print(json.dumps(record, indent=2, default=float))
    else:
        print(model.summary())
    if args.plot is not None:
        return _plot(model, *args.plot)
    return 0


PLOTS = ("caterpillar", "diagnostics", "check")


def _plot(model: object, kind: str, path: str) -> int:
    """Draw one of PLOTS with the Agg backend and save it."""
    from mixedfx.plots import PlotDependencyError
    from mixedfx.plots._mpl import INSTALL_HINT

    try:
        import matplotlib

        matplotlib.use("Agg")
        from mixedfx import plots

        draw = {"caterpillar": plots.caterpillar, "diagnostics": plots.diagnostics,
                "check": plots.check_model}[kind]
        fig = draw(model)
        fig.savefig(path, dpi=100)
    except (PlotDependencyError, ImportError):
        print(f"mixedfx: error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"mixedfx: error: could not write the plot: {exc}", file=sys.stderr)
        return 2
    print(f"mixedfx: wrote {kind} plot to {path}", file=sys.stderr)
    return 0


def _fit(args: argparse.Namespace, data: pd.DataFrame) -> object:
    from mixedfx.api import glmer, glmer_nb, lmer

    family = args.family.strip()
    if family.lower() == "gaussian" and args.link in (None, "identity"):
        return lmer(args.formula, data=data, REML=not args.ml, weights=args.weights)
    if family.lower() in ("negative_binomial", "negbin", "nb"):
        return glmer_nb(args.formula, data=data, nAGQ=args.nagq, weights=args.weights,
                        link=args.link or "log")
    return glmer(args.formula, data=data, family=family, link=args.link, nAGQ=args.nagq,
                 weights=args.weights)


if __name__ == "__main__":
    sys.exit(main())
