"""Convolutional vision backbones (ResNet): feature map -> [mean] + patch tokens, grid and geometry."""

import pytest
import torch
from transformers import ResNetConfig, ResNetModel

from cogaze.errors import ConfigError
from cogaze.models.backbones import (
    BackboneConfig,
    build_vision_backbone,
    effective_patch_size,
    num_patches,
    patch_grid_side,
    vision_hidden_size,
    vision_tokens,
)
from cogaze.models.cogaze import ModelConfig
from cogaze.models.pretrained import image_geometry, patch_grid

RESNET = {"num_channels": 3, "embedding_size": 8, "hidden_sizes": [8, 16, 12], "depths": [1, 1, 1],
          "layer_type": "basic", "image_size": 64}


def test_resnet_tokens_from_local_dir(tmp_path):
    torch.manual_seed(0)
    net = ResNetModel(ResNetConfig(**RESNET)).eval()
    net.save_pretrained(tmp_path / "resnet")
    vis = build_vision_backbone(BackboneConfig(source=str(tmp_path / "resnet"), model_type="resnet"))
    assert effective_patch_size(vis.config) == 16 and patch_grid_side(vis.config) == 4 and num_patches(vis) == 16
    assert vision_hidden_size(vis.config) == 12
    x = torch.randn(2, 3, 64, 64)
    tokens = vision_tokens(vis, x)
    fmap = net(pixel_values=x).last_hidden_state  # (2, 12, 4, 4)
    assert tokens.shape == (2, 17, 12)
    # row-major patches: token 1 + r*4 + c is the feature at (r, c); slot 0 is their mean
    assert torch.allclose(tokens[:, 1 + 2 * 4 + 3], fmap[:, :, 2, 3], atol=1e-6)
    assert torch.allclose(tokens[:, 0], fmap.mean((2, 3)), atol=1e-6)


def test_resnet_grid_and_geometry_from_model_config():
    cfg = ModelConfig(vision=BackboneConfig(model_type="resnet", config=dict(RESNET)))
    assert patch_grid(cfg) == 4 and image_geometry(cfg).size == 64
    first = ModelConfig(vision=BackboneConfig(model_type="resnet",
                                              config={**RESNET, "downsample_in_first_stage": True}))
    assert patch_grid(first) == 2
    odd = ModelConfig(vision=BackboneConfig(model_type="resnet", config={**RESNET, "image_size": 72}))
    with pytest.raises(ConfigError, match="not a multiple"):
        patch_grid(odd)
    none = ModelConfig(vision=BackboneConfig(model_type="resnet", config={k: v for k, v in RESNET.items()
                                                                          if k != "image_size"}))
    with pytest.raises(ConfigError, match="image_size"):
        patch_grid(none)


def test_multiscale_tokens_concatenate_pooled_earlier_stages(tmp_path):
    """token_stages=k: each patch token = the last k stage maps average-pooled onto the last grid, concatenated
    (a key the saved config lacks still reaches the loaded config)."""
    torch.manual_seed(0)
    net = ResNetModel(ResNetConfig(**RESNET)).eval()
    net.save_pretrained(tmp_path / "resnet")
    vis = build_vision_backbone(BackboneConfig(source=str(tmp_path / "resnet"), model_type="resnet",
                                               config={"token_stages": 3}))
    assert vis.config.token_stages == 3 and vision_hidden_size(vis.config) == 8 + 16 + 12
    assert patch_grid_side(vis.config) == 4  # the grid stays the last stage's
    x = torch.randn(2, 3, 64, 64)
    tokens = vision_tokens(vis, x)
    hs = net(pixel_values=x, output_hidden_states=True).hidden_states  # stem, 16x16, 8x8, 4x4
    assert tokens.shape == (2, 17, 36)
    r, c = 1, 2
    want = torch.cat([hs[1][:, :, 4 * r:4 * r + 4, 4 * c:4 * c + 4].mean((2, 3)),
                      hs[2][:, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2].mean((2, 3)), hs[3][:, :, r, c]], dim=1)
    assert torch.allclose(tokens[:, 1 + 4 * r + c], want, atol=1e-5)
    assert torch.allclose(tokens[:, 0], tokens[:, 1:].mean(1), atol=1e-5)
    one = vision_tokens(build_vision_backbone(BackboneConfig(source=str(tmp_path / "resnet"), model_type="resnet")), x)
    assert torch.allclose(tokens[..., -12:], one, atol=1e-6)  # the last stage's part is the default token
    for bad in (0, 4):
        with pytest.raises(ConfigError, match="token_stages"):
            vision_hidden_size(build_vision_backbone(BackboneConfig(model_type="resnet",
                                                                    config={**RESNET, "token_stages": bad})).config)


def test_position_channels_tell_where_each_patch_lies(tmp_path):
    """token_position=F appends sin/cos of the patch centre's x and y (in [-1, 1]) at F frequencies."""
    torch.manual_seed(0)
    net = ResNetModel(ResNetConfig(**RESNET)).eval()
    net.save_pretrained(tmp_path / "resnet")
    vis = build_vision_backbone(BackboneConfig(source=str(tmp_path / "resnet"), model_type="resnet",
                                               config={"token_stages": 3, "token_position": 2}))
    assert vision_hidden_size(vis.config) == 8 + 16 + 12 + 4 * 2
    x = torch.randn(2, 3, 64, 64)
    tokens = vision_tokens(vis, x)
    assert tokens.shape == (2, 17, 44)
    plain = vision_tokens(build_vision_backbone(BackboneConfig(source=str(tmp_path / "resnet"), model_type="resnet",
                                                               config={"token_stages": 3})), x)
    assert torch.allclose(tokens[..., :36], plain, atol=1e-6)  # the image part is unchanged
    # patch (row 0, col 3) of the 4x4 grid: x = 0.75, y = -0.75; frequencies pi/2 and pi
    import math
    want = [math.sin(0.75 * math.pi / 2), math.sin(0.75 * math.pi), math.cos(0.75 * math.pi / 2), math.cos(0.75 * math.pi),
            math.sin(-0.75 * math.pi / 2), math.sin(-0.75 * math.pi), math.cos(-0.75 * math.pi / 2),
            math.cos(-0.75 * math.pi)]
    assert torch.allclose(tokens[1, 1 + 3, 36:], torch.tensor(want), atol=1e-6)
    # left and right halves differ in the x channels, so a text side can find its side
    assert tokens[0, 1 + 0, 36] < 0 < tokens[0, 1 + 3, 36]
    for bad in (-1, 17):
        with pytest.raises(ConfigError, match="token_position"):
            vision_hidden_size(build_vision_backbone(BackboneConfig(model_type="resnet",
                                                                    config={**RESNET, "token_position": bad})).config)


def test_finer_grid_from_an_earlier_stage(tmp_path):
    """token_grid_stage=2: the grid is stage 2's (stride 8); finer stages are average-pooled onto it, coarser
    ones repeated (nearest) over the cells they cover; geometry and patch counts follow the grid."""
    torch.manual_seed(0)
    net = ResNetModel(ResNetConfig(**RESNET)).eval()
    net.save_pretrained(tmp_path / "resnet")
    vis = build_vision_backbone(BackboneConfig(source=str(tmp_path / "resnet"), model_type="resnet",
                                               config={"token_stages": 3, "token_grid_stage": 2}))
    assert effective_patch_size(vis.config) == 8 and patch_grid_side(vis.config) == 8 and num_patches(vis) == 64
    assert patch_grid(ModelConfig(vision=BackboneConfig(model_type="resnet",
                                                        config={**RESNET, "token_grid_stage": 2}))) == 8
    x = torch.randn(2, 3, 64, 64)
    tokens = vision_tokens(vis, x)
    hs = net(pixel_values=x, output_hidden_states=True).hidden_states  # stem, 16x16, 8x8, 4x4
    assert tokens.shape == (2, 65, 36)
    r, c = 5, 2
    want = torch.cat([hs[1][:, :, 2 * r:2 * r + 2, 2 * c:2 * c + 2].mean((2, 3)), hs[2][:, :, r, c],
                      hs[3][:, :, r // 2, c // 2]], dim=1)
    assert torch.allclose(tokens[:, 1 + 8 * r + c], want, atol=1e-5)
    for bad in (0, 4):
        with pytest.raises(ConfigError, match="token_grid_stage"):
            effective_patch_size(build_vision_backbone(BackboneConfig(model_type="resnet",
                                                                      config={**RESNET, "token_grid_stage": bad})).config)
