"""The tiled Cholesky (`mixedfx.lmm.tiled_cholesky`) by number of workers, idle and beside
busy processes: the data for choosing `optimize.threads.EXTRA_WORKER`.

    python benchmarks/bench_tiled.py                         # G's 5,003 rows, 1-5 workers
    python benchmarks/bench_tiled.py --rows 3000 --workers 2,3,4 --repeats 9 --busy 2

Model G (`bench_fit.py --large`) spends ~85% of its CPU time in 53 factorizations of its
5,003² Schur complement (0.85-1.0 CPU-s each). Its busy/idle ratio is then about
(S + P/c_busy) / (S + P/c_idle), with S the serial part, P the factorizations' CPU-seconds
and c the cores the workers get: a dynamic tile queue keeps them busy (idle, c ≈ 2 of 2
cores), so beside a busy process c is set by the scheduler's share of the cores for the
fit's threads. This measures c directly: for each worker count (interleaved, so a change in
the machine's load hits all of them alike) the median and best wall time of one
factorization, the process CPU time, cores = CPU / wall, and busy / idle. The factor's bits
do not depend on the worker count (tests/lmm/test_tiled_cholesky.py); only the time does.
The matrix is a random symmetric diagonally dominant one (the work does not depend on the
values). Measure on a quiet machine: on a loaded one the numbers say nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np


def spd(r: int, seed: int = 1) -> np.ndarray:
    """A symmetric positive definite r×r matrix (diagonally dominant), C-ordered."""
    rng = np.random.default_rng(seed)
    S = rng.uniform(-1.0, 1.0, (r, r)) / r
    S = S + S.T
    S[np.diag_indices(r)] += 4.0
    return S


def measure(S: np.ndarray, workers: list[int], repeats: int) -> dict[int, np.ndarray]:
    """(wall, CPU) of `repeats` factorizations per worker count, interleaved."""
    from mixedfx.lmm import tiled_cholesky
    from mixedfx.optimize import threads

    mod = tiled_cholesky._bound()
    if mod is None:
        raise SystemExit("mixedfx._native.tiled is not built (python setup.py build_ext)")
    P = np.empty_like(S)
    out: dict[int, list[tuple[float, float]]] = {k: [] for k in workers}
    with threads.one_blas_thread():
        for _ in range(repeats):
            for k in workers:
                np.copyto(P, S)
                w0, c0 = time.perf_counter(), time.process_time()
                info = mod.potrf(P, tiled_cholesky.TILE, tiled_cholesky.GROUP, k, False)
                out[k].append((time.perf_counter() - w0, time.process_time() - c0))
                if info != 0:
                    raise SystemExit(f"not positive definite (info {info})")
    return {k: np.array(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5003, help="r (G: 5,003)")
    parser.add_argument("--workers", default="1,2,3,4,5", help="comma-separated counts")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--busy", type=int, default=1,
                        help="busy processes beside the factorizations (0: idle only)")
    args = parser.parse_args(argv)
    workers = [int(k) for k in args.workers.split(",")]
    from mixedfx.lmm import tiled_cholesky
    from mixedfx.optimize import threads

    with threads.blas_threads_for(args.rows):
        default = threads.factor_workers()
    S = spd(args.rows)
    measure(S, workers[:1], 1)                      # bind the kernel, touch the pages
    results = {"idle": measure(S, workers, args.repeats)}
    if args.busy:
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy)]
        try:
            time.sleep(0.5)
            results["busy"] = measure(S, workers, args.repeats)
        finally:
            for h in hogs:
                h.kill()
                h.wait()
    print(f"r = {args.rows}, tiles of {tiled_cholesky.TILE} ({tiled_cholesky.GROUP} per call "
          f"below the diagonal), {args.repeats} repeats, {args.busy} busy process(es); "
          f"factor_workers() here: {default}")
    print("| workers | cond. | wall median | wall best | CPU median | cores | busy / idle |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for k in workers:
        idle_wall = float(np.median(results["idle"][k][:, 0]))
        for cond, by_workers in results.items():
            res = by_workers[k]
            wall, cpu = np.median(res[:, 0]), np.median(res[:, 1])
            ratio = f"{wall / idle_wall:.2f}" if cond == "busy" else ""
            print(f"| {k} | {cond} | {wall:.3f} s | {res[:, 0].min():.3f} s | {cpu:.3f} s | "
                  f"{cpu / wall:.2f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
