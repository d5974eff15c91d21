"""`python -m mixedfx ...`: the same command-line tool as the `mixedfx` script."""

from mixedfx.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
