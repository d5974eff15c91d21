"""`python -m mixedfx ...`: the same command-line tool as the `mixedfx` script."""

from mixedfx.cli.main import run

if __name__ == "__main__":
    raise SystemExit(run())
