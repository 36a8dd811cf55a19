"""Reads a rubric file. The one place rubric YAML touches the disk."""

from __future__ import annotations

from pathlib import Path

import yaml

from models.rubric import Rubric, RubricError, parse_rubric


def load_rubric(path: Path) -> Rubric:
    """Returns the validated rubric or raises RubricError naming the file, key and rule."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RubricError(f"{path}: cannot read the rubric file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RubricError(f"{path}: not valid YAML: {exc}") from exc
    return parse_rubric(data, str(path))
