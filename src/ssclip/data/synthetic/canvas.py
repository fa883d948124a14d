"""Drawing primitives: buffered random draws, colour jitter, ground textures, shape geometry, the labelled
canvas and the photographic finish.

Shapes are given in a 128-unit layout frame and drawn with PIL at :data:`_SUPERSAMPLE` times the output
size; the canvas keeps a parallel label map of which object covers each pixel, from which an image's
object labels are read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .vocabulary import OBJECT_LABELS

_LABEL_ID: dict[str, int] = {name: i + 1 for i, name in enumerate(OBJECT_LABELS)}  # 0 = nothing

_U = 128.0  # layout frame: sizes and positions are given in pixels of a 128 px image, then scaled
# Layout extent that covers the frame at any rotation (half diagonal 90.5 around the centre, plus margin).
_LO, _HI = -30.0, 158.0
_SUPERSAMPLE = 2
_MIN_VISIBLE_AREA = 6.0  # unit pixels an object label needs to be visible to count as present
_SHADOW = (0, 0, 0, 95)


class _Draws:
    """A numpy Generator whose scalar draws come from a pre-drawn buffer.

    Scenes make thousands of scalar draws (one per house, tree, parking stall); a Generator call costs
    about a microsecond of overhead each, a buffer read a tenth of that. Array draws go to the Generator.
    """

    def __init__(self, gen: np.random.Generator, chunk: int = 512) -> None:
        self.gen = gen
        self._chunk = chunk
        self._buf: list[float] = []
        self._pos = 0

    def random(self, size: int | tuple[int, ...] | None = None):  # noqa: ANN201 - float or array
        if size is not None:
            return self.gen.random(size)
        if self._pos == len(self._buf):
            self._buf = self.gen.random(self._chunk).tolist()
            self._pos = 0
        self._pos += 1
        return self._buf[self._pos - 1]

    def uniform(self, low: float = 0.0, high: float = 1.0, size: int | tuple[int, ...] | None = None):  # noqa: ANN201
        if size is not None:
            return self.gen.uniform(low, high, size)
        return low + (high - low) * self.random()

    def integers(self, low: int, high: int | None = None, size: int | tuple[int, ...] | None = None, **kw):  # noqa: ANN201
        if size is not None or kw:
            return self.gen.integers(low, high, size, **kw)
        if high is None:
            low, high = 0, low
        return low + min(int(self.random() * (high - low)), high - low - 1)

    def __getattr__(self, name: str):  # noqa: ANN204 - everything else is the Generator's
        return getattr(self.gen, name)


def _jit(rng: _Draws, color: Sequence[int], amount: int) -> tuple[int, int, int]:
    """A colour with one shared brightness shift and a smaller per-channel shift."""
    u = rng.random(4)  # one call: Generator.integers is slow per call and this runs thousands of times
    shared = (u[0] * 2 - 1) * amount
    return tuple(int(min(255, max(0, c + shared + (u[k + 1] * 2 - 1) * amount / 3))) for k, c in enumerate(color[:3]))


def _shade(color: Sequence[int], delta: int) -> tuple[int, int, int]:
    return tuple(int(min(255, max(0, c + delta))) for c in color[:3])


def _texture(
    rng: _Draws,
    size: int,
    color: Sequence[int],
    contrast: float = 0.1,
    cells: int = 8,
    grain: float = 0.5,
) -> Image.Image:
    """Ground texture: ``color`` modulated by low-frequency blotches and a medium grain.

    Built at half the canvas size (the output resolution) and doubled with nearest-neighbour sampling,
    which the final 2x box filter undoes exactly; a smooth upsampling would cost ten times more. Channels
    are computed as separate planes: numpy broadcasting over a last axis of 3 is several times slower."""
    half = max(size // _SUPERSAMPLE, 8)
    mid = max(half // 3, cells)
    coarse = Image.fromarray(rng.standard_normal((cells, cells)).astype(np.float32))
    fld = np.asarray(coarse.resize((mid, mid), Image.Resampling.BILINEAR))
    fld = fld + np.float32(grain) * rng.standard_normal((mid, mid)).astype(np.float32)
    fld = np.asarray(Image.fromarray(fld).resize((half, half), Image.Resampling.BILINEAR))
    shade = np.float32(1.0) + np.float32(contrast) * fld
    tint = np.asarray(color, np.float64) * (1.0 + 0.025 * rng.standard_normal(3))
    planes = [Image.fromarray(np.clip(shade * np.float32(t), 0, 255).astype(np.uint8)) for t in tint.tolist()]
    return Image.merge("RGB", planes).resize((size, size), Image.Resampling.NEAREST)


def _box(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _place(local: Sequence[tuple[float, float]], x: float, y: float, angle: float) -> list[tuple[float, float]]:
    """Rotate local shape coordinates by ``angle`` and move them to ``(x, y)``."""
    c, s = math.cos(angle), math.sin(angle)
    return [(x + a * c - b * s, y + a * s + b * c) for a, b in local]


def _rect(x: float, y: float, length: float, width: float, angle: float) -> list[tuple[float, float]]:
    h, w = length / 2, width / 2
    return _place([(-h, -w), (h, -w), (h, w), (-h, w)], x, y, angle)


class _Canvas:
    """An RGB picture plus a parallel map of which object label covers each pixel.

    Shapes are given in layout coordinates (a 128-unit frame) and go through the scene's rotation about
    the frame centre, so a layout can be drawn at any orientation; shadows are offset in image space so
    the sun stays consistent.
    """

    def __init__(
        self,
        size: int,
        background: Image.Image,
        ground_color: Sequence[int],
        ground_label: str,
        sun_angle: float,
    ) -> None:
        self.size = size
        self.ground_color = tuple(ground_color)
        self.ground_label = ground_label
        self.scale = size / _U
        self.image = background
        self.draw = ImageDraw.Draw(self.image, "RGBA")
        self.label_map = Image.new("L", (size, size), _LABEL_ID[ground_label])
        self.label_draw = ImageDraw.Draw(self.label_map)
        self.shadow_dir = (math.cos(sun_angle), math.sin(sun_angle))  # image-space, away from the sun
        self.set_rotation(0.0)

    def set_rotation(self, angle: float) -> None:
        self.angle = angle
        self._c, self._s = math.cos(angle), math.sin(angle)

    def frame_point(self, x: float, y: float) -> tuple[float, float]:
        dx, dy = x - 64.0, y - 64.0
        return dx * self._c - dy * self._s + 64.0, dx * self._s + dy * self._c + 64.0

    def inside(self, x: float, y: float, margin: float = 0.0) -> bool:
        u, v = self.frame_point(x, y)
        return margin <= u <= _U - margin and margin <= v <= _U - margin

    def toward_sun(self) -> tuple[float, float]:
        """Unit vector pointing to the sun, in layout coordinates (for highlights)."""
        dx, dy = -self.shadow_dir[0], -self.shadow_dir[1]
        return dx * self._c + dy * self._s, -dx * self._s + dy * self._c

    def _px(self, pts: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        c, s, k = self._c, self._s, self.scale
        return [
            (((x - 64.0) * c - (y - 64.0) * s + 64.0) * k, ((x - 64.0) * s + (y - 64.0) * c + 64.0) * k) for x, y in pts
        ]

    def polygon(
        self,
        pts: Sequence[tuple[float, float]],
        fill: Sequence[int],
        label: str | None = None,
        shadow: float = 0.0,
    ) -> None:
        px = self._px(pts)
        if shadow > 0:
            ox, oy = self.shadow_dir[0] * shadow * self.scale, self.shadow_dir[1] * shadow * self.scale
            self.draw.polygon([(x + ox, y + oy) for x, y in px], fill=_SHADOW)
        self.draw.polygon(px, fill=tuple(fill))
        if label is not None:
            self.label_draw.polygon(px, fill=_LABEL_ID[label])

    def circle(
        self, x: float, y: float, r: float, fill: Sequence[int], label: str | None = None, shadow: float = 0.0
    ) -> None:
        ((cx, cy),) = self._px([(x, y)])
        rr = r * self.scale
        if shadow > 0:
            ox, oy = self.shadow_dir[0] * shadow * self.scale, self.shadow_dir[1] * shadow * self.scale
            self.draw.ellipse((cx + ox - rr, cy + oy - rr, cx + ox + rr, cy + oy + rr), fill=_SHADOW)
        self.draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=tuple(fill))
        if label is not None:
            self.label_draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=_LABEL_ID[label])

    def line(
        self, pts: Sequence[tuple[float, float]], width: float, fill: Sequence[int], label: str | None = None
    ) -> None:
        px = self._px(pts)
        w = max(1, round(width * self.scale))
        self.draw.line(px, fill=tuple(fill), width=w)
        if label is not None:
            self.label_draw.line(px, fill=_LABEL_ID[label], width=w)

    def paint(self, pts: Sequence[tuple[float, float]], texture: Image.Image, label: str | None) -> None:
        """Fill a polygon with a texture image (same size as the canvas)."""
        px = self._px(pts)
        mask = Image.new("L", (self.size, self.size), 0)
        ImageDraw.Draw(mask).polygon(px, fill=255)
        self.image.paste(texture, (0, 0), mask)
        if label is not None:
            self.label_draw.polygon(px, fill=_LABEL_ID[label])

    def texture(self, rng: _Draws, color: Sequence[int], **kwargs: float) -> Image.Image:
        return _texture(rng, self.size, color, **kwargs)  # type: ignore[arg-type]

    def visible_labels(self) -> list[str]:
        counts = self.label_map.histogram()
        need = _MIN_VISIBLE_AREA * self.scale * self.scale
        return [name for name in OBJECT_LABELS if counts[_LABEL_ID[name]] >= need]


_GRIDS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _finish(image: Image.Image, rng: _Draws) -> np.ndarray:
    """Photographic jitter: exposure and white balance, a gentle light gradient and sensor grain.

    Works on channel planes (3, H, W); the (H, W, 3) result is a transposed view of them."""
    size = image.size[0]
    if size not in _GRIDS:
        ramp = np.linspace(-1.0, 1.0, size, dtype=np.float32)
        _GRIDS[size] = (ramp[None, :], ramp[:, None])
    gx, gy = _GRIDS[size]
    gain = (rng.uniform(0.88, 1.12) * rng.uniform(0.95, 1.05, 3)).astype(np.float32)
    slope = rng.uniform(-0.06, 0.06, 2).astype(np.float32)
    a = np.asarray(image).transpose(2, 0, 1).astype(np.float32)
    a *= (1.0 + slope[0] * gx) + slope[1] * gy  # (H, W) light gradient
    a *= gain[:, None, None]
    # Uniform byte noise is several times cheaper to draw than Gaussian noise and looks the same as grain.
    grain = rng.integers(0, 256, (4, size, size), dtype=np.uint8).astype(np.float32)
    a += grain[:1] * np.float32(0.045)
    a += grain[1:] * np.float32(0.02)
    a -= np.float32(255 * 0.065 / 2)
    np.clip(a, 0, 255, out=a)
    return a.astype(np.uint8).transpose(1, 2, 0)
