"""Heatmaps of explanations: over text (terminal, HTML) and over image patches (PNG, TensorBoard).

Text: one score per token (or word), pieces of a word drawn together, negative scores in blue.
Images: a ViT explanation is a distribution over [CLS] + patches (row-major); the [CLS] entry
is dropped and the patch scores are drawn as a heatmap blended over the image.
"""

from __future__ import annotations

import os

import numpy as np

from smat.models.vit import patch_grid


def _pieces(
    tokens: list[str], scores: np.ndarray, new_word: list[bool] | None = None
) -> list[tuple[str, float, bool]]:
    """(text, score, starts a new word) per token: `new_word` flags where given, else WordPiece
    ('##' joins the previous token, its marker dropped)."""
    if new_word is not None:
        return [(t, float(s), w) for t, s, w in zip(tokens, scores, new_word, strict=True)]
    out = []
    for tok, s in zip(tokens, scores, strict=True):
        joined = tok.startswith("##")
        out.append((tok[2:] if joined else tok, float(s), not joined))
    return out


def _scale(scores: np.ndarray) -> float:
    """Colour intensity is |score| / this: the largest magnitude (signed scores share one
    scale, so red and blue compare)."""
    top = float(np.max(np.abs(scores))) if len(scores) else 0.0
    return top or 1.0


def terminal_heatmap(
    tokens: list[str], scores: np.ndarray, new_word: list[bool] | None = None
) -> str:
    """Tokens on an ANSI 24-bit background: the darker red, the higher the score (negative
    scores in blue)."""
    top = _scale(np.asarray(scores))
    parts = []
    for text, s, starts in _pieces(tokens, scores, new_word):
        level = abs(s) / top
        g = int(255 - 200 * level)
        bg = f"255;{g};{g}" if s >= 0 else f"{g};{g};255"
        fg = "38;2;255;255;255" if level > 0.6 else "38;2;0;0;0"
        parts.append((" " if starts and parts else "") + f"\x1b[48;2;{bg}m\x1b[{fg}m{text}\x1b[0m")
    return "".join(parts)


def html_heatmap(tokens: list[str], scores: np.ndarray, new_word: list[bool] | None = None) -> str:
    """Tokens as <span>s (HTML-escaped) whose background's opacity is |score| relative to the
    largest: red for positive scores, blue for negative ones; the score is the tooltip."""
    import html

    top = _scale(np.asarray(scores))
    parts = []
    for text, s, starts in _pieces(tokens, scores, new_word):
        colour = "220,30,30" if s >= 0 else "30,90,220"
        span = (
            f'<span class="t" style="background:rgba({colour},{abs(s) / top:.3f})" '
            f'title="{s:.4f}">{html.escape(text)}</span>'
        )
        parts.append((" " if starts and parts else "") + span)
    return "".join(parts)


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>smat explanations</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; }} .meta {{ color: #555; font-size: 13px; }}
table {{ border-collapse: collapse; width: 100%; margin-bottom: 28px; }}
td {{ border-top: 1px solid #ddd; padding: 8px; vertical-align: top; line-height: 1.9; }}
td.name {{ width: 190px; font-weight: 600; font-size: 13px; }}
.t {{ padding: 1px 0; border-radius: 2px; }}
</style></head><body>
<h1>Teacher explanations, side by side</h1>
<p class="meta">{subtitle}</p>
{examples}
</body></html>
"""


def html_page(examples: list[tuple[str, dict[str, str]]], subtitle: str = "") -> str:
    """A self-contained page: per example a header and one row per explainer, given as
    (header, {explainer name: heatmap HTML from `html_heatmap`}); names and headers are
    escaped here."""
    import html

    blocks = []
    for header, rows in examples:
        cells = "".join(
            f'<tr><td class="name">{html.escape(name)}</td><td>{heatmap}</td></tr>'
            for name, heatmap in rows.items()
        )
        blocks.append(f"<h3>{html.escape(header)}</h3><table>{cells}</table>")
    return _PAGE.format(subtitle=html.escape(subtitle), examples="\n".join(blocks))


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
