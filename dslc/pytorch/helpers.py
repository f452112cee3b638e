"""The small modules a generated model.py defines for layers torch.nn lacks, as source text.
Each is written into the file only when the network uses it, so the file stands alone."""

from __future__ import annotations

__all__ = ["HELPERS", "helper_source"]

_BN = '''
class {name}(nn.{name}):
    """nn.{name} without the step counter in state_dict(): its keys are the tensors dslc's
    weights files hold (weight, bias, running_mean, running_var)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        counter = torch.tensor(0, dtype=torch.long)
        self.register_buffer("num_batches_tracked", counter, persistent=False)

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any) -> None:
        # torchvision's files hold the counter: it is dropped here
        state_dict.pop(prefix + "num_batches_tracked", None)
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args)
'''

HELPERS: dict[str, str] = {
    "BatchNorm2d": _BN.format(name="BatchNorm2d"),
    "BatchNorm1d": _BN.format(name="BatchNorm1d"),
    "Channels": '''
class Channels(nn.Module):
    """Channels start..stop-1 (dslc's chunk and channels)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: Tensor) -> Tensor:
        return x[:, self.start : self.stop]
''',
    "ChannelShuffle": '''
class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle (torchvision's channel_shuffle)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        n, c, *rest = x.shape
        grouped = x.view(n, self.groups, c // self.groups, *rest).transpose(1, 2)
        return grouped.reshape(x.shape)
''',
    "PadChannels": '''
class PadChannels(nn.Module):
    """Zero channels before and after the input's (CIFAR ResNet's option-A shortcut)."""

    def __init__(self, before: int, after: int) -> None:
        super().__init__()
        self.before, self.after = before, after

    def forward(self, x: Tensor) -> Tensor:
        pad = [0, 0] * (x.dim() - 2) + [self.before, self.after]
        return F.pad(x, pad)
''',
    "LayerNorm2d": '''
class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at every position (torchvision's ConvNeXt LayerNorm2d)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
''',
    "ChannelLinear": '''
class ChannelLinear(nn.Linear):
    """nn.Linear over the channels at every position."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
''',
    "StochasticDepth": '''
class StochasticDepth(nn.Module):
    """torchvision's StochasticDepth: in training, drop whole samples ("row") or the whole
    batch ("batch") with probability p and scale the rest by 1 / (1 - p)."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p, self.mode = p, mode

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [1] * x.dim()
        if self.mode == "row":
            size[0] = x.shape[0]
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise
''',
    "resize_nearest": '''
def resize_nearest(x: Tensor, size: tuple[int, ...]) -> Tensor:
    """Nearest resizing to `size` as ONNX Runtime computes it: row floor(i / (out / in)) in
    float32. torch's interpolate multiplies by its float32 in / out instead, and takes the row
    before at some sizes (2 -> 82: row 41 from row 0)."""
    for axis, out in zip((2, 3), size):
        n = x.shape[axis]
        if n != out:
            scale = torch.tensor(out, dtype=torch.float32) / n
            at = torch.arange(out, dtype=scale.dtype, device=x.device) / scale
            x = x.index_select(axis, at.floor().long().clamp(max=n - 1))
    return x
''',
    "Resize": '''
class Resize(nn.Module):
    """Resize by a fractional factor to floor(H * factor) x floor(W * factor)."""

    def __init__(self, factors: tuple[float, float], mode: str, **kwargs: Any) -> None:
        super().__init__()
        self.factors, self.mode, self.kwargs = factors, mode, kwargs

    def forward(self, x: Tensor) -> Tensor:
        h, w = (int(s * f) for s, f in zip(x.shape[-2:], self.factors))
        if self.mode == "nearest":
            return resize_nearest(x, (h, w))
        return F.interpolate(x, size=(h, w), mode=self.mode, **self.kwargs)
''',
    "PadConv2d": '''
class PadConv2d(nn.Conv2d):
    """nn.Conv2d with padding that differs between the two sides (top, left, bottom, right)."""

    def __init__(
        self, *args: Any, pads: tuple[int, int, int, int], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pads = (pads[1], pads[3], pads[0], pads[2])

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pads))
''',
    "PadConvTranspose2d": '''
class PadConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose output is cropped unequally (top, left, bottom, right)."""

    def __init__(
        self, *args: Any, pads: tuple[int, int, int, int], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pads = pads

    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(x)
        t, left, b, r = self.pads
        return y[:, :, t : y.shape[2] - b, left : y.shape[3] - r]
''',
    "PadMaxPool2d": '''
class PadMaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d with padding that differs between the sides (top, left, bottom, right)."""

    def __init__(
        self, *args: Any, pads: tuple[int, int, int, int], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pads = (pads[1], pads[3], pads[0], pads[2])

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pads, value=float("-inf")))
''',
    "PadAvgPool2d": '''
class PadAvgPool2d(nn.AvgPool2d):
    """nn.AvgPool2d with padding that differs between the sides (top, left, bottom, right)."""

    def __init__(
        self,
        *args: Any,
        pads: tuple[int, int, int, int],
        count_include_pad: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pads = (pads[1], pads[3], pads[0], pads[2])
        self.counted = count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        y = super().forward(F.pad(x, self.pads))
        if self.counted:
            return y
        return y / super().forward(F.pad(torch.ones_like(x[:1, :1]), self.pads))
''',
    "FixedConv2d": '''
class FixedConv2d(nn.Module):
    """A convolution with a hand-written kernel: constants, not parameters (not in
    state_dict(), as they are not in dslc's weights files)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        padding: tuple[int, int, int, int],
        weight: list[float],
        bias: float | None,
        stride: int | tuple[int, int] = 1,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
    ) -> None:
        super().__init__()
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        w = torch.tensor(weight).view(out_channels, in_channels // groups, *k)
        self.register_buffer("weight", w, persistent=False)
        b = None if bias is None else torch.full((out_channels,), bias)
        self.register_buffer("bias", b, persistent=False)
        self.pads = (padding[1], padding[3], padding[0], padding[2])
        self.stride, self.dilation, self.groups = stride, dilation, groups

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, self.pads)
        w, b = self.weight, self.bias
        return F.conv2d(x, w, b, self.stride, 0, self.dilation, self.groups)
''',
}


def helper_source(name: str) -> str:
    """One helper class's source, without surrounding blank lines."""
    return HELPERS[name].strip("\n")
