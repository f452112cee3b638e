"""PNG writing and reading with zlib and struct only, and a tiny bitmap font for labels.

Reads 8-bit non-interlaced PNGs (grey, grey+alpha, RGB, RGBA, palette); 16-bit, sub-byte and
interlaced (Adam7) files are refused with a message saying so.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "CHANNELS",
    "FONT",
    "SIGNATURE",
    "ImageError",
    "decode_png",
    "draw_text",
    "encode_png",
    "read_image",
    "text_width",
]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class ImageError(Exception):
    """An image that cannot be read (the message says why)."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(rgb: np.ndarray) -> bytes:
    """An H x W x 3 uint8 array as PNG bytes (no filtering, deterministic)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))
    head = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", head)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter(data: bytes, h: int, stride: int, bpp: int) -> np.ndarray:
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    pos = 0
    for y in range(h):
        ftype, line = data[pos], np.frombuffer(data[pos + 1 : pos + 1 + stride], np.uint8)
        pos += 1 + stride
        cur = line.astype(np.int32)
        if ftype == 2:
            cur = (cur + prev) & 255
        elif ftype in (1, 3, 4):
            row = cur.copy()
            for x in range(stride):
                a = int(row[x - bpp]) if x >= bpp else 0
                c = int(prev[x - bpp]) if x >= bpp else 0
                pred = (
                    a
                    if ftype == 1
                    else (a + int(prev[x])) // 2
                    if ftype == 3
                    else _paeth(a, int(prev[x]), c)
                )
                row[x] = (row[x] + pred) & 255
            cur = row
        elif ftype != 0:
            raise ImageError(f"bad PNG filter type {ftype} in row {y}")
        out[y] = cur
        prev = cur
    return out


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> H x W x 3 uint8 (alpha dropped, grey and palettes expanded)."""
    if not data.startswith(SIGNATURE):
        raise ImageError("not a PNG file")
    pos, idat, palette, head = 8, b"", None, None
    while pos + 8 <= len(data):
        (n,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if head is None:
        raise ImageError("PNG without an IHDR chunk")
    w, h, depth, ctype, _, _, interlace = head
    if depth != 8:
        raise ImageError(
            f"{depth}-bit PNGs are not supported (only 8-bit); convert it, or "
            "save the image as .npy"
        )
    if interlace:
        raise ImageError("interlaced (Adam7) PNGs are not supported; save it non-interlaced")
    if ctype not in CHANNELS or (ctype == 3 and palette is None):
        raise ImageError(f"PNG colour type {ctype} is not supported")
    ch = CHANNELS[ctype]
    pixels = _unfilter(zlib.decompress(idat), h, w * ch, ch).reshape(h, w, ch)
    if ctype == 3:
        assert palette is not None
        out: np.ndarray = palette[pixels[..., 0]]
        return out
    if ch <= 2:
        return np.repeat(pixels[..., :1], 3, axis=2)
    return pixels[..., :3].copy()


def read_image(path: Path) -> np.ndarray:
    """A .png or .npy (H x W, H x W x 3, or 1/3 x H x W) as H x W x 3 uint8."""
    if path.suffix.lower() == ".npy":
        a = np.load(path, allow_pickle=False)
        a = np.squeeze(a)
        if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[2] not in (1, 3):
            a = np.moveaxis(a, 0, 2)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or a.shape[2] not in (1, 3):
            raise ImageError(f".npy image must be H x W or H x W x 3, got shape {a.shape}")
        a = a.astype(np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)
        return np.repeat(a, 3 // a.shape[2], axis=2).astype(np.uint8)
    if path.suffix.lower() != ".png":
        raise ImageError(f"{path.name}: only .png and .npy images are supported")
    return decode_png(path.read_bytes())


# A 3x5 font: each glyph is 5 rows of 3 bits (MSB left).
FONT = {
    "0": (7, 5, 5, 5, 7),
    "1": (2, 6, 2, 2, 7),
    "2": (7, 1, 7, 4, 7),
    "3": (7, 1, 3, 1, 7),
    "4": (5, 5, 7, 1, 1),
    "5": (7, 4, 7, 1, 7),
    "6": (7, 4, 7, 5, 7),
    "7": (7, 1, 1, 2, 2),
    "8": (7, 5, 7, 5, 7),
    "9": (7, 5, 7, 1, 7),
    ".": (0, 0, 0, 0, 2),
    "-": (0, 0, 7, 0, 0),
    " ": (0, 0, 0, 0, 0),
    "(": (1, 2, 2, 2, 1),
    ")": (4, 2, 2, 2, 4),
    ":": (0, 2, 0, 2, 0),
    "/": (1, 1, 2, 4, 4),
    "'": (2, 2, 0, 0, 0),
    "_": (0, 0, 0, 0, 7),
    ",": (0, 0, 0, 2, 4),
    "A": (2, 5, 7, 5, 5),
    "B": (6, 5, 6, 5, 6),
    "C": (7, 4, 4, 4, 7),
    "D": (6, 5, 5, 5, 6),
    "E": (7, 4, 6, 4, 7),
    "F": (7, 4, 6, 4, 4),
    "G": (7, 4, 5, 5, 7),
    "H": (5, 5, 7, 5, 5),
    "I": (7, 2, 2, 2, 7),
    "J": (1, 1, 1, 5, 7),
    "K": (5, 5, 6, 5, 5),
    "L": (4, 4, 4, 4, 7),
    "M": (5, 7, 7, 5, 5),
    "N": (6, 5, 5, 5, 5),
    "O": (7, 5, 5, 5, 7),
    "P": (7, 5, 7, 4, 4),
    "Q": (7, 5, 5, 7, 1),
    "R": (6, 5, 6, 5, 5),
    "S": (7, 4, 7, 1, 7),
    "T": (7, 2, 2, 2, 2),
    "U": (5, 5, 5, 5, 7),
    "V": (5, 5, 5, 5, 2),
    "W": (5, 5, 7, 7, 5),
    "X": (5, 5, 2, 5, 5),
    "Y": (5, 5, 2, 2, 2),
    "Z": (7, 1, 2, 4, 7),
}


def draw_text(
    img: np.ndarray, x: int, y: int, text: str, colour: tuple[int, int, int], scale: int = 2
) -> None:
    """Draw text (upper-cased; unknown characters as blanks) with its top-left at (x, y)."""
    for k, ch in enumerate(text.upper()):
        rows = FONT.get(ch, FONT[" "])
        for r, bits in enumerate(rows):
            for c in range(3):
                if bits >> (2 - c) & 1:
                    y0, x0 = y + r * scale, x + (k * 4 + c) * scale
                    img[max(y0, 0) : max(y0 + scale, 0), max(x0, 0) : max(x0 + scale, 0)] = colour


def text_width(text: str, scale: int = 2) -> int:
    """Width in pixels of text drawn with draw_text."""
    return (len(text) * 4 - 1) * scale
