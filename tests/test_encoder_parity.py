"""Our Flax encoder against Hugging Face's PyTorch BertModel on the same weights."""

import dataclasses

import jax
import numpy as np
import pytest
import torch
import transformers

from smat.models import BuiltModel, TextClassifier, hf_checkpoint, overlay_pretrained


def _batch(vocab, batch=3, length=20, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1000, vocab, size=(batch, length)).astype(np.int32)
    mask = np.ones((batch, length), np.int32)
    mask[1, 12:] = 0  # padding in one row
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    return ids, mask


def _ours(folder, num_layers=None, ids=None):
    cfg = hf_checkpoint.read_config(folder)
    if num_layers:
        cfg = dataclasses.replace(cfg, num_layers=num_layers)
    encoder, _ = hf_checkpoint.load_params(folder, cfg)
    module = TextClassifier(encoder_cfg=cfg, num_classes=2)
    batch_ids, mask = _batch(cfg.vocab_size)
    ids = batch_ids if ids is None else ids
    params = module.init(jax.random.key(0), ids, mask)["params"]
    params = overlay_pretrained(params, BuiltModel(module, {"encoder": encoder}, {}))
    return module.apply({"params": params}, ids, mask).encoder, ids, mask


def _theirs(folder, ids, mask):
    model = transformers.AutoModel.from_pretrained(folder, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        out = model(
            input_ids=torch.tensor(ids, dtype=torch.long),
            attention_mask=torch.tensor(mask, dtype=torch.long),
            output_hidden_states=True,
            output_attentions=True,
        )
    return [h.numpy() for h in out.hidden_states], [a.numpy() for a in out.attentions]


def _assert_parity(ours, theirs_hidden, theirs_attn, mask):
    assert len(ours.hidden_states) == len(theirs_hidden)
    real = mask.astype(bool)
    for mine, ref in zip(ours.hidden_states, theirs_hidden, strict=True):
        np.testing.assert_allclose(np.asarray(mine), ref, atol=1e-4, rtol=1e-4)
    for layer, ref in enumerate(theirs_attn):
        np.testing.assert_allclose(np.asarray(ours.attention_probs[layer]), ref, atol=1e-4)
    # Logits are the pre-softmax scores: their softmax is the probabilities; padding is masked.
    probs = jax.nn.softmax(np.asarray(ours.attention_logits), axis=-1)
    np.testing.assert_allclose(np.asarray(probs), np.asarray(ours.attention_probs), atol=1e-6)
    # Padding keys (row 1 from position 12, row 2 from 5) get no attention, logits are masked.
    for row in (1, 2):
        pad = ~real[row]
        assert np.all(np.asarray(ours.attention_probs)[:, row][..., pad] == 0.0)
        assert np.all(np.asarray(ours.attention_logits)[:, row][..., pad] <= -1e8)


def test_minilm_parity_with_hf_pytorch(minilm_folder):
    ours, ids, mask = _ours(minilm_folder)
    hidden, attn = _theirs(minilm_folder, ids, mask)
    _assert_parity(ours, hidden, attn, mask)


_SMALL = dict(
    vocab_size=1200,
    hidden_size=48,
    num_hidden_layers=3,
    num_attention_heads=4,
    intermediate_size=96,
    max_position_embeddings=64,
)
_FAMILIES = {
    "bert": lambda: transformers.BertModel(transformers.BertConfig(**_SMALL)),
    # ELECTRA: a smaller embedding size projected up to hidden_size.
    "electra": lambda: transformers.ElectraModel(
        transformers.ElectraConfig(**_SMALL, embedding_size=32)
    ),
    # RoBERTa / XLM-R: position ids start after pad_token_id, one token type.
    "roberta": lambda: transformers.RobertaModel(
        transformers.RobertaConfig(**{**_SMALL, "max_position_embeddings": 66}, type_vocab_size=1)
    ),
    "xlm-roberta": lambda: transformers.XLMRobertaModel(
        transformers.XLMRobertaConfig(
            **{**_SMALL, "max_position_embeddings": 66}, type_vocab_size=1
        )
    ),
}


@pytest.mark.parametrize("family", sorted(_FAMILIES))
def test_random_model_in_hf_layout_parity(tmp_path, family):
    """A randomly initialised model of each supported family, written in HF layout (safetensors),
    loads into our encoder with the same hidden states and attention as Hugging Face's own."""
    torch.manual_seed(0)
    model = _FAMILIES[family]()
    model.save_pretrained(tmp_path, safe_serialization=True)
    cfg = hf_checkpoint.read_config(str(tmp_path))
    if family == "electra":
        assert cfg.embedding_size == 32
    if family.endswith("roberta"):
        assert cfg.position_offset == 2 and cfg.pad_token_id == 1
    ours, ids, mask = _ours(str(tmp_path))
    ids = np.where(mask == 1, ids, cfg.pad_token_id)
    ours, _, _ = _ours(str(tmp_path), ids=ids)
    hidden, attn = _theirs(str(tmp_path), ids, mask)
    _assert_parity(ours, hidden, attn, mask)


def test_truncated_layers_match_prefix_of_full_model(minilm_folder):
    full, _, mask = _ours(minilm_folder)
    first2, _, _ = _ours(minilm_folder, num_layers=2)
    assert len(first2.hidden_states) == 3
    for a, b in zip(first2.hidden_states, full.hidden_states[:3], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)
