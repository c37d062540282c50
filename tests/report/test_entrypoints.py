"""``kdseg-tables`` and ``kdseg-figures`` as the rules call them: outputs written, errors as one message and exit 1."""

from __future__ import annotations

import pandas as pd
import pytest

from kdseg.report.entrypoints import figures_entry, tables_entry
from kdseg.utils.io import write_json


def _metrics(path, model, dsc):
    write_json(path, {"experiment": "attunet_transfer", "model": model, "arch": "attention_unet", "parameters": 10, "subset": "val", "cases": 3,
                      "metrics": {"jaccard": dsc - 0.1, "dsc": dsc, "recall": 0.5, "precision": 0.5, "f2": 0.5, "accuracy": 0.9}})
    return str(path)


def test_tables_then_metric_figure(tmp_path, restore_logging):
    metrics = _metrics(tmp_path / "attunet.json", "attunet", 0.7)
    out = {kind: tmp_path / f"t.{kind}" for kind in ("csv", "md", "tex", "html")}
    tables_entry([
        "--experiment", "attunet_transfer", "--paper", "002", "--preset", "demo", "--metrics", metrics,
        *(arg for kind, path in out.items() for arg in (f"--out-{kind}", str(path))),
    ])
    assert all(path.is_file() for path in out.values())
    long = pd.read_csv(out["csv"], dtype={"paper": str})
    assert long.loc[long["column"].eq("Mean Dice") & long["row"].eq("AttUNet(ours)"), "our_value"].item() == 0.7
    figures_entry(["metrics", "--metrics", metrics, "--table", str(out["csv"]), "--title", "attunet_transfer", "--out", str(tmp_path / "m.png")])
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")


def test_tables_error_is_one_message(tmp_path, capsys, restore_logging):
    with pytest.raises(SystemExit) as exit_info:
        tables_entry(["--experiment", "xpnet", "--paper", "002", "--preset", "demo", "--out-csv", str(tmp_path / "t.csv")])
    assert exit_info.value.code == 1
    assert "kdseg-tables: configuration error: " in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_figures_named_paths_are_checked(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        figures_entry(["curves", "--history", "history.csv", "--title", "t", "--out", str(tmp_path / "c.png")])
    assert exit_info.value.code == 2
    assert "expected MODEL=PATH, got 'history.csv'" in capsys.readouterr().err
