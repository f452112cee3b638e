"""Hierarchical layer names from what exporters leave in a model: the weight's name
(`layer1.0.conv1.weight`), the TorchScript exporter's scopes (`/layer1/layer1.0/conv1/Conv`)
or the dynamo exporter's `pkg.torch.onnx.name_scopes`; else the op and a count (`relu3`)."""

from __future__ import annotations

import ast
import re

from dslc.importer.wire import Node

__all__ = ["module_path", "weight_owner"]

_PARAM = re.compile(r"\.(weight|bias|running_mean|running_var|scale|layer_scale)$")
_CLEAN = re.compile(r"[^A-Za-z0-9_.-]")


def weight_owner(initializer: str) -> str | None:
    """`layer1.0.conv1` for `layer1.0.conv1.weight`; None for an exporter's own name."""
    if "::" in initializer or not _PARAM.search(initializer):
        return None
    owner = _PARAM.sub("", initializer)
    return _clean(owner) or None


def _clean(name: str) -> str:
    name = _CLEAN.sub("_", name).strip(".")
    return ".".join(p for p in name.split(".") if p)


def module_path(node: Node) -> tuple[str, str] | None:
    """(module path, the op's own tail) of a node from its exporter's scopes, or None."""
    scopes = node.meta.get("pkg.torch.onnx.name_scopes")
    if scopes:
        try:
            names = [str(p) for p in ast.literal_eval(scopes)]
        except (ValueError, SyntaxError):
            names = []
        mods = [p for p in names[:-1] if p]
        if mods or names:
            return _clean(mods[-1]) if mods else "", _tail(names[-1] if names else "")
    if node.name.startswith("/"):
        segs = [s for s in node.name.split("/") if s]
        parts: list[str] = []
        for s in segs[:-1]:  # `/layer1/layer1.0/conv1`: a child's scope may repeat its parent
            if parts and s.startswith(parts[-1] + "."):
                parts[-1] = s
            else:
                parts.append(s)
        path = ".".join(parts)
        for k in range(1, len(parts)):  # `layer1.layer1.0` -> `layer1.0`
            head = ".".join(parts[:k])
            if parts[k].startswith(head + "."):
                path = ".".join([parts[k], *parts[k + 1 :]])
        return _clean(path), _tail(segs[-1] if segs else "")
    return None


def _tail(op_name: str) -> str:
    """`add` for `add_3` or `Add_1`: the op's name without the exporter's count."""
    base = re.sub(r"_\d+$", "", op_name).lower()
    return _clean(base) or "op"
