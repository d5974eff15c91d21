"""The version of mixedfx (as in pyproject.toml); model files record it (`fitted.saving`)."""

__version__ = "0.1.0"
