"""`dslc run --image`: photos through a model that declares its preprocessing, ranked classes
printed with the model's labels."""

from __future__ import annotations

from typing import Any

import click

from dslc.cli.common import UserError

__all__ = ["classify"]


def classify(m: Any, rt: Any, images: tuple[str, ...], top: int) -> None:
    """Run each image on its own (photos differ in size) and print its `top` classes."""
    pipelines = rt.pipeline_of(m.metadata)
    if len(m.inputs) != 1 or m.inputs[0].name not in pipelines:
        raise UserError(
            "--image needs a model whose single input declares its preprocessing: add a "
            "'preprocess' line to the .xnet (e.g. 'preprocess image: resize(256) -> "
            "center_crop(224) -> normalize(mean=(...), std=(...))')"
        )
    pipeline = pipelines[m.inputs[0].name]
    labels = rt.labels_of(m.metadata)
    scores = _scores(m, len(labels))
    if not pipeline.in_graph:
        click.echo("note:     the graph does not preprocess: done here with Pillow and numpy")
    for path in images:
        feed = pipeline.prepare(rt.read_image(path, pipeline.channels))
        value = m.run({m.inputs[0].name: feed})[scores]
        best, softmax = rt.ranked(value[0], labels, top)
        click.echo(f"image {path}:" + ("  (softmax of the logits)" if softmax else ""))
        width = max(len(label) for _, label, _ in best)
        for rank, label, p in best:
            click.echo(f"  {rank:>2}  {label:<{width}}  {p:.4f}")


def _scores(m: Any, count: int) -> str:
    """The output to rank: the one with a value per label (else the only one), N x K."""
    outs = [s for s in m.outputs if s.rank == 2]
    fit = [s for s in outs if count and s.shape[1] == count]
    chosen = fit[0] if fit else (outs[0] if len(m.outputs) == 1 and outs else None)
    if chosen is None:
        shapes = ", ".join(f"{s.name} {s.shape_text}" for s in m.outputs)
        raise UserError(f"--top ranks class scores, N x K; this model's outputs are {shapes}")
    return str(chosen.name)
