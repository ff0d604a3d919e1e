"""Presentation attacks synthesised from real face crops (numpy + OpenCV, seeded).

A crop of a live face is turned into what a camera would see if the same picture were shown to it
on a screen or on paper. Drawn at ``STORE_SIZE`` (finer than the model's input) and then shrunk:

* screen re-capture: RGB sub-pixel grid, moiré (beating gratings, sometimes rainbow-coloured),
  gamma, raised black level and colour cast, glare, a bezel edge with the room behind it, a small
  perspective tilt, defocus, sensor noise, JPEG;
* print: halftone dots, reduced dynamic range and saturation, paper tint and texture, bending
  (cylindrical warp with shading), the paper's edge, defocus, noise, JPEG.

``benign`` applies the capture variations a live face also shows (mild gamma, white balance, blur,
noise, JPEG) so that they alone do not mark an attack; it is applied to real and attack crops alike.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]


def _f(img: U8) -> F32:
    return img.astype(np.float32) / 255.0


def _u8(img: F32) -> U8:
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _grid(n: int) -> tuple[F32, F32]:
    yy, xx = np.mgrid[:n, :n].astype(np.float32)
    return yy, xx


def jpeg(img: F32, quality: int) -> F32:
    ok, buf = cv2.imencode(".jpg", _u8(img), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return _f(np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)) if ok else img


def blur(img: F32, sigma: float) -> F32:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma), np.float32) if sigma > 0.05 else img


def colour(img: F32, rng: np.random.Generator, gamma: tuple[float, float], gain: float) -> F32:
    g = float(rng.uniform(*gamma))
    gains = rng.uniform(1.0 - gain, 1.0 + gain, 3).astype(np.float32)
    return np.clip(img, 0, 1) ** g * gains


def benign(img: U8, rng: np.random.Generator) -> U8:
    """Live-capture variation: gamma, white balance, brightness, blur, noise, JPEG (each maybe)."""
    x = _f(img)
    if rng.random() < 0.7:
        x = colour(x, rng, (0.8, 1.25), 0.06) * float(rng.uniform(0.85, 1.15))
    if rng.random() < 0.3:
        x = blur(x, float(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.003, 0.02), x.shape).astype(np.float32)
    if rng.random() < 0.5:
        x = jpeg(np.clip(x, 0, 1), int(rng.integers(40, 95)))
    return _u8(x)


def pixel_grid(x: F32, rng: np.random.Generator) -> F32:
    """RGB sub-pixel stripes (BGR order reversed on the screen) and the dark gaps between pixels."""
    n = x.shape[0]
    period = float(rng.uniform(1.6, 4.0))
    amp = float(rng.uniform(0.08, 0.3))
    angle = float(rng.uniform(-0.15, 0.15))
    yy, xx = _grid(n)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = yy * np.cos(angle) - xx * np.sin(angle)
    out = np.empty_like(x)
    for c in range(3):
        phase = 2 * np.pi * (2 - c) / 3.0
        out[:, :, c] = x[:, :, c] * (1 - amp + amp * np.cos(2 * np.pi * u / period + phase))
    rows = 1 - 0.5 * amp * (1 + np.cos(2 * np.pi * v / period))
    return out * rows[:, :, None]


def moire(x: F32, rng: np.random.Generator) -> F32:
    """One or two beating gratings, slightly curved; rainbow-coloured half the time."""
    n = x.shape[0]
    yy, xx = _grid(n)
    field = np.zeros((n, n), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        period = float(rng.uniform(5.0, 36.0))
        theta = float(rng.uniform(0, np.pi))
        bend = float(rng.uniform(-0.004, 0.004))
        u = xx * np.cos(theta) + yy * np.sin(theta) + bend * (xx - n / 2) ** 2
        field += np.cos(2 * np.pi * u / period + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    amp = float(rng.uniform(0.04, 0.18))
    if rng.random() < 0.5:
        shifts = rng.uniform(0, 2 * np.pi, 3)
        base = field / max(float(np.abs(field).max()), 1e-6)
        mod = np.stack([np.cos(np.arccos(np.clip(base, -1, 1)) + s) for s in shifts], axis=-1)
        return x * (1 + amp * mod.astype(np.float32))
    return x * (1 + amp * field / max(float(np.abs(field).max()), 1e-6))[:, :, None]


def glare(x: F32, rng: np.random.Generator) -> F32:
    """A soft, elongated specular highlight (reflection on glass or glossy paper)."""
    n = x.shape[0]
    yy, xx = _grid(n)
    cy, cx = rng.uniform(0, n, 2)
    sx, sy = rng.uniform(0.06, 0.45, 2) * n
    theta = float(rng.uniform(0, np.pi))
    u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    v = (yy - cy) * np.cos(theta) - (xx - cx) * np.sin(theta)
    blob = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2)).astype(np.float32)
    tint = rng.uniform(0.85, 1.0, 3).astype(np.float32)
    return x + float(rng.uniform(0.15, 0.7)) * blob[:, :, None] * tint


def _surroundings(n: int, rng: np.random.Generator) -> F32:
    """Room behind the screen/paper: a smooth random colour field with some texture."""
    small = rng.uniform(0, 1, (3, 3, 3)).astype(np.float32) * float(rng.uniform(0.2, 0.9))
    bg = cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC)
    return np.clip(bg + blur(rng.normal(0, 0.04, (n, n, 3)).astype(np.float32), 1.0), 0, 1)


def frame_edge(x: F32, rng: np.random.Generator, bezel: bool) -> F32:
    """Cut the picture off along 1–2 sides in the outer margin: a bezel (dark) or paper border."""
    n = x.shape[0]
    bg = _surroundings(n, rng)
    yy, xx = _grid(n)
    keep = np.ones((n, n), bool)
    band = np.zeros((n, n), bool)
    width = float(rng.uniform(0.02, 0.12)) * n
    for side in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
        pos = float(rng.uniform(0.04, 0.24)) * n  # inside the margin: the face fills the middle
        tilt = float(rng.uniform(-0.12, 0.12))
        coord = {
            0: xx + tilt * yy,
            1: (n - 1 - xx) + tilt * yy,
            2: yy + tilt * xx,
            3: (n - 1 - yy) + tilt * xx,
        }
        d = coord[int(side)]
        keep &= d >= pos
        band |= (d >= pos - width) & (d < pos)
    if bezel:
        edge_colour = rng.uniform(0.0, 0.18) + rng.uniform(-0.02, 0.02, 3)
    else:
        edge_colour = rng.uniform(0.75, 0.97) * rng.uniform(0.95, 1.0, 3)
    out = np.where(keep[:, :, None], x, bg)
    out = np.where(band[:, :, None], edge_colour.astype(np.float32), out)
    return blur(out.astype(np.float32), 0.6)


def perspective(x: F32, rng: np.random.Generator, amount: float) -> F32:
    n = x.shape[0]
    src = np.array([[0, 0], [n, 0], [n, n], [0, n]], dtype=np.float32)
    dst = src + rng.uniform(-amount, amount, (4, 2)).astype(np.float32) * n
    m = cv2.getPerspectiveTransform(src, dst)
    return np.asarray(cv2.warpPerspective(x, m, (n, n), borderMode=cv2.BORDER_REFLECT), np.float32)


def screen_attack(img: U8, rng: np.random.Generator) -> U8:
    """The crop as re-captured from a phone, tablet or monitor screen."""
    x = _f(img)
    if rng.random() < 0.6:
        x = perspective(x, rng, 0.04)
    # a screen lifts the black level, applies its own gamma and white point
    black = float(rng.uniform(0.0, 0.12))
    x = black + (1 - black) * colour(x, rng, (0.6, 1.5), 0.12)
    if rng.random() < 0.3:  # blue-ish or warm display white point
        white = np.array([rng.uniform(1.0, 1.15), 1.0, rng.uniform(0.85, 1.0)], dtype=np.float32)
        x = x * white[:: int(rng.choice([-1, 1]))]
    if rng.random() < 0.75:
        x = pixel_grid(x, rng)
    if rng.random() < 0.7:
        x = moire(x, rng)
    if rng.random() < 0.4:
        x = glare(x, rng)
    if rng.random() < 0.4:
        x = frame_edge(x, rng, bezel=True)
    x = blur(x, float(rng.uniform(0.0, 1.6)) if rng.random() < 0.6 else 0.0)
    x = x + rng.normal(0, rng.uniform(0.0, 0.025), x.shape).astype(np.float32)
    if rng.random() < 0.7:
        x = jpeg(np.clip(x, 0, 1), int(rng.integers(35, 95)))
    return _u8(x)


def halftone(x: F32, rng: np.random.Generator) -> F32:
    """Ordered dots per ink (C, M, Y from the complements), each screen at its own angle."""
    n = x.shape[0]
    yy, xx = _grid(n)
    period = float(rng.uniform(2.0, 4.5))
    out = np.empty_like(x)
    base = float(rng.uniform(0, np.pi / 2))
    for c, offset in enumerate((0.0, 0.26, 0.79)):
        a = base + offset
        u = xx * np.cos(a) + yy * np.sin(a)
        v = yy * np.cos(a) - xx * np.sin(a)
        spot = 0.25 * (2 + np.cos(2 * np.pi * u / period) + np.cos(2 * np.pi * v / period))
        ink = 1.0 - x[:, :, c]
        out[:, :, c] = 1.0 - (ink > spot).astype(np.float32)
    mix = float(rng.uniform(0.25, 0.7))  # the camera's optics blur dots into the picture
    return (1 - mix) * x + mix * blur(out, float(rng.uniform(0.4, 1.0)))


def paper(x: F32, rng: np.random.Generator) -> F32:
    """Compressed range, lower saturation, tinted paper, fibre texture."""
    n = x.shape[0]
    grey = x.mean(axis=2, keepdims=True)
    sat = float(rng.uniform(0.55, 0.95))
    x = grey + sat * (x - grey)
    lo, hi = float(rng.uniform(0.03, 0.15)), float(rng.uniform(0.75, 0.95))
    tint = np.array(
        [rng.uniform(0.85, 1.0), rng.uniform(0.93, 1.0), 1.0], dtype=np.float32
    )  # BGR: warm paper
    x = (lo + (hi - lo) * x) * tint
    grain = blur(rng.normal(0, 1, (n, n)).astype(np.float32), float(rng.uniform(0.5, 1.5)))
    fibre = cv2.resize(rng.normal(0, 1, (n // 8, n // 8)).astype(np.float32), (n, n))
    texture = float(rng.uniform(0.01, 0.05)) * grain + float(rng.uniform(0.0, 0.04)) * fibre
    return x * (1 + texture[:, :, None])


def bend(x: F32, rng: np.random.Generator) -> F32:
    """Cylindrical warp of the sheet (horizontal or vertical axis) with the shading it causes."""
    n = x.shape[0]
    yy, xx = _grid(n)
    k = float(rng.uniform(0.02, 0.09)) * n
    t = (xx if rng.random() < 0.7 else yy) / n * 2 - 1
    shift = (k * (1 - t**2)).astype(np.float32)
    if np.array_equal(t, xx / n * 2 - 1):
        mapx, mapy = xx + float(rng.uniform(-0.3, 0.3)) * shift, yy - shift
    else:
        mapx, mapy = xx - shift, yy + float(rng.uniform(-0.3, 0.3)) * shift
    out = cv2.remap(x, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    shade = 1 + float(rng.uniform(-0.25, 0.15)) * t + float(rng.uniform(-0.15, 0.1)) * t**2
    return out * shade[:, :, None].astype(np.float32)


def print_attack(img: U8, rng: np.random.Generator) -> U8:
    """The crop printed on paper, held up (maybe bent) and re-captured."""
    x = colour(_f(img), rng, (0.75, 1.35), 0.05)
    if rng.random() < 0.8:
        x = halftone(np.clip(x, 0, 1), rng)
    x = paper(x, rng)
    if rng.random() < 0.6:
        x = bend(x, rng)
    elif rng.random() < 0.5:
        x = perspective(x, rng, 0.05)
    if rng.random() < 0.35:
        x = frame_edge(x, rng, bezel=False)
    if rng.random() < 0.2:
        x = glare(x, rng)
    x = blur(x, float(rng.uniform(0.0, 1.5)) if rng.random() < 0.6 else 0.0)
    x = x + rng.normal(0, rng.uniform(0.0, 0.025), x.shape).astype(np.float32)
    if rng.random() < 0.7:
        x = jpeg(np.clip(x, 0, 1), int(rng.integers(35, 95)))
    return _u8(x)


def synthesise(crops: U8, seed: int, kinds: tuple[str, ...] = ("screen", "print")) -> U8:
    """One attack per crop, kinds alternating; deterministic for a given seed and input."""
    rng = np.random.default_rng(seed)
    fns = {"screen": screen_attack, "print": print_attack}
    out = np.empty_like(crops)
    for i, crop in enumerate(crops):
        out[i] = fns[kinds[i % len(kinds)]](crop, rng)
    return out
