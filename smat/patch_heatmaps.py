"""Explanations over image patches drawn on the images: TensorBoard images and PNG grids.

A ViT explanation is a distribution over [CLS] + patches (row-major); the [CLS] entry is dropped
and the patch scores are drawn as a heatmap blended over the image.

  python -m smat.patch_heatmaps --workdir runs/fmnist/smat --static runs/fmnist/static \
      --out patches.png --examples 6

writes a grid with one row per test image: the image, the teacher's explanation by the static
run's explainer and by the SMAT-learned one, and each run's student explanation.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from smat import checkpointing, explainers, models
from smat.models.vit import patch_grid
from smat.simulation import Simulation

SCALE = 4  # pixels per image pixel in rendered heatmaps


def patch_maps(explanations: np.ndarray) -> np.ndarray:
    """[N, 1 + patches] explanations -> [N, side, side] patch scores ([CLS] dropped)."""
    e = np.asarray(explanations, np.float32)
    side = patch_grid(e.shape[-1])
    return e[:, 1:].reshape(len(e), side, side)


def overlay(image: np.ndarray, heat: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """An RGB float [H*scale, W*scale, 3] image: `heat` [side, side] (scaled to its maximum) in
    the 'inferno' colormap blended over the grey image (uint8 [H, W, C])."""
    from matplotlib import colormaps

    img = np.asarray(image, np.float32) / 255.0
    grey = img.mean(-1) if img.ndim == 3 else img
    h, w = grey.shape
    side = heat.shape[0]
    if h % side or w % side:
        raise ValueError(f"a {side}x{side} patch grid does not tile a {h}x{w} image")
    up = np.kron(np.asarray(heat, np.float32), np.ones((h // side, w // side), np.float32))
    up = up / max(float(up.max()), 1e-12)
    colour = colormaps["inferno"](up)[..., :3]
    blend = 0.45 * grey[..., None] + 0.55 * colour
    return np.kron(blend, np.ones((scale, scale, 1), np.float32)).clip(0.0, 1.0)


def grid_image(images: np.ndarray, columns: dict[str, np.ndarray], scale: int = 2) -> np.ndarray:
    """One RGB [rows*H', (1 + columns)*W', 3] array: each image, then its heatmap per column
    (for TensorBoard, which shows one image per tag)."""
    rows = []
    for i, image in enumerate(images):
        img = np.asarray(image, np.float32) / 255.0
        grey = np.repeat(img.mean(-1, keepdims=True), 3, -1)
        cells = [np.kron(grey, np.ones((scale, scale, 1), np.float32))]
        cells += [overlay(image, patch_maps(e[i : i + 1])[0], scale) for e in columns.values()]
        rows.append(np.concatenate(cells, 1))
    return np.concatenate(rows, 0)


def render_png(
    path: str,
    images: np.ndarray,
    columns: dict[str, np.ndarray],
    row_titles: list[str] | None = None,
) -> str:
    """Writes a PNG grid: one row per image (the image, then one heatmap per named column of
    [N, 1 + patches] explanations). Returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, k = len(images), 1 + len(columns)
    fig, axes = plt.subplots(n, k, figsize=(1.9 * k, 1.9 * n + 0.4), squeeze=False)
    for i, image in enumerate(images):
        img = np.asarray(image)
        axes[i, 0].imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray")
        if row_titles:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=7)
        for j, (name, e) in enumerate(columns.items(), start=1):
            axes[i, j].imshow(overlay(image, patch_maps(e[i : i + 1])[0]))
            if i == 0:
                axes[i, j].set_title(name, fontsize=8)
        axes[0, 0].set_title("image", fontsize=8)
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def student_explanations(workdir: str, batch: dict[str, np.ndarray]) -> np.ndarray:
    """The explanations [N, positions] of a CLI student run's student (best checkpoint)."""
    config = checkpointing.run_config(workdir)
    explainer = explainers.build(config.student_explainer, learnable=True)
    if explainer is None or config.beta == 0:
        raise ValueError(f"{workdir!r} trained its student without explanations")
    params = checkpointing.restore_best_of(workdir)["params"]
    num_classes = np.asarray(params["model"]["classifier"]["bias"]).shape[-1]
    built = models.build_model(config.model, num_classes, 0)
    sim = Simulation(built.apply, None, explainer, config.beta, config.task)
    return np.asarray(jax.jit(sim.student_explanation)(params, batch))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    from smat import data as data_lib
    from smat.errors import ConfigError
    from smat.explain import load_teacher_explainer

    parser = argparse.ArgumentParser(
        prog="python -m smat.patch_heatmaps",
        description="Draw teacher and student explanations over test images as a PNG grid.",
    )
    parser.add_argument("--workdir", required=True, help="a student run on an image task")
    parser.add_argument("--static", help="a static-teacher run of the same teacher to compare")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--examples", type=int, default=6)
    args = parser.parse_args(argv)
    runs = ([args.static] if args.static else []) + [args.workdir]  # static columns first
    try:
        config = checkpointing.run_config(args.workdir)
        test = data_lib.load(config).splits["student_test"]
        if "pixels" not in test.arrays:
            raise ConfigError(f"{args.workdir!r} is not an image task ({config.data.name})")
        rows = np.arange(min(args.examples, len(test)))
        batch = data_lib.input_arrays(test.arrays, rows)
        columns: dict[str, Any] = {}
        for w in runs:
            teacher = load_teacher_explainer(w)
            kind = "learned" if teacher.learnable else "static"
            columns[f"teacher ({kind})"] = teacher.explain(batch)
            columns[f"student ({kind} run)"] = student_explanations(w, batch)
    except (ConfigError, ValueError, FileNotFoundError) as e:
        print(f"patch_heatmaps error: {e}", file=sys.stderr)
        return 2
    titles = [data_lib.class_name(config.data.name, int(y)) for y in test.arrays["label"][rows]]
    render_png(args.out, batch["pixels"], columns, titles)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
