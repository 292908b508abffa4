"""Our torch pixel path feeds each family what its own image processor would, at the presets' sizes.

The reference is the family's image processor class built here from the preset's values, on the 8-bit
camera frame (as in pretraining); ours is Backbone.image_inputs on the same frame as floats in [0, 1]
(what the data loader gives). Frames: the envs' 96x96 camera and a 480x640 (4:3) robot camera.

Tolerance (stated in docs/model.md). Against PIL-backend processors (SmolVLM's default, SigLIP's
original): identical, since vla/model/pixels.py does PIL's integer arithmetic. Against torchvision-
backend ones (SigLIP's and Qwen2-VL's default in transformers 5): at most one 8-bit level, on at most
0.5% of the values (torch's uint8 resampler picks its own fixed-point precision; measured: 0.005% of
values upscaling 96 px, 0.31% downscaling 480x640). Image tokens: the same ids, in the same order.
"""

import numpy as np
import pytest
import torch
from transformers import (
    Qwen2_5_VLProcessor,
    Qwen2VLImageProcessor,
    SiglipImageProcessor,
    SmolVLMImageProcessor,
    SmolVLMProcessor,
)
from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil
from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil
from transformers.models.smolvlm.video_processing_smolvlm import SmolVLMVideoProcessor

from tests.vla.model.tiny_families import preset_geometry
from vla.model.backbone import Backbone
from vla.model.backbone_config import BackboneConfig

SHAPES = [(96, 96), (480, 640)]


def camera_frame(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A deterministic 8-bit frame with what resampling is sensitive to: gradients, a hard-edged block
    (ringing, clipping), noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] * (96 / max(h, w))
    img = np.stack([(xx * 2.5) % 256, (yy * 2.5) % 256, ((xx + yy) * 1.3) % 256], -1)
    img[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3] = [250, 10, 10]
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def as_float(frame: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)


def assert_pixels_close(ours: torch.Tensor, ref: torch.Tensor, std, reference: type) -> None:
    """Identical to a PIL-backend processor; within one 8-bit level on <= 0.5% of values of a
    torchvision-backend one."""
    assert ours.shape == ref.shape
    std = torch.as_tensor(std, dtype=torch.float32).view(3, 1, 1)
    levels = ((ours.float() - ref.float()) * std * 255).abs()  # (..., 3, h, w) back to 8-bit units
    off = (levels > 0.01).float().mean().item()
    worst, share = (0.01, 0.0) if type(reference).__name__.endswith("Pil") else (1.01, 0.005)
    assert levels.max().item() <= worst and off <= share, f"max {levels.max():.3f} levels on {off:.3%}"


def backbone(family: str, **cfg) -> Backbone:
    processor, model = preset_geometry(family)
    return Backbone(model, processor, BackboneConfig(name=family, pretrained="preset", **cfg))


@pytest.fixture(scope="module")
def smolvlm():
    return preset_geometry("smolvlm")


def smolvlm_reference(tokenizer, split: bool, size: int) -> SmolVLMProcessor:
    """SmolVLM2's processor with the preset's values (preprocessor_config: Lanczos, 512 px tiles)."""
    ip = SmolVLMImageProcessorPil(
        do_image_splitting=split, size={"longest_edge": size}, max_image_size={"longest_edge": 512}
    )
    return SmolVLMProcessor(ip, tokenizer, SmolVLMVideoProcessor(), image_seq_len=64)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("split", "size", "views"), [(False, 512, 1), (True, 1024, 5)])
def test_smolvlm_pixels_and_image_tokens_match_its_processor(smolvlm, shape, split, size, views):
    processor, model = smolvlm
    cfg = BackboneConfig(pretrained="preset", image_size=size, image_splitting=split)
    bb = Backbone(model, processor, cfg)
    frame = camera_frame(*shape)
    ref = smolvlm_reference(bb.tokenizer, split, size)
    want = ref(text=["<image>"], images=[[frame]], return_tensors="pt")
    ours = bb.image_inputs([as_float(frame)])["pixel_values"]
    assert ours.shape == (1, views, 3, 512, 512)
    assert_pixels_close(ours, want["pixel_values"], ref.image_processor.image_std, ref.image_processor)
    ids = bb.image_prefix_ids([shape])
    assert ids == want["input_ids"][0].tolist()
    assert ids.count(bb.processor.image_token_id) == 64 * views  # 8x8 per 512 px view (pixel shuffle 4)
    if split:  # tiles carry their grid position, then the whole frame: the processor's layout
        text = bb.tokenizer.decode(ids)
        assert text.index("<row_1_col_1>") < text.index("<row_2_col_2>") < text.index("<global-img>")


def test_smolvlm_split_views_run_through_the_model(smolvlm):
    processor, model = smolvlm
    cfg = BackboneConfig(pretrained="preset", image_size=1024, image_splitting=True)
    bb = Backbone(model, processor, cfg)
    frames = [as_float(camera_frame(96, 96, seed=s)) for s in (1, 2)]
    ids = torch.tensor([bb.image_prefix_ids([(96, 96)] * 2)])
    with torch.no_grad():
        hidden, _ = bb.hidden_states(ids, torch.ones_like(ids), bb.image_inputs(frames))
    assert hidden.shape[1] == ids.shape[1] and torch.isfinite(hidden).all()  # 10 views' features placed


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reference", [SiglipImageProcessor, SiglipImageProcessorPil])
def test_paligemma_pixels_and_image_tokens_match_siglip(shape, reference):
    """PaliGemma 2 224: AutoProcessor loads SigLIP's torchvision backend; the PIL one is the original."""
    bb = backbone("paligemma", image_size=None)
    frame = camera_frame(*shape)
    ref = reference(size={"height": 224, "width": 224})  # bicubic, mean = std = 0.5
    ours = bb.image_inputs([as_float(frame)])["pixel_values"]
    assert ours.shape == (1, 3, 224, 224)
    assert_pixels_close(ours, ref(images=[frame], return_tensors="pt")["pixel_values"], ref.image_std, ref)
    ids = bb.image_prefix_ids([shape])
    assert ids.count(bb.processor.image_token_id) == 256  # 16x16 patches of 14 px
    assert ids[256:] == [bb.tokenizer.bos_token_id]  # the newline that ends its prefix text: build_prompt


@pytest.mark.parametrize(("shape", "grid"), [((96, 96), (1, 16, 16)), ((480, 640), (1, 12, 18))])
def test_qwen_dynamic_resolution_matches_its_processor(shape, grid):
    """A budget of 224^2 pixels: a square frame -> 224x224 (64 tokens); 4:3 keeps its aspect: 168x252
    (54 tokens)."""
    bb = backbone("qwen2_5_vl", image_size=224)
    frame = camera_frame(*shape)
    budget = 224 * 224
    ref = Qwen2_5_VLProcessor(
        Qwen2VLImageProcessor(min_pixels=budget, max_pixels=budget), bb.tokenizer, Qwen2VLVideoProcessor()
    )
    want = ref(text=["<|vision_start|><|image_pad|><|vision_end|>"], images=[frame], return_tensors="pt")
    ours = bb.image_inputs([as_float(frame)])
    assert ours["image_grid_thw"].tolist() == want["image_grid_thw"].tolist() == [list(grid)]
    # patches are rows of (3 channels x 2 frames x 14 x 14): compare them as images
    patches = ours["pixel_values"].view(-1, 3, 2 * 14, 14)
    want_patches = want["pixel_values"].view(-1, 3, 2 * 14, 14)
    assert_pixels_close(patches, want_patches, ref.image_processor.image_std, ref.image_processor)
    ids = bb.image_prefix_ids([shape])
    assert ids == want["input_ids"][0].tolist()
    assert ids.count(bb.tokenizer.convert_tokens_to_ids("<|image_pad|>")) == grid[1] * grid[2] // 4


def test_kernels_follow_the_processor_backend():
    from vla.model.pixels import kernel_of

    assert kernel_of(SmolVLMImageProcessorPil()) == "lanczos"  # PIL keeps Lanczos
    assert kernel_of(SiglipImageProcessor()) == "bicubic"
    assert kernel_of(SmolVLMImageProcessor()) == "bicubic"  # torchvision has no Lanczos: bicubic, as it does
