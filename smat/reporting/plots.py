"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os

from smat.reporting.groups import Group


def _save(fig, path: str, **kwargs) -> None:
    """A PNG written atomically (a temporary file, then a rename), like the report's text."""
    tmp = f"{path}.tmp.{os.getpid()}"
    fig.savefig(tmp, dpi=120, format="png", **kwargs)
    os.replace(tmp, path)


def simulability(rows, path: str, highlight: str) -> None:
    """Simulability vs number of student examples, one line per explainer, seed-level CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    explainers = list(dict.fromkeys(r["explainer"] for r in rows))
    sizes = sorted({r["num_examples"] for r in rows})
    for k, name in enumerate(explainers):
        mine = sorted((r for r in rows if r["explainer"] == name), key=lambda r: r["num_examples"])
        # Small horizontal offsets keep overlapping error bars readable.
        offset = 1 + 0.015 * (k - (len(explainers) - 1) / 2)
        x = [r["num_examples"] * offset for r in mine]
        y = [r["mean"] for r in mine]
        # One seed has no seed-level CI: no error bar rather than a misleading one.
        err = [
            [r["mean"] - (r["ci_low"] if r["ci_low"] is not None else r["mean"]) for r in mine],
            [(r["ci_high"] if r["ci_high"] is not None else r["mean"]) - r["mean"] for r in mine],
        ]
        ax.errorbar(
            x,
            y,
            yerr=err,
            marker="o",
            capsize=3,
            label=name,
            linewidth=2.5 if name == highlight else 1.2,
        )
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlabel("student training examples")
    ax.set_ylabel("test simulability (mean over seeds, 95% CI over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def heads(group: Group, path: str) -> bool:
    """The learned head weights (layers x heads), one panel per seed; False if none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = [(s, w) for s, w in zip(group.seeds, group.head_weights, strict=True) if w is not None]
    if not heads:
        return False
    fig, axes = plt.subplots(1, len(heads), figsize=(3.2 * len(heads), 2.6), squeeze=False)
    vmax = max(float(w.max()) for _, w in heads)
    for ax, (seed, w) in zip(axes[0], heads, strict=True):
        im = ax.imshow(w, cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
        ax.set_title(f"{group.num_examples} examples, seed {seed}", fontsize=9)
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(w.shape[1]))
        ax.set_yticks(range(w.shape[0]))
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="learned head weight")
    _save(fig, path, bbox_inches="tight")
    plt.close(fig)
    return True
