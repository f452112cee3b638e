"""`dslc rf`: a layer's receptive field, its growth, pictures of it, and its measurement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dslc.cli.common import (
    SET_HELP,
    UserError,
    analyse_file,
    debug_option,
    guard,
    progress,
    size_option,
    with_sizes,
)
from dslc.cli.output import check_output, write_atomic
from dslc.ir.graph import Node
from dslc.ir.shapes import show as shape_text
from dslc.report.rf_text import LookupFailed, axis_pair, growth_table, path_to, target

__all__ = ["rf"]


def _pair(text: str | None, what: str) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.replace("x", ",").split(",")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise click.BadParameter(
            f"expected two integers like 7,7, got '{text}'", param_hint=what
        ) from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 0:
        raise click.BadParameter(
            f"expected two non-negative integers like 7,7, got '{text}'", param_hint=what
        )
    return vals[0], vals[1]


def _sized(
    analysis: Any, sizes: dict[str, int], measure: bool
) -> tuple[Any, tuple[int, int] | None]:
    """The analysis at the sizes given, and the input size (H, W) to measure at."""
    if not sizes:
        return analysis, None
    name = analysis.graph.name
    if analysis.sizes:  # symbolic sizes: give them values
        analysis = with_sizes(analysis, sizes)
        hw = analysis.shapes[analysis.graph.inputs[0]][-2:]
        return analysis, (hw[0], hw[1]) if all(isinstance(d, int) for d in hw) else None
    shape = analysis.shapes[analysis.graph.inputs[0]]
    if len(shape) != 4:
        raise UserError(f"--size: {name}'s input ({shape_text(shape)}) has no height and width")
    h, w = shape[-2:]
    given = ",".join(f"{k}={v}" for k, v in sizes.items())
    if set(sizes) - {"H", "W"}:
        raise UserError(
            f"--size {given}: {name}'s input is fixed at {h} x {w}; --size names its height H "
            "and width W, the input size --measure measures at"
        )
    if not measure:
        raise UserError(
            f"--size {given}: {name}'s input is fixed at {h} x {w}; for such a network --size "
            "sets only the input size of --measure"
        )
    return analysis, (sizes.get("H", h), sizes.get("W", w))


def _measure(analysis: Any, node: Node, size: tuple[int, int] | None) -> bool:
    from dslc.backend import rf_measure as m

    try:
        if size is None:
            size = m.default_size(analysis, node.id)
            size = m.fits(analysis, node.id, size) if size else None
        with progress("measuring on ONNX Runtime") as tick:
            got = m.measure(analysis, node.id, size, progress=tick)
    except m.MeasureError as exc:
        raise UserError(f"cannot measure: {exc}") from None
    sizes = [got.axis_size(got.h), got.axis_size(got.w)]
    n_in = (int(got.h.interior.sum()), int(got.w.interior.sum()))
    click.echo(
        f"measured on ONNX Runtime (CPU) at input {got.size[0]}x{got.size[1]}: "
        f"'{got.layer}' field {'x'.join(str(s) for s in sizes)} over "
        f"{n_in[0]}x{n_in[1]} units away from the borders"
    )
    click.echo(
        "  (weights 1, biases 0, max pooling as average, activations as identity, "
        "whole rows / columns perturbed)"
    )
    for note in got.notes():
        click.echo(f"note: {note} (analysed {axis_pair(got.analytic.as_json()['size'])})")
    bad = got.disagreements()
    if bad:
        click.echo("measured and analysed fields DISAGREE:", err=True)
        for b in bad:
            click.echo(f"  {b}", err=True)
        return False
    if got.resampled:
        return True
    click.echo(
        f"analysis agrees: size {axis_pair(got.analytic.as_json()['size'])}, jump "
        f"{axis_pair(got.analytic.as_json()['jump'])}"
    )
    return True


def _format(path: str | None, option: str) -> str | None:
    """The picture format of an output path, or a usage error (exit 2) before any work."""
    if path is None:
        return None
    from dslc.report.picture import format_of

    try:
        return format_of(path)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def _check_usage(
    files: tuple[str, ...], image: str | None, unit: str | None, measure: bool
) -> None:
    if unit is not None and image is None:
        raise click.UsageError("--unit needs --image")
    if len(files) > 1 and (image or measure):
        what = "--image" if image else "--measure"
        raise click.UsageError(
            f"{what} takes one file; several files are compared with --plot (or printed "
            "one after another)"
        )


def _read_image(image: str) -> Any:
    from dslc.report.picture import PictureError, read_image

    try:
        return read_image(Path(image))
    except PictureError as exc:
        raise UserError(str(exc)) from None


def _analyse(
    files: tuple[str, ...],
    sets: tuple[str, ...],
    sizes: dict[str, int],
    measure: bool,
    layer: str | None,
    image_hw: tuple[int, int] | None = None,
) -> list[tuple[Any, tuple[int, int] | None, Node]]:
    """Each file's analysis, the input size to measure at, and the layer asked for. A
    network of symbolic size drawn on an image without --size is analysed at the image's."""
    done = []
    for file in files:
        analysis = analyse_file(file, sets)
        given = sizes or (_image_sizes(analysis, image_hw) if image_hw else {})
        try:
            analysis, hw = _sized(analysis, given, measure)
        except UserError as exc:
            if sizes or not given:
                raise
            raise UserError(f"{exc}\n(the sizes are the image's; choose others with --size)")
        try:
            done.append((analysis, hw, target(analysis, layer)))
        except LookupFailed as exc:
            raise UserError(f"{file}: {exc}" if len(files) > 1 else str(exc)) from None
        if given and not sizes:
            click.echo(
                f"note: sizes from the image: {', '.join(f'{k}={v}' for k, v in given.items())}"
            )
    return done


def _image_sizes(analysis: Any, image_hw: tuple[int, int]) -> dict[str, int]:
    """{H: rows, W: columns} of the image, for an input of plain symbolic height and width."""
    symbols = {r.symbol for r in analysis.sizes}
    names = [shape_text((d,)) for d in analysis.shapes[analysis.graph.inputs[0]][-2:]]
    if len(names) != 2 or not set(names) <= symbols:
        return {}
    if names[0] == names[1] and image_hw[0] != image_hw[1]:
        return {}
    return {names[0]: image_hw[0], names[1]: image_hw[1]}


def _image_note(analysis: Any, img: Any) -> str | None:
    """A note when the image is not the network's input size (the field is in input pixels)."""
    shape = analysis.shapes[analysis.graph.inputs[0]]
    hw = shape[-2:]
    if len(shape) != 4 or not all(isinstance(d, int) for d in hw) or tuple(hw) == img.shape[:2]:
        return None
    return (
        f"note: the image is {img.shape[0]} x {img.shape[1]} pixels, the network's input "
        f"{hw[0]} x {hw[1]}; the field is drawn in input pixels from the top-left corner"
    )


@click.command()
@click.argument(
    "files", metavar="FILE...", nargs=-1, required=True, type=click.Path(dir_okay=False)
)
@click.option(
    "--layer",
    metavar="NAME",
    help="Follow the field up to this layer, or a block's last layer [default: "
    "the last spatial layer before global pooling].",
)
@click.option(
    "--measure",
    is_flag=True,
    help="Also measure the field on the compiled ONNX "
    "model with ONNX Runtime and compare; exit status 1 if they differ.",
)
@size_option(
    "The input size, e.g. --size H=64,W=64 (or --size H=64 --size W=64; the older "
    "--size 64,64 is still taken as H,W): for a network with symbolic sizes (1 x H x W) "
    "the values of its sizes, for analysis and --measure; for a network of fixed size, "
    "the input height H and width W that --measure measures at [default: the model's own, "
    "or larger when the field does not fit].",
    pair=True,
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    metavar="OUT.svg|.png|.pdf",
    help="Draw field size and jump against depth, block boundaries marked; with several "
    "FILEs, all on one plot (needs matplotlib: pip install 'dslc[plot]').",
)
@click.option(
    "--image",
    type=click.Path(dir_okay=False, exists=True),
    metavar="IMG",
    help="Draw one unit's field on this image: PNG, JPEG or any image Pillow reads (any "
    "mode, 16-bit too), or .npy (H x W or H x W x 3); small images are drawn enlarged with "
    "their pixel grid and the neighbouring units' fields; a network of any size (3 x H x W) "
    "is analysed at the image's size unless --size is given.",
)
@click.option(
    "--unit",
    metavar="I,J",
    help="The output unit (row, column) for --image [default: the centre of the map].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    metavar="OUT.png|.svg|.pdf",
    help="Where --image draws [default: IMG's name with _rf.png, in the current folder].",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@debug_option
def rf(
    files: tuple[str, ...],
    layer: str | None,
    measure: bool,
    sizes: dict[str, int],
    plot_path: str | None,
    image: str | None,
    unit: str | None,
    output: str | None,
    sets: tuple[str, ...],
    debug: bool,
) -> None:
    """Print how the receptive field grows, layer by layer (Araujo et al., 2019).

    Size is the field's extent in input pixels, jump the distance between neighbouring units in
    input pixels (fractional after upsampling), start the input coordinate of the first unit's
    centre (pixel centres at 0, 1, 2, ...). Where branches merge the field is their union.
    Several FILEs print one table each; with --plot they are drawn on one plot to compare
    (dslc rf stacked_3x3.xnet single_5x5.xnet --plot cmp.svg).
    """
    where = _pair(unit, "--unit")
    _check_usage(files, image, unit, measure)
    out = Path(output) if output else Path(Path(image or "").stem + "_rf.png")
    plot_fmt = _format(plot_path, "--plot")
    image_fmt = _format(str(out), "-o") if image else None
    with guard(debug):
        if plot_fmt or image_fmt:
            from dslc.report.picture import MissingExtra, need_plotting

            try:
                need_plotting()
            except MissingExtra as exc:
                raise UserError(str(exc)) from None
        if plot_path:
            check_output(Path(plot_path), [*files, image])
        if image:
            check_output(out, [*files, image])
        img = _read_image(image) if image else None
        done = _analyse(
            files, sets, sizes, measure, layer, img.shape[:2] if img is not None else None
        )
        if img is not None:
            from dslc.report.picture import PictureError
            from dslc.report.rf_image import unit_of

            try:
                where = unit_of(done[0][0], done[0][2], where)
            except PictureError as exc:
                raise UserError(str(exc)) from None
        ok = _report(done, measure, plot_path, plot_fmt)
        if img is not None and image_fmt and where is not None:
            from dslc.report.rf_image import rf_on_image

            analysis, _, node = done[0]
            note = _image_note(analysis, img)
            if note:
                click.echo(note)
            data, text = rf_on_image(analysis, node, img, where, image_fmt)
            write_atomic(out, data)
            click.echo(f"wrote {out}: {text}")
    if not ok:  # measured and analysed fields differ
        raise SystemExit(1)


def _report(
    done: list[tuple[Any, tuple[int, int] | None, Node]],
    measure: bool,
    plot_path: str | None,
    plot_fmt: str | None,
) -> bool:
    """Print the tables (and the measurement), then draw the plot; False when a measurement
    disagrees with the analysis."""
    curves = []
    ok = True
    for k, (analysis, hw, node) in enumerate(done):
        nodes = path_to(analysis, node)
        if k:
            click.echo()
        click.echo(f"Receptive field of '{node.name}' in network {analysis.graph.name}")
        click.echo(growth_table(analysis, nodes), nl=False)
        if measure:
            ok = _measure(analysis, node, hw) and ok
        if plot_fmt:
            from dslc.report.plot import curve

            curves.append(curve(analysis, node))
    if plot_path and plot_fmt:
        from dslc.report.plot import rf_plot

        write_atomic(Path(plot_path), rf_plot(curves, plot_fmt))
        click.echo(f"wrote {plot_path}")
    return ok
