"""Runs the Python blocks of one Markdown page, as a reader would: ``python doc_blocks.py PAGE``.

The blocks of a page run in order in one namespace, in the current directory (the test gives a
fresh one holding a throwaway key). A block whose first line names a file (``# app.py``) is
written to that file instead, importable by the blocks after it; the test files among them
(``# test_*.py``) are then run by pytest. A block whose first line is ``# not run: REASON`` is
only compiled: the reason is there for the reader to see. Tracebacks point at the page's lines.
A page fails too when its apps log a warning of the route check (a rule or ``clear_on`` pattern
no route of the app reaches), as a reader running them would see it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")
_FILE = re.compile(r"# (?P<name>[\w/]+\.py)\Z")
NOT_RUN = "# not run:"


@dataclass(frozen=True)
class Block:
    """One fenced Python block: its first line's number in the page (1-based) and its code."""

    line: int
    code: str

    @property
    def first_line(self) -> str:
        return self.code.split("\n", 1)[0].strip()

    @property
    def file(self) -> str | None:
        found = _FILE.fullmatch(self.first_line)
        return found.group("name") if found else None

    @property
    def not_run_reason(self) -> str | None:
        first = self.first_line
        return first.removeprefix(NOT_RUN).strip() if first.startswith(NOT_RUN) else None


def python_blocks(text: str) -> list[Block]:
    """The fenced blocks whose info string names Python (``python``, ``py``, ``pycon`` is not),
    dedented by their fence's indent (blocks inside lists, admonitions and tabs)."""
    lines = text.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        language = (opening.group("info").split() or [""])[0]
        body, j = [], i + 1
        while j < len(lines) and not (
            lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""
        ):
            body.append(lines[j].removeprefix(indent))
            j += 1
        if language in ("python", "py"):
            blocks.append(Block(i + 2, "\n".join(body) + "\n"))
        i = j + 1
    return blocks


def run_page(page: Path) -> int:
    """Run ``page``'s blocks; non-zero when its test files fail or the route check warned."""
    warned: list[logging.LogRecord] = []
    check = logging.getLogger("cfcookie_middleware.routes")
    check.addHandler(_Collect(warned))
    status = _run_blocks(page)
    for record in warned:
        print(f"{page}: the route check warned: {record.getMessage()}", file=sys.stderr)
    return status or int(bool(warned))


class _Collect(logging.Handler):
    """Keeps every warning the route check logs."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.WARNING)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _run_blocks(page: Path) -> int:
    """Run ``page``'s blocks; the exit status of its test files' pytest run, else 0."""
    sys.path.insert(0, str(Path.cwd()))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    tests: list[str] = []
    for block in python_blocks(page.read_text(encoding="utf-8")):
        # Padding puts the code at its own line numbers, so tracebacks show the page's lines.
        code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
        if block.not_run_reason is not None:
            if not block.not_run_reason:
                raise SystemExit(f"{page}:{block.line}: '# not run:' needs a reason after it")
            continue
        if block.file is not None:
            target = Path(block.file)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
            if target.name.startswith("test_"):
                tests.append(block.file)
            continue
        exec(code, namespace)
    if not tests:
        return 0
    import pytest

    return int(pytest.main(["-q", "-p", "no:cacheprovider", "-W", "error", *tests]))


@contextmanager
def moto_kms(alias: str) -> Iterator[None]:
    """moto's KMS in this process, with an RSA_2048 signing key behind ``alias``."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        kms = boto3.client("kms")
        key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key)
        yield


def main(argv: list[str]) -> int:
    page, *flags = argv
    with ExitStack() as stack:
        for flag in flags:
            stack.enter_context(moto_kms(flag.removeprefix("--moto-kms=")))
        return run_page(Path(page).resolve())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
