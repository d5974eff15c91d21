"""The `mixedfx` command line."""
