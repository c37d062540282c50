#!/usr/bin/env python3
"""Where does a 2D training budget go? Train one variant for a fixed number of steps and log what stalls it.

A developer tool for the diagnosis in ``reports/cpu-2core/README.md``: it trains a kdseg architecture on an
experiment's manifest and split with batches drawn on the fly from the training images kept in memory
(resized once; random rot90 × horizontal flip per image and step, seeded by (seed, step)), and every
``--eval-every`` steps writes one CSV row:

- ``train_loss`` mean over the steps since the last row; ``val_dice`` mean per-image Dice at the training size;
- ``max_abs_logit`` the largest |logit| on the validation images;
- ``dead_wrong`` the share of validation pixels that are misclassified with |logit| > 15, where σ'(z) < 3e-7:
  a loss that acts through σ (soft Dice) no longer moves them, a cross-entropy still does;
- ``grad_norm`` the global gradient norm of the last step; ``seconds`` wall time since the start.

With ``--ema-decay`` the probe keeps a weight average as ``train.ema_decay`` does and validates the average.

``plot`` draws the rows of several probes side by side (validation Dice, max |logit|, dead-wrong share).

``bn-drift`` reads a trained checkpoint and asks whether its batch-norm running statistics still describe
the activations they normalise. It scores the validation images twice, with the running statistics
(evaluation mode, as inference runs) and with each batch's own statistics. For every BatchNorm layer, in
forward order, it prints the ratio of the batch's variance to the running variance (1 where they agree)
as a Markdown table; ``--recalibrate`` scores once more after recomputing the running statistics over the
training images with the final weights. A ratio far from 1 that grows from layer to layer shows a drift that compounds; the
multiplicative attention gates of ResUNet++ square it at each decoder stage. The logits above are measured
in evaluation mode, so a drift inflates ``max_abs_logit`` and ``dead_wrong`` there.

Example::

    python scripts/probe_2d_training.py train --manifest results/data/kvasir_seg/manifest.csv \\
        --split results/data/kvasir_seg/splits/medico2020.csv --arch resunetpp --loss dice --steps 1500 \\
        --out reports/cpu-2core/diagnosis/resunetpp_dice.csv
    python scripts/probe_2d_training.py plot reports/cpu-2core/diagnosis/*.csv --out reports/cpu-2core/diagnosis/curves.png
    python scripts/probe_2d_training.py bn-drift results/cpu/kd_resunetpp/train/resunetpp/model.pt \
        --manifest results/data/kvasir_seg/manifest.csv --split results/data/kvasir_seg/splits/medico2020.csv
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kdseg.data.images import read_mask, read_rgb
from kdseg.data.manifest import read_manifest, read_split, select_subset
from kdseg.engine.averaging import WeightAverage
from kdseg.engine.checkpoint import load_model
from kdseg.engine.data import normalise_image, resize_image, resize_mask
from kdseg.losses import create_loss
from kdseg.models import create_model
from kdseg.utils.io import write_csv
from kdseg.utils.memory import retain_freed_memory

DEAD_LOGIT = 15.0


def load_subset(manifest: pd.DataFrame, split: pd.DataFrame, subset: str, size: int, input_range: str) -> tuple[torch.Tensor, torch.Tensor]:
    rows = select_subset(manifest, split, subset)
    images = np.stack([normalise_image(resize_image(read_rgb(p), (size, size)), input_range) for p in rows["image"]])
    masks = np.stack([resize_mask(read_mask(p), (size, size))[None] for p in rows["mask"]]).astype(np.float32)
    return torch.from_numpy(images), torch.from_numpy(masks)


def draw_batch(images: torch.Tensor, masks: torch.Tensor, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch with a random rot90 (k = 0..3) and horizontal flip per image (the paper-000 transforms)."""
    index = torch.randint(len(images), (batch,), generator=generator)
    turns = torch.randint(4, (batch,), generator=generator)
    flips = torch.rand(batch, generator=generator) < 0.5
    xs, ys = [], []
    for i, k, f in zip(index.tolist(), turns.tolist(), flips.tolist()):
        x, y = torch.rot90(images[i], k, (1, 2)), torch.rot90(masks[i], k, (1, 2))
        if f:
            x, y = x.flip(2), y.flip(2)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)


def _per_image_dice(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Dice of each (1, H, W) boolean mask pair; 1 where both are empty."""
    inter = (pred & truth).sum((1, 2, 3)).float()
    total = (pred.sum((1, 2, 3)) + truth.sum((1, 2, 3))).float()
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(inter))


def _batch_norms(network: torch.nn.Module) -> dict[str, torch.nn.modules.batchnorm._BatchNorm]:
    return {name: m for name, m in network.named_modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}


@contextlib.contextmanager
def _batch_statistics(network: torch.nn.Module, momentum: float | None) -> Iterator[list[torch.nn.modules.batchnorm._BatchNorm]]:
    """Run ``network`` on each batch's own statistics (training mode) with every BatchNorm's momentum set to
    ``momentum``; give back the layers, and restore their momenta and evaluation mode afterwards."""
    layers = list(_batch_norms(network).values())
    saved = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = momentum
    network.train()
    try:
        yield layers
    finally:
        for layer, previous in zip(layers, saved):
            layer.momentum = previous
        network.eval()


@torch.inference_mode()
def probe_validation(network: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, amp: bool) -> dict[str, float]:
    network.eval()
    dices, max_logit, dead, pixels = [], 0.0, 0, 0
    for start in range(0, len(images), 16):
        x = images[start : start + 16].contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            logits = network(x).float()
        truth = masks[start : start + 16] > 0.5
        pred = logits > 0
        dices += _per_image_dice(pred, truth).tolist()
        max_logit = max(max_logit, float(logits.abs().max()))
        dead += int(((pred != truth) & (logits.abs() > DEAD_LOGIT)).sum())
        pixels += truth.numel()
    network.train()
    return {"val_dice": float(np.mean(dices)), "max_abs_logit": max_logit, "dead_wrong": dead / pixels}


def _score(network: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, batch_size: int) -> dict[str, float]:
    """Mean per-image Dice and the largest |logit| of ``network`` in its current mode."""
    logits = torch.cat([network(images[i : i + batch_size]).float() for i in range(0, len(images), batch_size)])
    return {"val_dice": float(_per_image_dice(logits > 0, masks > 0.5).mean()), "max_abs_logit": float(logits.abs().max())}


@torch.inference_mode()
def batch_norm_drift(network: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, batch_size: int = 8) -> tuple[dict[str, dict[str, float]], list[tuple[str, float, float]]]:
    """Score ``images`` with running and with batch statistics, and measure each BatchNorm layer's drift.

    Returns ({mode: {val_dice, max_abs_logit}} for ``batch`` and ``running``, [(layer, max, median of
    batch variance / running variance over its channels)] in forward order, from the first batch).
    """
    scores = {}
    # batch statistics without touching the running ones: momentum 0 leaves them as they are
    with _batch_statistics(network, momentum=0.0):
        scores["batch"] = _score(network, images, masks, batch_size)
    scores["running"] = _score(network, images, masks, batch_size)
    ratios: list[tuple[str, float, float]] = []

    def record(name: str):
        def hook(module: torch.nn.modules.batchnorm._BatchNorm, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
            dims = [0, *range(2, inputs[0].ndim)]
            ratio = inputs[0].float().var(dim=dims) / (module.running_var + module.eps)
            ratios.append((name, float(ratio.max()), float(ratio.median())))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in _batch_norms(network).items()]
    network(images[:batch_size])
    for handle in handles:
        handle.remove()
    return scores, ratios


@torch.inference_mode()
def recalibrate_batch_norm(network: torch.nn.Module, images: torch.Tensor, batch_size: int = 8) -> None:
    """Replace every BatchNorm layer's running statistics by their average over ``images`` under the final
    weights (a cumulative average: momentum None), as a "precise BN" pass after training would."""
    with _batch_statistics(network, momentum=None) as layers:
        for layer in layers:
            layer.reset_running_stats()
        for start in range(0, len(images), batch_size):
            network(images[start : start + batch_size])


def drift_report(scores: dict[str, dict[str, float]], ratios: list[tuple[str, float, float]]) -> str:
    lines = ["| statistics | validation Dice | max \\|logit\\| |", "| --- | ---: | ---: |"]
    lines += [f"| {mode} | {s['val_dice']:.4f} | {s['max_abs_logit']:.3g} |" for mode, s in scores.items()]
    lines += ["", "| BatchNorm layer (forward order) | batch / running variance, max | median |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {high:.3g} | {median:.3g} |" for name, high, median in ratios]
    return "\n".join(lines)


def plot(csvs: list[Path], out: Path) -> None:
    """Draw probe CSVs (x: step) or the pipeline's training histories (x: epoch) side by side, one panel per
    column the first CSV has."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = [pd.read_csv(csv) for csv in csvs]
    x_column = "step" if "step" in tables[0] else "epoch"
    known = [("val_dice", "validation Dice (128²)", "linear"), ("train_loss", "training loss", "linear"), ("max_abs_logit", "max |logit| on validation", "log"), ("dead_wrong", "misclassified with |logit| > 15", "linear")]
    panels = [panel for panel in known if panel[0] in tables[0]]
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), layout="constrained", squeeze=False)
    for csv, rows in zip(csvs, tables):
        for axis, (column, _, _) in zip(axes[0], panels):
            axis.plot(rows[x_column], rows[column], marker="o", markersize=3, label=csv.stem)
    for axis, (_, title, scale) in zip(axes[0], panels):
        axis.set_title(title)
        axis.set_xlabel("step (batch 8)" if x_column == "step" else "epoch")
        axis.set_yscale(scale)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.savefig(out, dpi=110)


def main() -> None:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    plotter = commands.add_parser("plot", help="draw probe CSVs or training histories side by side")
    plotter.add_argument("csvs", nargs="+", type=Path)
    plotter.add_argument("--out", required=True, type=Path)
    drift = commands.add_parser("bn-drift", help="batch-norm running statistics of a checkpoint against its validation batches")
    drift.add_argument("checkpoint", type=Path)
    drift.add_argument("--manifest", required=True)
    drift.add_argument("--split", required=True)
    drift.add_argument("--threads", type=int, default=2)
    drift.add_argument("--recalibrate", action="store_true", help="also score after recomputing the statistics over the training images")
    parser = commands.add_parser("train", help="train one variant and write its probe CSV")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--arch", default="resunetpp")
    parser.add_argument("--arch-kwargs", default="{}", help="JSON, e.g. '{\"filters\": [16, 32, 64, 128, 256]}'")
    parser.add_argument("--loss", default='{"name": "dice"}', help="JSON loss block, or a bare loss name")
    parser.add_argument("--optimizer", default="adam", choices=["adam", "adamw"])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--input-range", default="unit")
    parser.add_argument("--eval-every", type=int, default=150)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-amp", action="store_true", help="fp32 instead of bf16 autocast")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ema-decay", type=float, default=None, help="keep a weight average (train.ema_decay) and validate it instead")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network first (its compile time lands in the first row's seconds)")
    parser.add_argument("--out", required=True, help="CSV of the probe rows")
    args = top.parse_args()
    if args.command == "plot":
        plot(args.csvs, args.out)
        return
    if args.command == "bn-drift":
        torch.set_num_threads(args.threads)
        network, meta = load_model(args.checkpoint)
        manifest, split, size = read_manifest(args.manifest), read_split(args.split), int(meta["size"][0])
        images, masks = load_subset(manifest, split, "val", size, meta["input_range"])
        scores, ratios = batch_norm_drift(network, images, masks)
        if args.recalibrate:
            recalibrate_batch_norm(network, load_subset(manifest, split, "train", size, meta["input_range"])[0])
            with torch.inference_mode():
                scores["recalibrated on the training images"] = _score(network, images, masks, batch_size=8)
        print(drift_report(scores, ratios))
        return

    retain_freed_memory()  # as kdseg-train does
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    manifest, split = read_manifest(args.manifest), read_split(args.split)
    train_x, train_y = load_subset(manifest, split, "train", args.size, args.input_range)
    val_x, val_y = load_subset(manifest, split, "val", args.size, args.input_range)
    network = create_model(args.arch, in_channels=3, out_channels=1, **json.loads(args.arch_kwargs)).to(memory_format=torch.channels_last)
    if args.compile:
        network.compile()
    loss_spec = json.loads(args.loss) if args.loss.startswith("{") else {"name": args.loss}
    loss_fn = create_loss(loss_spec.pop("name"), **loss_spec)
    optimizer_class = torch.optim.Adam if args.optimizer == "adam" else torch.optim.AdamW
    optimizer = optimizer_class(network.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    average = WeightAverage(network, args.ema_decay) if args.ema_decay is not None else None
    validated = average.network if average is not None else network
    generator = torch.Generator().manual_seed(args.seed)
    amp = not args.no_amp
    rows, losses, began = [], [], time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = draw_batch(train_x, train_y, args.batch_size, generator)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(network(x.contiguous(memory_format=torch.channels_last)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(network.parameters(), float("inf")))
        optimizer.step()
        if average is not None:
            average.update(network)
        losses.append(float(loss.detach()))
        if step % args.eval_every == 0 or step == args.steps:
            row = {"step": step, "train_loss": float(np.mean(losses)), **probe_validation(validated, val_x, val_y, amp)}
            row |= {"grad_norm": grad_norm, "seconds": time.perf_counter() - began}
            rows.append(row)
            losses = []
            print(json.dumps(row), flush=True)
            write_csv(pd.DataFrame(rows), Path(args.out), float_format="%.6g")


if __name__ == "__main__":
    main()
