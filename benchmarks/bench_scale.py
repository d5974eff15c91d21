"""Scale-out benchmark: fit a crossed random-effects model with a random slope from Parquet
on a Dask cluster, and the in-memory path on a subset for comparison.

    python benchmarks/bench_scale.py                       # 20 million rows (the issue's size)
    python benchmarks/bench_scale.py --rows 1000000 --h-levels 500

Writes the data set in chunks (one Parquet file per chunk, never the whole table in memory):
subjects g (default 200,000 levels) crossed with items h (default 5,000 levels), a covariate
x with a random slope by subject, y = 1 + 0.5 x + u_g + w_g x + v_h + ε. Fits
`y ~ x + (1 + x | g) + (1 | h)` with `mixedfx.lmer(..., data="dir/*.parquet", client=...)`
on a LocalCluster and reports the time, the driver's peak resident memory, the workers' peak
resident memory, and the in-memory `lmer` time on the first `--subset` rows.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

FORMULA = "y ~ x + (1 + x | g) + (1 | h)"


def peak_rss_mib() -> float:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_data(out: Path, rows: int, chunk: int, g_levels: int, h_levels: int,
               seed: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    u = rng.normal(size=g_levels)
    w = 0.3 * rng.normal(size=g_levels)
    v = 0.5 * rng.normal(size=h_levels)
    for i, start in enumerate(range(0, rows, chunk)):
        m = min(chunk, rows - start)
        r = np.random.default_rng([seed, i])
        g = r.integers(0, g_levels, m)
        h = r.integers(0, h_levels, m)
        x = r.normal(size=m)
        y = 1 + 0.5 * x + u[g] + w[g] * x + v[h] + r.normal(size=m)
        table = pa.table({"g": g, "h": h, "x": x, "y": y})
        pq.write_table(table, out / f"part-{i:05d}.parquet")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000_000)
    ap.add_argument("--chunk", type=int, default=500_000, help="rows per Parquet file")
    ap.add_argument("--g-levels", type=int, default=200_000)
    ap.add_argument("--h-levels", type=int, default=5_000)
    ap.add_argument("--subset", type=int, default=2_000_000,
                    help="rows of the in-memory comparison fit (0: skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="threads per worker")
    ap.add_argument("--out", type=Path, default=Path("bench_scale_data"))
    ap.add_argument("--keep", action="store_true", help="reuse / keep the Parquet files")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--maxeval", type=int, default=None,
                    help="cap the optimizer's evaluations (both fits): a memory / per-"
                         "evaluation-time run on a busy machine; the fit is then unconverged")
    args = ap.parse_args(argv)

    import mixedfx as mfx
    from distributed import Client, LocalCluster

    control = None if args.maxeval is None else {"maxeval": args.maxeval}
    t0 = time.perf_counter()
    if not (args.keep and args.out.exists()):
        write_data(args.out, args.rows, args.chunk, args.g_levels, args.h_levels, args.seed)
    t_write = time.perf_counter() - t0
    print(f"data: {args.rows:,} rows, g {args.g_levels:,} x h {args.h_levels:,} levels, "
          f"{len(list(args.out.glob('*.parquet')))} Parquet files; written in {t_write:.1f} s")

    warnings.simplefilter("ignore")
    with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                      processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        t0 = time.perf_counter()
        m = mfx.lmer(FORMULA, str(args.out / "*.parquet"), client=client, control=control)
        t_dask = time.perf_counter() - t0
        driver_peak = peak_rss_mib()
        workers_peak = client.run(peak_rss_mib)
    info = m.optimizer_info
    print(f"Dask fit ({args.workers} workers x {args.threads} thread): {t_dask:.1f} s, "
          f"{info['evaluations']} deviance evaluations, {info['distributed_passes']} passes "
          "over the data")
    print("  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in info["timings"].items()))
    print(f"  driver peak RSS {driver_peak:,.0f} MiB; workers' peak RSS "
          + ", ".join(f"{v:,.0f}" for v in workers_peak.values()) + " MiB")
    print(f"  logLik {m.loglik:.4f}; fixef {dict(m.fixef.round(5))}; theta "
          f"{np.round(m.theta, 5).tolist()}")
    print(f"  optimizer: {info['optimizer']} {info['return_code']}, converged "
          f"{info['converged']}; messages {info['messages'] or 'none'}")
    if args.subset:
        files = sorted(args.out.glob("*.parquet"))
        parts, n = [], 0
        for f in files:
            if n >= args.subset:
                break
            parts.append(pd.read_parquet(f))
            n += len(parts[-1])
        df = pd.concat(parts, ignore_index=True).iloc[:args.subset]
        t0 = time.perf_counter()
        m_mem = mfx.lmer(FORMULA, df, control=control)
        t_mem = time.perf_counter() - t0
        t_mem_opt = t_mem
        print(f"in-memory fit of the first {len(df):,} rows: {t_mem:.1f} s "
              f"(process peak RSS now {peak_rss_mib():,.0f} MiB); logLik {m_mem.loglik:.4f}")
    else:
        t_mem, df = float("nan"), []
    timings = info["timings"]
    phases = " + ".join(f"{timings[k]:.0f}" for k in ("levels_pass", "crossproducts_pass",
                                                       "optimization") if k in timings)
    print("\n| rows | g × h levels | Dask fit (levels pass + cross-products pass + "
          "optimization) | driver peak RSS | workers' peak RSS | in-memory fit, subset |")
    print("|---|---|---|---|---|---|")
    mem = (f"{t_mem:.0f} s on {len(df):,} rows ({m_mem.optimizer_info['evaluations']} "
           f"evaluations, ≈{t_mem_opt / m_mem.optimizer_info['evaluations']:.1f} s each)"
           if args.subset else "skipped")
    per_eval = timings["optimization"] / info["evaluations"]
    phases += f" s; {per_eval:.1f} s per evaluation"
    print(f"| {args.rows:,} | {args.g_levels:,} × {args.h_levels:,} | {t_dask:.0f} s "
          f"({phases}; {info['evaluations']} evaluations) | {driver_peak:,.0f} MiB | "
          + " / ".join(f"{v:,.0f}" for v in workers_peak.values()) + f" MiB | {mem} |")
    if not args.keep:
        shutil.rmtree(args.out)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
