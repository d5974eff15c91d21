"""mkdocs hook: publish the runnable scripts of `examples/` with the site, so that the
Examples page links to the very files the test suite runs (`mkdocs build --strict` then checks
those links like any other)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def on_files(files: Files, config: Any) -> Files:
    """Add every `examples/*.py` as a static file under `examples/` of the site."""
    for script in sorted(EXAMPLES.glob("*.py")):
        files.append(File(f"examples/{script.name}", src_dir=str(EXAMPLES.parent),
                          dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
