"""`dslc export --triton REPO`: a model (.onnx, or an .xnet compiled in memory) as a Triton
Inference Server model repository entry, with a KServe manifest and a client example."""

from __future__ import annotations

import os
import re
import shlex
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from dslc.backend.settings import DTYPES
from dslc.cli.common import (
    UserError,
    check_model_file,
    chosen_opset,
    guard,
    model_source_options,
    opset_options,
)
from dslc.cli.output import atomic_dir, build_model, save_model, write_atomic
from dslc.expand.limits import Limits

__all__ = ["export"]

DEFAULT_MAX_BATCH = 8
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
STORAGE_PLACEHOLDER = "s3://YOUR-BUCKET/PATH/TO/REPO"


@dataclass(frozen=True)
class Source:
    """The model to serve: its graph (signature), and how to write it under 1/."""

    model: Any  # onnx.ModelProto, without weights: the signature and metadata
    arrays: list[Any] | None  # the weights of an .xnet compiled here; None: copy the file
    path: Path
    network: str  # the name the model gives itself ('' if none)
    built: Any = None  # an .xnet's model as dslc writes it (backend/proto.py), with `arrays`


def _regular(path: Path, what: str) -> None:
    """Refuse before opening anything but a regular file (a FIFO would block)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO, device or socket"
        raise UserError(f"cannot read {what} {path}: not a regular file ({kind})")


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _load(model: str, opts: dict[str, Any]) -> Source:
    from dslc.backend import triton

    path = Path(model)
    if path.suffix == ".xnet":
        _, proto, arrays = build_model(
            model,
            opts["sets"],
            chosen_opset(opts["opset"], opts["target"]),
            opts["seed"],
            "pytorch",
            opts["limits"],
            opts["weights"],
            True,
            opts["dtype"],
            opts["io_dtype"],
        )
        import onnx

        header = onnx.load_from_string(proto.SerializeToString())  # the graph, no weights
        return Source(header, arrays, path, _network(header), proto)
    given = [o for o in ("weights", "io_dtype", "opset", "target") if opts[o] is not None] + (
        ["dtype"] if opts["dtype"] != "float32" else []
    )
    if given:
        flags = ", ".join("--" + o.replace("_", "-") for o in given)
        raise UserError(f"{flags}: these compile an .xnet; {model} is already an ONNX model")
    _regular(path, "model")
    check_model_file(path)
    try:
        proto = triton.read_model(path)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return Source(proto, None, path, _network(proto))


def _network(proto: Any) -> str:
    return next((p.value for p in proto.metadata_props if p.key == "dslc.network"), "")


def _labels(src: Source, labels: str | None) -> list[str]:
    """Labels from --labels FILE (one a line), else from the model's metadata (dslc.labels)."""
    if labels is not None:
        _regular(Path(labels), "labels")
        try:
            text = Path(labels).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read labels {labels}: {exc}") from None
    else:
        meta = {p.key: p.value for p in src.model.metadata_props}
        text = meta.get("dslc.labels", "")
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if labels is not None and not lines:
        raise UserError(f"--labels {labels}: the file holds no labels (one a line)")
    return lines


def _max_batch(sig: Any, asked: int | None) -> tuple[int, list[str]]:
    fixed = sig.fixed_batch()
    if asked is not None:
        return asked, []
    if fixed is None:
        return DEFAULT_MAX_BATCH, []
    note = (
        f"'{fixed.name}' has a fixed batch dimension: max_batch_size 0 (no dynamic batching; "
        "clients send whole tensors, batch dimension included)"
    )
    return 0, [note]


def _serving(src: Source, opts: dict[str, Any], name: str) -> tuple[Any, Any, list[str], list[str]]:
    from dslc.backend import triton

    try:
        sig = triton.signature(src.model)
    except ValueError as exc:
        raise UserError(f"{src.path}: {exc}") from None
    max_batch, notes = _max_batch(sig, opts["max_batch"])
    preferred = tuple(sorted(set(opts["preferred"])))
    if max_batch == 0 and (preferred or opts["queue_delay"]):
        raise click.UsageError(
            "--preferred-batch and --max-queue-delay need batching (--max-batch > 0)"
        )
    if preferred and preferred[-1] > max_batch:
        raise click.UsageError(f"--preferred-batch {preferred[-1]} exceeds --max-batch {max_batch}")
    if opts["tensorrt_fp16"] and not opts["gpu"]:
        raise click.UsageError("--tensorrt-fp16 is a GPU accelerator; it cannot go with --cpu")
    labels = _labels(src, opts["labels"])
    labelled = triton.labelled_outputs(sig, len(labels), max_batch > 0) if labels else ()
    if labels and not labelled:
        shapes = ", ".join(f"'{t.name}' {list(t.shape)}" for t in sig.outputs)
        raise UserError(
            f"{len(labels)} labels, but no output has {len(labels)} values per item ({shapes})"
        )
    serving = triton.Serving(
        name=name,
        max_batch=max_batch,
        instances=opts["instances"],
        gpu=opts["gpu"],
        preferred=preferred,
        queue_delay_us=opts["queue_delay"],
        tensorrt_fp16=opts["tensorrt_fp16"],
        labelled=labelled,
    )
    return sig, serving, labels, notes


def _copy_onnx(src: Path, version: Path, files: tuple[str, ...]) -> None:
    """The .onnx file and the external data files it names, byte for byte."""
    import shutil

    folder = src.parent.resolve()
    for rel in files:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise UserError(f"{src} names external data '{rel}' outside its folder; not copied")
        try:  # as ONNX Runtime: a link out of the folder is outside it too
            inside = (src.parent / rel).resolve().is_relative_to(folder)
        except (OSError, RuntimeError):  # a link loop: _regular says so
            inside = True
        if not inside:
            raise UserError(
                f"{src} names external data '{rel}', a link out of its folder; not copied"
            )
        _regular(src.parent / rel, "external data")
    try:
        shutil.copyfile(src, version / "model.onnx")
        for rel in files:
            (version / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src.parent / rel, version / rel)
    except OSError as exc:
        raise UserError(f"cannot copy {src}: {exc.strerror or exc}") from None


def _write(stage: Path, src: Source, texts: dict[str, str]) -> None:
    from dslc.backend.triton import external_files

    version = stage / "1"
    version.mkdir()
    if src.arrays is not None:
        save_model(version / "model.onnx", src.built, src.arrays)
    else:
        _copy_onnx(src.path, version, external_files(src.model))
    for name, text in texts.items():
        write_atomic(stage / name, text.encode("utf-8"))
    client = stage / "client.py"
    client.chmod(client.stat().st_mode | 0o111)


def _export(model: str, repo: str, opts: dict[str, Any]) -> None:
    from dslc import __version__
    from dslc.backend import triton, triton_files

    src = _load(model, opts)
    name = opts["name"] or src.network or src.path.stem
    if not _NAME.fullmatch(name):
        raise UserError(
            f"model name '{name}': use letters, digits, '_', '.' and '-' "
            "(a letter or digit first, at most 128); set it with --name"
        )
    if not repo.strip():
        raise click.UsageError("--triton REPO: give a folder (an empty name is no folder)")
    target = Path(repo) / name
    for given, what in ((model, "model"), (opts["labels"], "labels"), (opts["weights"], "weights")):
        if given is not None and _inside(Path(given), target):
            raise UserError(f"the {what} {given} lies inside {target}, which would be replaced")
    sig, serving, labels, notes = _serving(src, opts, name)
    header = f"Triton model configuration for {name}, written by dslc {__version__} from {model}"
    try:
        config = triton.config_text(sig, serving, header)
    except triton.BatchError as exc:
        raise UserError(str(exc)) from None
    texts = {
        "config.pbtxt": config,
        triton_files.KSERVE_NAME: triton_files.kserve_manifest(serving, opts["storage_uri"]),
        triton_files.CLIENT_NAME: triton_files.client_script(sig, serving),
    }
    if labels:
        texts[serving.labels_file] = "\n".join(labels) + "\n"
    with atomic_dir(target, opts["force"]) as stage:
        _write(stage, src, texts)
    _report(target, serving, sorted(["1/model.onnx", *texts]), notes)


def _report(target: Path, serving: Any, files: list[str], notes: list[str]) -> None:
    kind = "KIND_GPU" if serving.gpu else "KIND_CPU"
    accel = ", TensorRT FP16" if serving.tensorrt_fp16 else ""
    click.echo(
        f"wrote {target}/ (max_batch_size {serving.max_batch}, "
        f"{serving.instances} x {kind}{accel}): {', '.join(files)}"
    )
    for note in notes:
        click.echo(f"note: {note}")
    repo = shlex.quote(f"--model-repository={target.parent.resolve()}")
    click.echo(f"serve: tritonserver {repo}")


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--triton",
    "repo",
    required=True,
    metavar="REPO",
    type=click.Path(file_okay=False),
    help="The Triton model repository to write the model into, as REPO/NAME/ (config.pbtxt, "
    "1/model.onnx, labels.txt, inferenceservice.yaml, client.py). REPO may hold other models.",
)
@click.option(
    "--name",
    help="The model's name in Triton and its folder [default: the network's name, else the "
    "file's stem].",
)
@click.option(
    "--max-batch",
    type=click.IntRange(0),
    default=None,
    help=f"max_batch_size: the largest batch the dynamic batcher forms [default: "
    f"{DEFAULT_MAX_BATCH}; 0 for a model whose batch dimension is fixed]. 0 turns batching off.",
)
@click.option(
    "--preferred-batch",
    "preferred",
    multiple=True,
    type=click.IntRange(1),
    metavar="N",
    help="A batch size the dynamic batcher prefers to form (repeatable) [default: none, "
    "Triton forms the largest it can].",
)
@click.option(
    "--max-queue-delay",
    "queue_delay",
    type=click.IntRange(0),
    default=0,
    metavar="US",
    help="Microseconds a request may wait for others to join its batch [default: 0].",
)
@click.option(
    "--instances",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Model instances (copies run in parallel) per device.",
)
@click.option(
    "--gpu/--cpu",
    default=True,
    help="Instances on GPUs (KIND_GPU) or on the CPU (KIND_CPU) [default: --gpu].",
)
@click.option(
    "--tensorrt-fp16",
    is_flag=True,
    help="Let ONNX Runtime run the model with TensorRT in FP16 (GPU only; the first "
    "request of each shape builds an engine, which takes a while).",
)
@click.option(
    "--labels",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Class labels, one a line, for the output with that many values per item "
    "[default: the model's own labels, if it has any].",
)
@click.option(
    "--storage-uri",
    default=STORAGE_PLACEHOLDER,
    show_default=True,
    help="Where the KServe manifest says the repository lies (its folder, uploaded).",
)
@click.option("--force", is_flag=True, help="Replace REPO/NAME if it exists (the whole folder).")
@click.option(
    "--weights", metavar="W", help="Pretrained weights for an .xnet (as in dslc compile)."
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default="float32",
    show_default=True,
    help="Type of an .xnet's weights and computation.",
)
@click.option(
    "--io-dtype",
    type=click.Choice(DTYPES),
    default=None,
    help="Type of an .xnet's inputs and outputs [default: --dtype].",
)
@opset_options
@model_source_options
def export(
    model: str,
    repo: str,
    sets: tuple[str, ...],
    seed: int,
    limits: Limits,
    debug: bool,
    **opts: Any,
) -> None:
    """Write MODEL (.xnet, compiled in memory, or .onnx) as a Triton Inference Server model.

    \b
    REPO/NAME/config.pbtxt           onnxruntime backend, dims without the batch dimension
    REPO/NAME/1/model.onnx           the model (version 1)
    REPO/NAME/labels.txt             class labels, when the model has them
    REPO/NAME/inferenceservice.yaml  a KServe InferenceService for the repository
    REPO/NAME/client.py              an example client (tritonclient[http])

    Symbolic sizes (H, W) become -1 dims. A model whose batch dimension is a fixed number
    is written with max_batch_size 0 and its full dims; --max-batch N > 0 for it is refused.
    REPO/NAME is replaced only with --force, all at once (a half-written model never
    appears).
    """
    chosen_opset(opts["opset"], opts["target"])  # a conflict is a usage error, as click's
    with guard(debug):
        opts.update(sets=sets, seed=seed, limits=limits)
        _export(model, repo, opts)
