"""`labels "classes.txt"`: the class names, one a line, in a file beside the .xnet. Opened by
the import rules (a relative path inside the import root; a regular file of UTF-8 text, of
bounded size), so naming a FIFO, a device or a file elsewhere never blocks or leaks it."""

from __future__ import annotations

from pathlib import Path

from dslc.diagnostics import AlreadyReported, DiagnosticError, Sink
from dslc.expand.evaluate import Env, evaluate, truth
from dslc.expand.imports import ImportRoot
from dslc.ir.shapes import Shape, show
from dslc.source import SourceFile, UnreadableSource
from dslc.syntax import ast

__all__ = ["MAX_LABELS_BYTES", "check_count", "read_labels"]

MAX_LABELS_BYTES = 4 * 2**20  # ImageNet's 1000 names are 10 KiB


def read_labels(
    program: ast.Program, source: SourceFile, root: ImportRoot, env: Env, sink: Sink
) -> tuple[tuple[str, ...], ast.Labels | None]:
    """The labels of the file's `labels` statement (none without one, or where its condition
    does not hold) and the statement."""
    stmts = [s for s in program.statements if isinstance(s, ast.Labels)]
    for extra in stmts[1:]:
        sink.error("E0904", "a network has one 'labels' line", extra.span)
    if not stmts:
        return (), None
    stmt = stmts[0]
    try:
        if stmt.when is not None and not truth(evaluate(stmt.when, env), stmt.when, env):
            return (), None
        return _read(stmt, Path(source.path).parent, root), stmt
    except DiagnosticError as exc:
        sink.report(exc)
    except AlreadyReported:
        pass
    return (), None


def _read(stmt: ast.Labels, here: Path, root: ImportRoot) -> tuple[str, ...]:
    quoted = f'"{stmt.path}"'
    if Path(stmt.path).is_absolute() or not stmt.path.endswith(".txt"):
        raise DiagnosticError(
            "E0904",
            f"cannot read labels {quoted}: name a relative path to a .txt file",
            stmt.span,
            f"the path is relative to this file's folder ({here.as_posix()}/)",
        )
    try:
        path = (here / stmt.path).resolve()
    except (RuntimeError, OSError):
        raise DiagnosticError(
            "E0904", f"cannot read labels {quoted}: a symbolic link loop", stmt.span
        ) from None
    if not path.is_relative_to(root.folder):
        raise DiagnosticError(
            "E0904",
            f"cannot read labels {quoted}: it lies outside the folder imports are confined to",
            stmt.span,
            "keep the labels file beside the .xnet (or set DSLC_IMPORT_ROOT)",
        )
    try:
        text = SourceFile.read(here / stmt.path, MAX_LABELS_BYTES).text
    except UnreadableSource as exc:
        raise DiagnosticError(
            "E0904", f"cannot read labels {quoted}: {exc.why}", stmt.span
        ) from None
    lines = [line.strip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines or "" in lines:
        where = f"line {lines.index('') + 1} is blank" if lines else "it holds no labels"
        raise DiagnosticError(
            "E0904", f"labels {quoted}: {where}", stmt.span, "write one label a line"
        )
    return tuple(lines)


def check_count(
    labels: tuple[str, ...], stmt: ast.Labels, outputs: list[Shape | None], sink: Sink
) -> None:
    """Some output has one value per label per item (N x K, or N x K x H x W for a map)."""
    if not labels or any(s is None for s in outputs):
        return  # unreadable labels or an unknown shape: reported already
    if any(len(s) >= 2 and s[1] == len(labels) for s in outputs if s is not None):
        return
    shapes = ", ".join(show(s) for s in outputs if s is not None)
    sink.error(
        "E0905",
        f"{len(labels)} labels, but no output has {len(labels)} values per item ({shapes})",
        stmt.span,
        "one label a class: check the labels file, or the network's number of classes",
    )
