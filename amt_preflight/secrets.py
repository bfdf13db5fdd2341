"""Reading the secrets that config.yaml points at, for every area that needs one.

A secret is never written in the config: `*_env` names an environment variable, `*_file` a
file that holds it (relative to the config's folder). A value read here goes only to the
protocol that needs it; what may be shown anywhere is its `source`, and an error names the
variable or file, never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from amt_preflight.config import Config, SecretRef


class SecretError(Exception):
    """A configured secret cannot be read; the message names where it was looked for."""


@dataclass(frozen=True)
class Secret:
    value: str = field(repr=False)  # never in a repr, a log line or a traceback
    source: str  # "$SNMP_COMMUNITY" or "file secrets/community.txt": safe to show


def read_secret(
    ref: SecretRef, config: Config, key: str, environ: Mapping[str, str] | None = None
) -> Secret:
    """The secret `ref` points at: the environment variable when it is set, else the file.

    `key` is the config key's stem ("community", "auth_key") for the messages. A file's one
    trailing line break is not part of the secret. An empty secret is an error: it is a
    forgotten export more often than a real empty password.
    """
    env = os.environ if environ is None else environ
    problems = []
    if ref.env is not None:
        value = env.get(ref.env)
        if value:
            return Secret(value, f"${ref.env}")
        problems.append(f"{key}_env: {ref.env} is {'empty' if value == '' else 'not set'}")
    if ref.file is not None:
        path = config.resolve(ref.file)
        try:
            value = _read(path)
        except OSError as exc:
            problems.append(f"{key}_file: cannot read {path}: {exc.strerror or exc}")
        except UnicodeDecodeError:
            problems.append(f"{key}_file: {path} is not UTF-8 text")
        else:
            if value:
                return Secret(value, f"file {ref.file}")
            problems.append(f"{key}_file: {path} is empty")
    if not problems:
        problems.append(f"no {key}_env or {key}_file configured")
    raise SecretError("; ".join(problems))


def _read(path: Path) -> str:
    text = path.read_bytes().decode("utf-8")
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")
