"""Figures drawn with matplotlib (Agg backend): training curves, qualitative overlays, bar charts.

Every function writes a PNG atomically; the same data give the same bytes (no timestamps in the file).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from kdseg.utils.io import write_bytes  # noqa: E402

__all__ = ["save_figure", "training_curves"]


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> None:
    """Write a figure as PNG without metadata that would change between runs, then close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def training_curves(history: pd.DataFrame, path: str | Path, title: str, monitor: str = "val_dice") -> None:
    """Loss terms, the monitored validation metric and the learning rate against the epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    epochs = history["epoch"] if "epoch" in history else range(1, len(history) + 1)
    loss_columns = [c for c in history.columns if c.startswith("train_")]
    for column in loss_columns:
        axes[0].plot(epochs, history[column], marker="o", ms=3, label=column.removeprefix("train_"))
    axes[0].set(title="training losses", xlabel="epoch", ylabel="loss")
    if loss_columns:
        axes[0].legend(fontsize=8)
    if monitor in history:
        axes[1].plot(epochs, history[monitor], marker="o", ms=3, color="tab:green")
        best = history[monitor].idxmax()
        axes[1].axvline(history["epoch"][best], color="grey", ls="--", lw=1, label=f"best {history[monitor][best]:.4f}")
        axes[1].legend(fontsize=8)
    axes[1].set(title=f"validation ({monitor})", xlabel="epoch", ylabel=monitor)
    if "lr" in history:
        axes[2].plot(epochs, history["lr"], marker="o", ms=3, color="tab:purple")
        axes[2].set_yscale("log")
    axes[2].set(title="learning rate", xlabel="epoch", ylabel="lr")
    fig.suptitle(title)
    for ax in axes:
        ax.grid(alpha=0.3)
    save_figure(fig, path)
