"""Config dataclasses validate themselves and name the fix."""

import pytest

from policies.vla.config import VLAConfig
from vla.model.backbone_config import BackboneConfig
from vla.model.config import TokenizerConfig


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"decoder": "beam"}, "policy.decoder='beam'"),
        ({"chunk_size": 0}, "policy.chunk_size=0"),
        ({"chunk_size": 8, "n_action_steps": 9}, r"n_action_steps=9 must be in \[1, chunk_size=8\]"),
        ({"temporal_ensemble_coeff": 0.01}, "set policy.n_action_steps=1"),
        ({"state_norm": "minmax"}, "policy.state_norm='minmax'"),
        ({"tokenizer": {"type": "vq"}}, "tokenizer.type='vq'"),
        ({"tokenizer": {"bins": 3}}, r"tokenizer: unknown key\(s\) \['bins'\]"),
        ({"backbone": {"dtype": "float64"}}, "backbone.dtype='float64'"),
        ({"backbone": {"image_size": 100}}, "multiple of patch_size\\*scale_factor=24"),
        ({"backbone": {"freeze_lm": True}}, "set backbone.lora_rank > 0"),
        ({"chunk": 4}, r"policy: unknown key\(s\) \['chunk'\]"),
    ],
)
def test_bad_values_are_rejected_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VLAConfig.from_dict(kwargs)


def test_from_dict_accepts_omegaconf_and_round_trips():
    from omegaconf import OmegaConf

    node = OmegaConf.create(
        {
            "name": "vla",
            "backbone": {"name": "tiny"},
            "tokenizer": {"type": "fast"},
            "chunk_size": 8,
            "n_action_steps": 4,
        }
    )
    cfg = VLAConfig.from_dict(node)
    assert isinstance(cfg.backbone, BackboneConfig) and isinstance(cfg.tokenizer, TokenizerConfig)
    assert (cfg.tokenizer.type, cfg.chunk_size, cfg.n_action_steps) == ("fast", 8, 4)
    assert VLAConfig.from_dict(cfg.to_dict()) == cfg


def test_policy_yaml_resolves_the_backbone_and_tokenizer_groups():
    """conf/policy/vla.yaml takes ${backbone} / ${tokenizer} from the top-level groups (conf/config.yaml)."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from vla.config import CONF_DIR

    conf = Path(CONF_DIR)
    for backbone in ("tiny", "smolvlm2_256m", "smolvlm2_500m", "paligemma2_3b", "qwen2_5_vl_3b"):
        for tokenizer in ("bins", "fast"):
            root = OmegaConf.create(
                {
                    "policy": OmegaConf.load(conf / "policy" / "vla.yaml"),
                    "backbone": OmegaConf.load(conf / "backbone" / f"{backbone}.yaml"),
                    "tokenizer": OmegaConf.load(conf / "tokenizer" / f"{tokenizer}.yaml"),
                }
            )
            vcfg = VLAConfig.from_dict(root.policy)
            assert vcfg.backbone.name == backbone and vcfg.tokenizer.type == tokenizer
