"""The shape of the code: stage packages that import one way only, no import cycle, no private
name borrowed from another module, no module too long to read in one sitting.

The import graph is read from the sources with `ast` (every `import` and `from … import`,
those under `TYPE_CHECKING` and inside functions included), so nothing is imported to check it.
`python3 tests/unit/test_architecture.py` prints the figures quoted in the README.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400

# Stages in pipeline order. A module may import from its own stage and from earlier ones only.
# report and backend are siblings: neither imports the other.
STAGES: tuple[tuple[str, ...], ...] = (
    ("dslc", "dslc.source", "dslc.diagnostics", "dslc.codes"),
    ("dslc.syntax",),
    ("dslc.ir",),
    ("dslc.expand",),
    ("dslc.passes",),
    ("dslc.compiler",),
    ("dslc.report", "dslc.backend"),
    ("dslc.pytorch",),  # the PyTorch bridge: model.py text from the IR, weights from the backend
    ("dslc.lsp",),  # the language server: a front end beside the command line
    ("dslc.cli", "dslc.__main__"),
)


@dataclass(frozen=True)
class Edge:
    src: str  # importing module
    dst: str  # imported module
    names: tuple[str, ...]  # names imported with `from dst import …`
    line: int


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT / "runtime" if "runtime" in path.parts else ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    files = [*(ROOT / "dslc").rglob("*.py"), *(ROOT / "runtime" / "dslc_runtime").rglob("*.py")]
    return {_module_name(p): p for p in sorted(files)}


def _resolve(src: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = src.split(".") if is_package else src.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([target] if target else [])])


def _owner(name: str) -> str | None:
    """The module of ours that `name` (a module, or a module plus an attribute) refers to."""
    known = modules()
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def edges() -> tuple[Edge, ...]:
    found: list[Edge] = []
    known = modules()
    for src, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    dst = _owner(alias.name)
                    if dst and dst != src:
                        found.append(Edge(src, dst, (), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(src, is_package, node.level, node.module)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in known:  # `from dslc.report import table`: a module
                        if sub != src:
                            found.append(Edge(src, sub, (), node.lineno))
                        continue
                    dst = _owner(base)
                    if dst and dst != src:
                        found.append(Edge(src, dst, (alias.name,), node.lineno))
    return tuple(found)


def graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in modules()}
    for e in edges():
        g[e.src].add(e.dst)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def levels(g: dict[str, set[str]]) -> int:
    """The length of the longest import chain (modules with no imports of ours are level 1)."""
    depth: dict[str, int] = {}

    def d(v: str, seen: frozenset[str]) -> int:
        if v not in depth:
            deps = [w for w in g[v] if w not in seen]
            depth[v] = 1 + max((d(w, seen | {v}) for w in deps), default=0)
        return depth[v]

    return max(d(v, frozenset()) for v in g)


def stage_of(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for i, stage in enumerate(STAGES):
        for prefix in stage:
            if module == prefix or module.startswith(prefix + "."):
                if prefix == "dslc" and module != "dslc":
                    continue
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    return None if best is None else best[0]


def _dslc_edges() -> Iterator[Edge]:
    return (e for e in edges() if e.src.split(".")[0] == "dslc")


def test_the_graph_is_read_from_every_module() -> None:
    mods = modules()
    assert "dslc.compiler" in mods and "dslc_runtime.session" in mods
    assert any(e.src == "dslc.compiler" and e.dst.startswith("dslc.expand") for e in edges())


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_imported_from_another_module() -> None:
    borrowed = [
        f"{e.src}:{e.line} imports {name} from {e.dst}"
        for e in edges()
        for name in e.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert borrowed == []


def test_every_module_belongs_to_a_stage() -> None:
    assert [m for m in modules() if m.startswith("dslc.") and stage_of(m) is None] == []


def test_stages_import_only_from_earlier_stages() -> None:
    backwards = []
    for e in _dslc_edges():
        if not e.dst.startswith("dslc."):
            continue
        src, dst = stage_of(e.src), stage_of(e.dst)
        assert src is not None and dst is not None
        siblings = src == dst and e.src.split(".")[1] != e.dst.split(".")[1]
        if dst > src or (siblings and STAGES[src] == ("dslc.report", "dslc.backend")):
            backwards.append(f"{e.src}:{e.line} imports {e.dst}")
    assert backwards == []


def test_nothing_imports_the_cli() -> None:
    users = [f"{e.src}:{e.line}" for e in edges() if e.dst.startswith("dslc.cli")]
    assert [u for u in users if not u.startswith(("dslc.cli", "dslc.__main__"))] == []


def test_the_runtime_never_imports_the_compiler() -> None:
    into = [
        e for e in edges() if e.src.startswith("dslc_runtime") and e.dst.split(".")[0] == "dslc"
    ]
    assert into == []


@cache
def exported(module: str) -> tuple[str, ...] | None:
    """The module's `__all__`, or None where it has none."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = ast.literal_eval(node.value)  # type: ignore[union-attr]
            return tuple(value)
    return None


def test_every_public_module_says_what_it_exports() -> None:
    public = [m for m, p in modules().items() if p.name not in ("__init__.py", "__main__.py")]
    assert [m for m in public if exported(m) is None] == []


def test_modules_import_only_what_another_module_exports() -> None:
    stray = [
        f"{e.src}:{e.line} imports {name} from {e.dst}"
        for e in edges()
        for name in e.names
        if (names := exported(e.dst)) is not None and name not in names
    ]
    assert stray == []


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_short_enough_to_read(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by responsibility"


def packages(g: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between stage packages (dslc.expand, dslc.cli, …) and top-level modules."""

    def pkg(m: str) -> str:
        parts = m.split(".")
        return ".".join(parts[:2]) if parts[0] == "dslc" and len(parts) > 1 else parts[0]

    out: dict[str, set[str]] = {}
    for src, dsts in g.items():
        out.setdefault(pkg(src), set()).update(pkg(d) for d in dsts if pkg(d) != pkg(src))
    return out


def test_the_stage_packages_form_no_cycle() -> None:
    assert cycles(packages(graph())) == []


def main() -> None:
    g = graph()
    p = packages(g)
    print(f"packages {len(p)}, levels {levels(p)}, cycles {cycles(p)}")
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in modules().items()}
    print(f"modules {len(g)}, edges {sum(map(len, g.values()))}, levels {levels(g)}")
    print(f"cycles {cycles(g)}")
    for m, n in sorted(sizes.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{n:5} {m}")
    if "-v" in sys.argv:
        for e in edges():
            print(e)


if __name__ == "__main__":
    main()
