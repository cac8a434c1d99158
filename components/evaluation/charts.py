"""Charts as PNG images for asset metadata and reports (matplotlib's Agg backend, no display)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from PIL import Image  # noqa: E402


def before_after_histogram(
    before: Sequence[float], after: Sequence[float], *, title: str, xlabel: str, bins: int = 30
) -> Image.Image:
    """Two overlaid histograms on shared bins: what went in, and what was kept."""
    figure, axes = plt.subplots(figsize=(5, 3), dpi=100)
    values = [*before, *after]
    edges = (
        bins if not values else [min(values) + (max(values) - min(values) + 1e-9) * i / bins for i in range(bins + 1)]
    )
    axes.hist(list(before), bins=edges, alpha=0.55, label=f"before (n={len(before)})")
    axes.hist(list(after), bins=edges, alpha=0.55, label=f"after (n={len(after)})")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("captions")
    axes.legend(fontsize=8)
    return figure_image(figure)


def figure_image(figure) -> Image.Image:
    """A finished matplotlib figure as an RGB image; the figure is closed."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")
