"""One manifest writer for the graph tools: set a top-level entry of an artifact's manifest.json."""

import json
from pathlib import Path


def set_entry(path: Path, key: str, entry: dict) -> None:
    """Sets the manifest's `key` entry (in its place, or last when new), keeping every other key."""
    manifest = json.loads(path.read_text())
    manifest[key] = entry
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
