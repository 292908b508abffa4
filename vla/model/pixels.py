"""Camera frames -> the pixels each VLM family's own image processor makes of them, in torch.

A checkpoint saw its image processor's pixels in pretraining: PIL's resampling for SmolVLM (Lanczos,
AutoProcessor's default backend there), torchvision's for SigLIP and Qwen2-VL (bicubic), each with its
own geometry (longest edge then square, and tiles when SmolVLM splits images; a plain square for SigLIP;
a pixel budget in 28 px units for Qwen2-VL). Frames arrive here as float tensors in [0, 1] already on
the device, so the same filters are applied as matrices: PIL's separable antialiased resampling,
horizontal pass first, each pass clipped and rounded to the 8-bit grid as PIL (and torchvision on
uint8) do. On 8-bit frames that reproduces the processors to within one 8-bit level in rare ties
(tests/vla/model/test_parity.py states the tolerances). No transformers import: the processor
objects are read, never built, here.
"""

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import torch

# PIL's Image.Resampling codes, as image processors store them in `resample`
_PIL_CODES = {1: "lanczos", 2: "bilinear", 3: "bicubic"}


def _bilinear(x: torch.Tensor) -> torch.Tensor:
    return (1 - x.abs()).clamp(min=0)


def _bicubic(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:  # PIL's and torch's antialias a = -0.5
    x = x.abs()
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return torch.where(x < 1, near, torch.where(x < 2, far, torch.zeros_like(x)))


def _sinc(x: torch.Tensor) -> torch.Tensor:
    safe = torch.where(x == 0, torch.ones_like(x), x)
    return torch.where(x == 0, torch.ones_like(x), torch.sin(math.pi * safe) / (math.pi * safe))


def _lanczos(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x.abs() < 3, _sinc(x) * _sinc(x / 3), torch.zeros_like(x))


# name -> (filter, support in input pixels at scale 1)
KERNELS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    "bilinear": (_bilinear, 1.0),
    "bicubic": (_bicubic, 2.0),
    "lanczos": (_lanczos, 3.0),
}


def kernel_of(image_processor: Any) -> str:
    """The resampling filter an image processor applies. transformers' torchvision backend has no
    Lanczos and uses bicubic for it (with a warning); its PIL backend (SmolVLM's default) keeps Lanczos."""
    code = int(getattr(image_processor, "resample", 2))
    kernel = _PIL_CODES.get(code)
    if kernel is None:
        raise ValueError(f"image processor resample={code}: mirrored are bilinear 2, bicubic 3, lanczos 1")
    is_pil = type(image_processor).__name__.endswith("Pil")
    return "bicubic" if kernel == "lanczos" and not is_pil else kernel


PRECISION_BITS = 22  # PIL's fixed-point precision for 8-bit images (32 - 8 - 2)


@lru_cache(maxsize=64)
def resize_matrix(n_in: int, n_out: int, kernel: str) -> torch.Tensor:
    """(n_out, n_in) float64 integer weights of PIL's antialiased resampling along one axis: its
    precompute_coeffs (double precision), then normalize_coeffs_8bpc (x 2^22, rounded half away from 0)."""
    fn, support = KERNELS[kernel]
    scale = n_in / n_out
    stretch = max(scale, 1.0)  # downsampling widens the filter: antialiasing
    reach = support * stretch
    center = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale
    first = (center - reach + 0.5).floor().clamp(min=0)
    stop = (center + reach + 0.5).floor().clamp(max=n_in)
    j = torch.arange(n_in, dtype=torch.float64)
    weights = fn((j[None] - center[:, None] + 0.5) / stretch)
    weights = weights * ((j[None] >= first[:, None]) & (j[None] < stop[:, None]))
    weights = weights / weights.sum(1, keepdim=True) * (1 << PRECISION_BITS)
    return weights.sign() * (weights.abs() + 0.5).floor()


def _resample(levels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """One pass over the last axis, in PIL's integer arithmetic (exact in float64: < 2^53)."""
    acc = levels @ weights.to(levels.device).T + (1 << (PRECISION_BITS - 1))
    return torch.floor(acc / (1 << PRECISION_BITS)).clamp(0, 255)


def resize(x: torch.Tensor, size: tuple[int, int], kernel: str) -> torch.Tensor:
    """(..., H, W) in [0, 1] -> (..., h, w): PIL's resampling of the 8-bit image x * 255, horizontal pass
    first, each pass clipped and rounded to 8 bits (see the module doc)."""
    h, w = size
    if x.shape[-2:] == (h, w):
        return x
    levels = torch.floor(x.double().clamp(0, 1) * 255 + 0.5)  # the frame's 8-bit values
    if x.shape[-1] != w:
        levels = _resample(levels, resize_matrix(x.shape[-1], w, kernel))
    if x.shape[-2] != h:
        levels = _resample(levels.transpose(-1, -2), resize_matrix(x.shape[-2], h, kernel)).transpose(-1, -2)
    return (levels / 255).to(x.dtype)


# ------------------------------------------------------------------- geometry of each family's processor


def longest_edge_size(h: int, w: int, longest: int) -> tuple[int, int]:
    """Idefics3/SmolVLM: the longest edge to `longest`, the other kept in proportion and made even."""
    if w >= h:
        h2 = int(longest / (w / h))
        return h2 + h2 % 2, longest
    w2 = int(longest * (w / h))
    return longest, w2 + w2 % 2


def tile_multiple_size(h: int, w: int, tile: int) -> tuple[int, int]:
    """Idefics3/SmolVLM with image splitting: each side up to a multiple of the tile, aspect kept."""
    if w >= h:
        w2 = math.ceil(w / tile) * tile
        return math.ceil(int(w2 / (w / h)) / tile) * tile, w2
    h2 = math.ceil(h / tile) * tile
    return h2, math.ceil(int(h2 * (w / h)) / tile) * tile


def smart_resize(h: int, w: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's dynamic resolution: sides in multiples of `factor`, area within [min, max] pixels."""
    h_bar, w_bar = round(h / factor) * factor, round(w / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        down = (
            max(factor, math.floor(h / beta / factor) * factor),
            max(factor, math.floor(w / beta / factor) * factor),
        )
        return down
    if h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        return math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return h_bar, w_bar


def idefics_views(x: torch.Tensor, ip: Any, kernel: str) -> torch.Tensor:
    """(B, 3, H, W) -> (B, V, 3, t, t): SmolVLM's processor geometry. Without splitting, one square view;
    with it, the tiles row by row, then the whole image at tile size (the processor's order)."""
    x = resize(x, longest_edge_size(*x.shape[-2:], ip.size["longest_edge"]), kernel)
    tile = ip.max_image_size["longest_edge"]
    if not ip.do_image_splitting:
        return resize(x, (tile, tile), kernel)[:, None]
    x = resize(x, tile_multiple_size(*x.shape[-2:], tile), kernel)
    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return x[:, None]
    tiles = x.unfold(2, tile, tile).unfold(3, tile, tile)  # (B, 3, rows, cols, t, t)
    tiles = tiles.permute(0, 2, 3, 1, 4, 5).flatten(1, 2)  # (B, rows * cols, 3, t, t)
    return torch.cat([tiles, resize(x, (tile, tile), kernel)[:, None]], 1)


def square_views(x: torch.Tensor, ip: Any, kernel: str) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, 3, S, S): SigLIP (PaliGemma) resizes to its fixed square."""
    return resize(x, (ip.size["height"], ip.size["width"]), kernel)[:, None]


def budget_views(x: torch.Tensor, ip: Any, kernel: str) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, 3, h, w): Qwen2-VL's dynamic resolution at the processor's pixel budget."""
    size = ip.size
    factor = ip.patch_size * ip.merge_size
    shape = smart_resize(*x.shape[-2:], factor, size["shortest_edge"], size["longest_edge"])
    return resize(x, shape, kernel)[:, None]


def normalise(x: torch.Tensor, ip: Any) -> torch.Tensor:
    """(..., 3, h, w) in [0, 1] -> (x - mean) / std with the processor's statistics."""
    mean = torch.tensor(ip.image_mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(ip.image_std, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x - mean) / std
