"""Tokenise a whole corpus once into fixed-length numpy arrays, cached on disk.

Tokenizers are Hugging Face `tokenizers` files (tokenizer.json, or a WordPiece vocab.txt) from a
local folder; truncation and padding are set here explicitly because packaged tokenizer.json
files often carry their own (all-MiniLM-L6-v2 pads and truncates to 128).
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import tokenizers

from smat.errors import ConfigError

DEFAULT_CACHE = os.path.join("~", ".cache", "smat")


def tokenizer_file(folder: str) -> str:
    """The tokenizer file of a model folder: tokenizer.json, else vocab.txt (WordPiece)."""
    for name in ("tokenizer.json", "vocab.txt"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise ConfigError(f"{folder!r} has neither tokenizer.json nor vocab.txt; set data.tokenizer")


def load_tokenizer(path: str, max_length: int) -> tokenizers.Tokenizer:
    """Loads a tokenizer file with truncation and padding to exactly `max_length`."""
    if path.endswith("vocab.txt"):
        lowercase = True
        config = os.path.join(os.path.dirname(path), "tokenizer_config.json")
        if os.path.isfile(config):
            with open(config) as f:
                lowercase = json.load(f).get("do_lower_case", True)
        tok = tokenizers.BertWordPieceTokenizer(path, lowercase=lowercase)._tokenizer
    else:
        tok = tokenizers.Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    tok.enable_truncation(max_length)
    pad_token = next((t for t in ("[PAD]", "<pad>") if tok.token_to_id(t) is not None), None)
    if pad_token is None:
        raise ConfigError(f"tokenizer {path!r} has no [PAD] or <pad> token")
    tok.enable_padding(length=max_length, pad_id=tok.token_to_id(pad_token), pad_token=pad_token)
    return tok


def as_arrays(encodings: list[tokenizers.Encoding]) -> dict[str, np.ndarray]:
    """{"input_ids", "attention_mask"}: int32 [N, L] arrays of equal-length encodings."""
    return {
        "input_ids": np.asarray([e.ids for e in encodings], np.int32),
        "attention_mask": np.asarray([e.attention_mask for e in encodings], np.int32),
    }


def _fingerprint(
    texts: list[str], pairs: list[str] | None, tokenizer_path: str, max_length: int
) -> str:
    h = hashlib.sha256()
    with open(tokenizer_path, "rb") as f:
        h.update(f.read())
    h.update(str(max_length).encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    if pairs is not None:
        h.update(b"\1pairs")
        for t in pairs:
            h.update(t.encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()[:24]


def encode(
    texts: list[str],
    tokenizer_path: str,
    max_length: int,
    cache_dir: str = DEFAULT_CACHE,
    pairs: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """Tokenises `texts` into {"input_ids": int32 [N, L], "attention_mask": int32 [N, L]}.

    The result is cached under `cache_dir`, keyed by the texts, the tokenizer file and
    `max_length`, so a second run (or a resumed one) does not tokenise again. With `pairs`,
    each example is the pair (texts[i], pairs[i]) with the tokenizer's pair template (e.g.
    `<s> a </s></s> b </s>` for XLM-R), truncated longest-first.
    """
    cache_dir = os.path.expanduser(cache_dir)
    path = os.path.join(
        cache_dir, f"tokens-{_fingerprint(texts, pairs, tokenizer_path, max_length)}.npz"
    )
    if os.path.isfile(path):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    inputs = texts if pairs is None else list(zip(texts, pairs, strict=True))
    out = as_arrays(load_tokenizer(tokenizer_path, max_length).encode_batch(inputs))
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)  # atomic: concurrent runs never read a half-written cache
    return out


def vocab_size(tokenizer_path: str) -> int:
    return load_tokenizer(tokenizer_path, 8).get_vocab_size()
