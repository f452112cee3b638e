"""The files beside a Triton model's config: a KServe InferenceService manifest and a client
example script, both filled in from the model's signature."""

from __future__ import annotations

import re

from dslc.backend.triton import Serving, Signature

__all__ = ["CLIENT_NAME", "KSERVE_NAME", "client_script", "kserve_manifest", "kserve_name"]

KSERVE_NAME = "inferenceservice.yaml"
CLIENT_NAME = "client.py"


def kserve_name(name: str) -> str:
    """The model's name as a Kubernetes resource name (DNS-1035: a-z, 0-9, '-', a letter
    first, at most 63 characters)."""
    text = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    text = re.sub(r"^[^a-z]+", "", text)
    return (text or "model")[:63].rstrip("-")


def kserve_manifest(serving: Serving, storage_uri: str) -> str:
    """An InferenceService that serves the repository with KServe's Triton runtime."""
    gpu = ['          nvidia.com/gpu: "1"'] if serving.gpu else []
    lines = [
        f"# KServe InferenceService serving the Triton model repository that holds {serving.name}/.",
        "# storageUri: that repository folder, uploaded where your cluster reads it;",
        f"# then: kubectl apply -f {KSERVE_NAME}",
        "apiVersion: serving.kserve.io/v1beta1",
        "kind: InferenceService",
        "metadata:",
        f"  name: {kserve_name(serving.name)}",
        "spec:",
        "  predictor:",
        "    model:",
        "      modelFormat:",
        "        name: triton",
        "      protocolVersion: v2",
        f'      storageUri: "{storage_uri}"',
        "      resources:",
        "        requests:",
        '          cpu: "1"',
        "          memory: 2Gi",
        "        limits:",
        '          cpu: "4"',
        "          memory: 8Gi",
        *gpu,
    ]
    return "\n".join(lines) + "\n"


def _inputs_literal(sig: Signature, batched: bool) -> str:
    rows = []
    for t in sig.inputs:
        dims = t.shape[1:] if batched else t.shape
        values = [d if isinstance(d, int) else -1 for d in dims]
        rows.append(f"    {t.name!r}: ({t.dtype.removeprefix('TYPE_')!r}, {values!r}),")
    return "{\n" + "\n".join(rows) + "\n}"


_CLIENT = '''#!/usr/bin/env python3
"""Send a batch of random (or given) inputs to the Triton model {name!r} and print what comes
back. Written by dslc export; needs `pip install "tritonclient[http]" numpy`.

    python3 {client} --url localhost:8000 --batch 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MODEL = {name!r}
MAX_BATCH = {max_batch}  # 0: the model takes whole tensors (its batch dimension is fixed)
# input name: (Triton data type, dims without the batch dimension; -1 is any size)
INPUTS = {inputs}
OUTPUTS = {outputs!r}
LABELLED = {labelled!r}  # outputs with one label per value (labels.txt beside this file)
NUMPY = {{
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}}


def make_inputs(batch: int, size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the model's types: a batch of `batch`, -1 dims set to `size`."""
    rng = np.random.default_rng(seed)
    arrays = {{}}
    for name, (dtype, dims) in INPUTS.items():
        if dtype not in NUMPY:
            raise SystemExit(f"input {{name!r}} is {{dtype}}; give it with --input")
        shape = [size if d == -1 else d for d in dims]
        shape = [batch, *shape] if MAX_BATCH > 0 else shape
        if np.issubdtype(NUMPY[dtype], np.integer) or dtype == "BOOL":
            arrays[name] = rng.integers(0, 2 if dtype == "BOOL" else 100, shape).astype(NUMPY[dtype])
        else:
            arrays[name] = rng.standard_normal(shape).astype(NUMPY[dtype])
    return arrays


def top(values: np.ndarray, labels: list[str], k: int) -> list[str]:
    """The k largest values of one item, as 'label: value' lines."""
    flat = values.reshape(-1)
    best = np.argsort(-flat.astype(np.float64), kind="stable")[:k]
    return [f"{{labels[i] if i < len(labels) else i}}: {{float(flat[i]):.4f}}" for i in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="localhost:8000", help="Triton's HTTP endpoint")
    parser.add_argument("--batch", type=int, default=1, help="items per request")
    parser.add_argument("--size", type=int, default=224, help="the value of -1 dims")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    parser.add_argument("--top", type=int, default=5, help="best classes to print")
    args = parser.parse_args()
    import tritonclient.http as httpclient  # here: make_inputs works without it

    feeds = make_inputs(args.batch if MAX_BATCH > 0 else 1, args.size)
    for item in args.input:
        name, _, path = item.partition("=")
        if name not in INPUTS:
            raise SystemExit(f"no input {{name!r}}; the model's inputs: {{', '.join(INPUTS)}}")
        feeds[name] = np.load(path, allow_pickle=False)
    client = httpclient.InferenceServerClient(url=args.url)
    requests = []
    for name, array in feeds.items():
        tensor = httpclient.InferInput(name, list(array.shape), INPUTS[name][0])
        tensor.set_data_from_numpy(array)
        requests.append(tensor)
    wanted = [httpclient.InferRequestedOutput(n) for n in OUTPUTS]
    result = client.infer(MODEL, requests, outputs=wanted)
    labels_file = Path(__file__).with_name("labels.txt")
    labels = labels_file.read_text(encoding="utf-8").splitlines() if labels_file.exists() else []
    for name in OUTPUTS:
        value = result.as_numpy(name)
        print(f"{{name}}: shape {{list(value.shape)}}, dtype {{value.dtype}}")
        if name in LABELLED:
            items = value if MAX_BATCH > 0 else value[None]
            for i, item in enumerate(items):
                print(f"  item {{i}}: " + ", ".join(top(item, labels, args.top)))


if __name__ == "__main__":
    main()
'''


def client_script(sig: Signature, serving: Serving) -> str:
    """A runnable Python client for the model: random inputs of the right types and dims."""
    return _CLIENT.format(
        name=serving.name,
        client=CLIENT_NAME,
        max_batch=serving.max_batch,
        inputs=_inputs_literal(sig, serving.max_batch > 0),
        outputs=[t.name for t in sig.outputs],
        labelled=list(serving.labelled),
    )
