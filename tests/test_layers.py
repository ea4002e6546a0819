"""The architecture as a test: every import points down the layers of DESIGN.md.

Bottom to top: storage; core; the X and Slack plumbing (which know nothing of each
other); the domains team, inbox, outbound, surge, then posts and digest (side by side);
the App Home; handlers; the process edges. A module may import its own group and
anything below it, never beside or above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

LAYERS: list[tuple[str, ...]] = [
    ("storage",),
    # core
    (
        "bot.errors",
        "bot.clock",
        "bot.words",
        "bot.logs",
        "bot.rate_limits",
        "bot.plans",
        "bot.i18n",
    ),
    ("bot.settings",),
    ("bot.crypto", "bot.lease", "bot.queue"),
    ("bot.worker",),
    ("bot.runtime",),
    # plumbing
    ("bot.x", "bot.slack"),
    ("bot.networks",),  # the seam, which counts X's text as bot.x does
    # domains
    ("bot.team",),
    ("bot.inbox",),
    ("bot.outbound",),
    ("bot.surge",),
    ("bot.posts", "bot.digest"),
    # what shows every domain at once
    ("bot.help",),
    ("bot.home",),
    # entry points
    ("handlers",),
    ("bot.metrics", "bot.sweep", "bot.supervisor"),
    ("bot.app", "bot.wiring"),
    ("bot.web",),
    ("bot.cli",),
]
"""Bottom to top. Each entry is one layer; the groups in it may not import each other."""


def group_of(module: str) -> tuple[int, str]:
    """(layer, group) of a module: the longest group name it falls under."""
    found = [
        (len(name), layer, name)
        for layer, names in enumerate(LAYERS)
        for name in names
        if module == name or module.startswith(name + ".")
    ]
    assert found, f"{module} belongs to no layer: add its package to LAYERS"
    _, layer, name = max(found)
    return layer, name


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("bot", "handlers", "storage")}


def project_modules() -> dict[str, Path]:
    modules = {}
    for root in ("bot", "handlers", "storage"):
        for path in (REPO_ROOT / root).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def test_every_import_points_down_the_layers() -> None:
    modules = project_modules()
    wrong = []
    for module, path in sorted(modules.items()):
        if module in ("bot", "handlers", "storage"):
            continue  # the packages' own docstrings
        layer, group = group_of(module)
        for target in imports_of(path):
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]  # `from bot.x import client`: a name
            if target not in modules or target == "bot" or group_of(target)[1] == group:
                continue
            target_layer, target_group = group_of(target)
            if target_layer >= layer:
                wrong.append(f"{module} imports {target} ({group} may not use {target_group})")
    assert wrong == []


def test_every_module_has_a_layer() -> None:
    for module in project_modules():
        if module not in ("bot", "handlers", "storage"):
            group_of(module)
