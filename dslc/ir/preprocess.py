"""An input's preprocessing pipeline as the `preprocess` statement declares it: pure data,
described for summaries and recorded (as JSON) in the compiled model's metadata."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["IMAGE_DTYPES", "INTERPOLATIONS", "LAYOUTS", "Preprocess"]

IMAGE_DTYPES = ("uint8", "float32")  # uint8 values 0-255, float32 values 0-1
LAYOUTS = ("hwc", "chw")
INTERPOLATIONS = ("bilinear", "bicubic")


@dataclass(frozen=True, slots=True)
class Preprocess:
    """What turns a batch of images into the network's input, in this order: the image
    tensor (dtype, layout), resize, centre crop, channel order, mean/std normalisation,
    each as torchvision.transforms does it. Images are RGB; `bgr` reverses the channels
    for a network trained on BGR images."""

    input: str  # the network input it feeds
    channels: int  # 3 (RGB) or 1 (grey)
    dtype: str = "uint8"
    layout: str = "hwc"
    resize: tuple[int, ...] = ()  # (short side,) or (height, width); () for none
    interpolation: str = "bilinear"
    crop: tuple[int, int] | None = None  # (height, width)
    bgr: bool = False
    mean: tuple[float, ...] = ()  # () for no normalisation
    std: tuple[float, ...] = ()

    def describe(self) -> str:
        """One line for summaries: `uint8 N x H x W x 3 -> resize(256) -> ...`."""
        hw = "H x W"
        raw = (
            f"N x {hw} x {self.channels}" if self.layout == "hwc" else f"N x {self.channels} x {hw}"
        )
        steps = [f"{self.dtype} {raw}"]
        if self.resize:
            size = self.resize[0] if len(self.resize) == 1 else self.resize
            mode = "" if self.interpolation == "bilinear" else f", {self.interpolation}"
            steps.append(f"resize({size}{mode})")
        if self.crop:
            h, w = self.crop
            steps.append(f"center_crop({h if h == w else self.crop})")
        if self.bgr:
            steps.append("bgr")
        if self.mean:
            steps.append(f"normalize(mean={_floats(self.mean)}, std={_floats(self.std)})")
        return " -> ".join(steps)

    def to_dict(self) -> dict[str, object]:
        """The `dslc.preprocess` metadata: what a runtime needs to feed the model images."""
        return {
            "input": self.input,
            "channels": self.channels,
            "dtype": self.dtype,
            "layout": self.layout,
            "resize": list(self.resize),
            "interpolation": self.interpolation,
            "crop": list(self.crop) if self.crop else None,
            "bgr": self.bgr,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def _floats(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"
