"""E09xx: an input's preprocessing (`preprocess`) and the class labels (`labels`)."""

from __future__ import annotations

from dslc.codes.entry import CodeEntry, entry

__all__ = ["CODES"]

_NET = "gap -> flatten -> dense(3)\n"
_NORM = "normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))"

CODES: tuple[CodeEntry, ...] = (
    entry(
        "E0901",
        "not a preprocessing step, or a step out of order",
        """A 'preprocess' line is a chain of steps, each a plain call, written in this order
       and each at most once: image(dtype, layout) -> resize(size, mode) -> center_crop(size)
       -> bgr -> normalize(mean, std), as torchvision.transforms applies them.""",
        f"preprocess image: center_crop(32) -> resize(36)\n{_NET}",
        f"preprocess image: resize(36) -> center_crop(32)\n{_NET}",
    ),
    entry(
        "E0902",
        "a preprocessing step's argument is wrong",
        """resize and center_crop take a side (the shorter side for resize) or a (height,
       width) pair; resize's mode is bilinear or bicubic; image takes dtype uint8 (values
       0-255) or float32 (0-1) and layout hwc or chw; normalize takes one mean and one
       positive std per channel.""",
        f"preprocess image: resize(36) -> center_crop(32) -> normalize(mean=0.5, std=0)\n{_NET}",
        f"preprocess image: resize(36) -> center_crop(32) -> normalize(mean=0.5, std=0.25)\n{_NET}",
    ),
    entry(
        "E0903",
        "the preprocessing does not give the input's shape",
        """The pipeline must end at the size its input declares: a centre crop (or a resize
       to a (height, width) pair) of that size, since resizing the shorter side keeps each
       image's aspect ratio. It names a declared input of 3 (RGB) or 1 (grey) channels; an
       input of symbolic size takes images at their own size, without resize or crop.""",
        f"preprocess image: resize(256) -> center_crop(224) -> {_NORM}\n{_NET}",
        f"preprocess image: resize(36) -> center_crop(32) -> {_NORM}\n{_NET}",
    ),
    entry(
        "E0904",
        "the labels file cannot be read",
        """'labels "classes.txt"' names a .txt file of class names, one a line, by a relative
       path from the .xnet file's folder, inside the folder imports are confined to (see
       E0405). It must be a regular file of UTF-8 text of at most 4 MiB, without blank
       lines between labels.""",
        f'labels "/etc/classes.txt"\n{_NET}',
        f'labels "classes.txt"\n{_NET}',
        files=(("classes.txt", "cat\ndog\nbird\n"),),
    ),
    entry(
        "E0905",
        "the labels do not fit the outputs",
        """Some output must have one value per label for each item: N x K for a classifier,
       N x K x H x W for a segmentation map, where K is the number of labels.""",
        f'labels "classes.txt"\n{_NET}'.replace("dense(3)", "dense(4)"),
        f'labels "classes.txt"\n{_NET}',
        files=(("classes.txt", "cat\ndog\nbird\n"),),
    ),
)
