"""Sentences a person could read that are not in the message catalogue: English written
straight into the code instead of through bot.i18n's `_()`, `ngettext()`, `pgettext()`
or `N_()`.

A sentence here is a string of at least two words, or one capitalized word (a button's
label), outside those calls, a docstring, a log call, a statement marked `# not spoken`,
and the modules that speak only to operators (the command line, settings, metrics, the
processes' plumbing). An f-string inside `_()` is one too: the catalogue cannot hold it.
Run `python -m tests.untranslated [path ...]` to list them.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OPERATORS_ONLY = frozenset(
    {
        "bot/cli.py",
        "bot/settings.py",
        "bot/metrics.py",
        "bot/supervisor.py",
        "bot/worker.py",
        "bot/logs.py",
        "bot/queue.py",
        "bot/lease.py",
        "bot/wiring.py",
        "bot/runtime.py",
        "bot/i18n.py",
        "bot/crypto.py",
    }
)
"""Modules whose words only an operator reads (the terminal, the logs, /metrics)."""

MARKERS = frozenset({"_", "ngettext", "pgettext", "N_"})
PRAGMA = "# not spoken"
_BLOCKS = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.If,
    ast.For,
    ast.While,
    ast.With,
    ast.Try,
    ast.Match,
)
_SPOKEN = re.compile(r"[a-z]{2,}\s+[A-Za-z]{2,}|[A-Za-z]{2,}\s+[a-z]{2,}")
_LABEL = re.compile(r"[A-Z][a-z]+[.!?…]?")  # a button's or a field's one word: "Retry"

NOT_SPOKEN = frozenset({"Authorization", "Bearer", "Cf", "Mn", "Redis", "Roost", "Signing"})
"""Single words that are names or protocol, not Roost's speech (HTTP headers, Unicode
categories, names)."""


@dataclass(frozen=True)
class Found:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r}"


def sentences(path: Path) -> Iterator[Found]:
    """The sentences in the module that the catalogue does not hold."""
    relative = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for statement in body:  # docstrings, and the strings that document attributes
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    skipped.add(id(statement.value))
        if isinstance(node, ast.Call) and _is_log(node):
            skipped.update(id(inner) for inner in ast.walk(node))
        if isinstance(node, ast.Call) and _called(node) in MARKERS:
            for argument in node.args:
                if isinstance(argument, ast.JoinedStr):
                    yield Found(relative, node.lineno, "an f-string in " + _called(node) + "()")
                skipped.update(id(inner) for inner in ast.walk(argument))
        if isinstance(node, ast.Assert):
            skipped.update(id(inner) for inner in ast.walk(node))
    lines = path.read_text(encoding="utf-8").splitlines()
    for statement in ast.walk(tree):
        if not isinstance(statement, ast.stmt):
            continue
        # "# not spoken" on a statement's lines (a block's: its header's) says its words
        # are names, a library's own, or for the log.
        parts: list[ast.AST] = [statement]
        last = statement.end_lineno or statement.lineno
        if isinstance(statement, _BLOCKS):
            parts = [
                value
                for name in ("test", "iter", "target", "items", "subject", "decorator_list")
                for value in _as_list(getattr(statement, name, None))
            ]
            last = statement.body[0].lineno - 1 if statement.body else statement.lineno
        if any(
            PRAGMA in line for line in lines[statement.lineno - 1 : max(last, statement.lineno)]
        ):
            skipped.update(id(inner) for part in parts for inner in ast.walk(part))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skipped and _spoken(node.value):
                yield Found(relative, node.lineno, node.value)


def _spoken(text: str) -> bool:
    word = text.strip()
    if _LABEL.fullmatch(word):
        return word not in NOT_SPOKEN
    return bool(_SPOKEN.search(text))


def _as_list(value: object) -> list[ast.AST]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, ast.AST)]
    return [value] if isinstance(value, ast.AST) else []


def _called(node: ast.Call) -> str:
    function = node.func
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return ""


def _is_log(node: ast.Call) -> bool:
    function = node.func
    return (
        isinstance(function, ast.Attribute)
        and isinstance(function.value, ast.Name)
        and function.value.id in ("logger", "logging", "log")
    )


def modules(paths: list[str] | None = None) -> list[Path]:
    """The modules whose words people read: bot/ and handlers/, less OPERATORS_ONLY."""
    if paths:
        return [(ROOT / p).resolve() for p in paths]
    found = sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")])
    return [p for p in found if p.relative_to(ROOT).as_posix() not in OPERATORS_ONLY]


def untranslated(paths: list[str] | None = None) -> list[Found]:
    return [found for path in modules(paths) for found in sentences(path)]


if __name__ == "__main__":
    left = untranslated(sys.argv[1:] or None)
    for found in left:
        print(found)
    print(f"{len(left)} sentences outside the catalogue")
