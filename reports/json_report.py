"""The JSON document of CHECKS.md (schema_version 1): written by `run`, read by `report`."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from amt_preflight import model
from amt_preflight.model import RunResult

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

# Beside model.py, not through importlib.resources: importlib.resources fails on a namespace
# package under an editable install (Python 3.11), and this path holds in every install.
SCHEMA_PATH = Path(model.__file__).with_name("schemas") / "run-result-1.json"
# jsonschema quotes the offending value, which may be a whole section of the document.
_MESSAGE_LIMIT = 200


class ReportInputError(ValueError):
    """A saved run that cannot be read: missing, not JSON, or not schema_version 1."""


# One result's line. One encoder for them all: json.dumps with arguments makes a new one per
# call, and a survey of 1,000 domains has some 4,000 results.
_RESULT_LINE = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "))


def render(run: RunResult) -> str:
    """JSON in the key order of CHECKS.md, non-ASCII kept as is: the run indented, each
    result on one line (json's C encoder does not indent, and a big survey has thousands)."""
    document = run.to_json()
    results = document.pop("results")  # the last key, by the contract's order
    head = json.dumps(document, indent=2, ensure_ascii=False)
    body = ",\n    ".join(map(_RESULT_LINE.encode, results))
    text = head[:-2] + (f',\n  "results": [\n    {body}\n  ]\n}}\n' if results
                        else ',\n  "results": []\n}\n')
    # A lone surrogate (bytes decoded with surrogateescape) cannot be written as UTF-8; as a
    # \udcXX JSON escape it can, and it loads back as the same string.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a schema_version 1 document."""
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    # Imported here: only `report` reads JSON, and `run --format json` should not pay for it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


def load(source: str | os.PathLike[str]) -> RunResult:
    """Read a saved run: a path, or a str holding the JSON document itself (it starts with
    `{`). The document is validated against the schema before it is trusted."""
    if isinstance(source, str) and source.lstrip().startswith("{"):
        name, text = "<json text>", source
    else:
        path = Path(source)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportInputError(f"{name}: cannot read the run: {exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportInputError(
            f"{name}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    from jsonschema.exceptions import best_match

    problem = best_match(_validator().iter_errors(doc))
    if problem is not None:
        raise ReportInputError(
            f"{name}: not an amt-preflight run (schema_version 1): "
            f"at {problem.json_path}: {_shorten(problem.message)}"
        )
    return RunResult.from_json(doc)


def _shorten(message: str) -> str:
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"
