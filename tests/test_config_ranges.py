"""Every numeric config key has a validated range: a bad value is a ConfigError naming the key and range."""

from __future__ import annotations

import dataclasses
import importlib
import math
import typing
from pathlib import Path

import pytest

from cogaze.config import Range, check_ranges, field_range, help_field, load_config
from cogaze.errors import ConfigError

SRC = Path(__file__).resolve().parents[1] / "src"


def _schemas() -> list[type]:
    """Every dataclass of a module that declares config fields with ``help_field``."""
    found = []
    for path in sorted((SRC / "cogaze").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "help_field(" not in text or path.name == "config.py" and path.parent.name == "cogaze":
            continue
        module = importlib.import_module(".".join(path.relative_to(SRC).with_suffix("").parts))
        for value in vars(module).values():
            if (isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__
                    and any("help" in f.metadata for f in dataclasses.fields(value))):
                found.append(value)
    return found


def _numeric(hint: object) -> bool:
    if hint in (int, float):
        return True
    args = typing.get_args(hint)
    return bool(args) and any(a in (int, float) for a in args if a is not str)


def test_every_numeric_key_of_every_schema_declares_a_range():
    schemas = _schemas()
    names = {s.__name__ for s in schemas}
    assert {"PretrainConfig", "TrainerConfig", "HeatmapOptions", "RetrievalConfig", "ClassificationConfig",
            "SegmentationConfig", "ZeroShotConfig", "TrainConfig", "DecoderConfig", "LLMConfig",
            "BackboneTrainConfig", "PhantomOptions", "DemoConfig", "LossConfig", "ModelConfig"} <= names
    missing = []
    for schema in schemas:
        hints = typing.get_type_hints(schema)
        for f in dataclasses.fields(schema):
            if _numeric(hints[f.name]) and field_range(f) is None:
                missing.append(f"{schema.__name__}.{f.name}")
    assert missing == []


@dataclasses.dataclass
class _Inner:
    lr: float = help_field(0.1, "lr", gt=0, le=10)


@dataclasses.dataclass
class _Cfg:
    batch_size: int = help_field(8, "batch", ge=1)
    ks: list[int] = help_field(help="ks", default_factory=lambda: [1, 5], ge=1, min_items=1)
    free: float = help_field(1.0, "no declared range: only finiteness is checked")
    inner: _Inner = help_field(help="inner", default_factory=_Inner)


@pytest.mark.parametrize(("override", "message"), [
    ("batch_size=0", r"override 'batch_size=0': config key 'batch_size' = 0 is out of range: allowed >= 1"),
    ("inner.lr=nan", r"config key 'inner.lr' = nan is out of range: allowed > 0 and <= 10"),
    ("inner.lr=.inf", r"config key 'inner.lr' = inf is out of range"),
    ("inner.lr=-1", r"config key 'inner.lr' = -1.0 is out of range: allowed > 0 and <= 10"),
    ("ks=[0,-1]", r"config key 'ks' = \[0, -1\]: item 0 \(0\) is out of range: allowed >= 1"),
    ("ks=[]", r"config key 'ks' = \[\] needs at least 1 item"),
    ("free=nan", r"config key 'free' = nan is out of range: allowed any finite number"),
])
def test_out_of_range_override_names_key_and_range(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_Cfg, None, [override])


def test_file_values_and_code_built_configs_are_checked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  lr: 20\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: config key 'inner.lr' = 20.0 is out of range"):
        load_config(_Cfg, path)
    assert load_config(_Cfg, None, ["inner.lr=10", "ks=[3]"]).inner.lr == 10.0  # the bounds themselves
    with pytest.raises(ConfigError, match=r"config key 'batch_size' = -2"):
        check_ranges(_Cfg(batch_size=-2))


def test_range_describe_and_contains():
    assert Range(ge=1).describe() == ">= 1" and Range(gt=0, lt=1).describe() == "> 0 and < 1"
    assert Range(ge=0, le=2**32 - 1).describe() == ">= 0 and <= 4294967295"
    assert Range(gt=0).contains(1e-9) and not Range(gt=0).contains(0) and not Range().contains(math.nan)


@pytest.mark.parametrize(("schema", "override", "key"), [
    ("cogaze.tasks.pretrain.config.PretrainConfig", "data.batch_size=0", "data.batch_size"),
    ("cogaze.tasks.pretrain.config.PretrainConfig", "optim.lr=nan", "optim.lr"),
    ("cogaze.tasks.pretrain.config.PretrainConfig", "trainer.max_epochs=0", "trainer.max_epochs"),
    ("cogaze.tasks.pretrain.config.PretrainConfig", "trainer.accumulate_grad_batches=0",
     "trainer.accumulate_grad_batches"),
    ("cogaze.tasks.retrieval.RetrievalConfig", "ks=[0,-1]", "ks"),
    ("cogaze.tasks.classification.ClassificationConfig", "epochs=0", "epochs"),
    ("cogaze.tasks.segmentation.SegmentationConfig", "fractions=[0]", "fractions"),
    ("cogaze.tasks.report_generation.config.ReportGenConfig", "train.epochs=0", "train.epochs"),
    ("cogaze.gaze.heatmaps.HeatmapOptions", "lead_s=nan", "lead_s"),
    ("cogaze.gaze.heatmaps.HeatmapOptions", "lead_s=-1000", "lead_s"),
    ("cogaze.tasks.zeroshot.ZeroShotConfig", "batch_size=-3", "batch_size"),
])
def test_shipped_schemas_reject_bad_values(schema, override, key):
    module, _, name = schema.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    with pytest.raises(ConfigError, match=rf"config key '{key}' = .* (is out of range: allowed|needs)"):
        load_config(cls, None, [override])
