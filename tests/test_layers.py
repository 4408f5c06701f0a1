"""The import graph of bot/, handlers/ and store/, read from the source with `ast`: no module may reach itself
through imports, lazy ones (inside functions) included, because a lazy import still ties the two modules
together and only moves the failure to run time."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "store")


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _known(name: str, known: dict[str, Path]) -> str | None:
    """The module a dotted name lives in (`bot.render.runs.card` -> `bot.render.runs`), if it is ours."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that `name` imports, anywhere in its body."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_known(alias.name, known) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                # `from bot import events` imports the module bot.events; `from bot.runs import merge_run` bot.runs
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else _known(base, known)
                if target:
                    found.add(target)
    found.discard(name)
    return found


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    known = modules(root, packages)
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import path per cycle, `[a, b, ..., a]`, found by depth-first search."""
    found: list[list[str]] = []
    done: set[str] = set()
    seen_cycles: set[frozenset[str]] = set()

    def visit(module: str, path: list[str], on_path: set[str]) -> None:
        for target in sorted(graph.get(module, ())):
            if target in on_path:
                cycle = path[path.index(target) :] + [target]
                if frozenset(cycle) not in seen_cycles:
                    seen_cycles.add(frozenset(cycle))
                    found.append(cycle)
            elif target not in done:
                on_path.add(target)
                visit(target, path + [target], on_path)
                on_path.discard(target)
        done.add(module)

    for start in sorted(graph):
        if start not in done:
            visit(start, [start], {start})
    return found


def test_bot_handlers_and_store_import_without_cycles():
    graph = import_graph(ROOT)
    assert {"bot.app", "bot.commands.grammar", "bot.approvals.decisions", "handlers.actions", "store.approvals"} <= set(
        graph
    ), "the graph lost modules it must read"
    assert "bot.events" in graph["bot.approvals.decisions"], "the graph lost edges it must read"
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_a_cycle_is_found_even_through_a_lazy_import(tmp_path):
    for name, text in {
        "bot/__init__.py": "",
        "bot/core.py": "from bot import helpers\n",
        "bot/helpers.py": "def f():\n    from bot.render.view import g\n",
        "bot/render/__init__.py": "",
        "bot/render/view.py": "from ..core import something\n",
        "store/__init__.py": "",
        "store/rows.py": "import bot.helpers\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "handlers").mkdir()
    graph = import_graph(tmp_path)
    assert graph["bot.render.view"] == {"bot.core"}
    assert cycles(graph) == [["bot.core", "bot.helpers", "bot.render.view", "bot.core"]]
    (tmp_path / "bot/render/view.py").write_text("def g():\n    pass\n")
    assert cycles(import_graph(tmp_path)) == []
