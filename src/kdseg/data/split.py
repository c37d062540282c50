"""Splits: assign every manifest id to a subset (train, val, test, unlabelled), seeded and deterministic.

Methods (``method`` of a ``splits:`` entry in workflow_config.yaml):

- ``ratio``: the sorted ids are shuffled with :func:`kdseg.utils.seed.rng_for` and shared by ``ratios``;
  subset sizes use largest-remainder rounding, so 1000 ids give exactly 880/120, 800/200 or 950/50.
  With ``group_by`` (a manifest column such as ``group``) whole groups are shuffled and shared out, each
  subset as close to its share *in samples* as the group sizes allow (every subset gets at least one group).
  A ``groups`` file (``--groups``: CSV with columns ``id`` and ``group``, e.g. CVC-ClinicDB frame -> video,
  or image -> patient) gives the groups where the manifest does not know them: it replaces the manifest's
  ``group`` column and the split keeps those groups whole. Every manifest id needs a row; rows of ids that
  are not in the manifest (e.g. bad samples left out) are ignored.
- ``official``: subsets read from id lists (one id a line, an image/NIfTI extension and folders
  stripped, blank lines ignored), e.g. the MediaEval 2020 Medico lists of Kvasir-SEG.
- ``brats_heldout`` (Nalwade & Kisa, paper 004): train/val/test by ``ratios``, then ``heldout.val`` of the
  val cases and ``heldout.test`` of the test cases (rounded half up, chosen with the seed) move to
  ``unlabelled``, the set the teacher ensemble pseudo-labels.
- ``msd`` (Banerjee et al., paper 003): ids sorted, the last ``n_test`` are test, the rest shuffled with
  the seed: the first ``n_val`` are val, the remainder train (388/72/24 of MSD's 484 cases).

The result does not depend on the manifest's row order; it is written as ``id, subset`` rows ordered by
subset (train, val, test, unlabelled) then id. As nnU-Net's ``do_split``, the file is written once and
reused by every later stage.

Example::

    from pathlib import Path
    from kdseg.data.split import make_split

    make_split(Path("results/data/kvasir_seg/manifest.csv"), {"method": "ratio", "ratios": {"train": 0.8, "val": 0.2}},
               {}, seed=0, out=Path("results/data/kvasir_seg/splits/ratio_80_20.csv"))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kdseg.data.ingest import IMAGE_SUFFIXES, NIFTI_SUFFIXES, strip_suffix
from kdseg.data.manifest import SPLIT_COLUMNS, SUBSETS, read_manifest
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import write_csv
from kdseg.utils.options import look_up_option
from kdseg.utils.seed import rng_for

__all__ = [
    "METHODS",
    "apportion",
    "brats_heldout_split",
    "make_split",
    "msd_split",
    "official_split",
    "ratio_split",
    "read_groups",
    "read_id_list",
]

logger = logging.getLogger(__name__)

LABELLED_SUBSETS = ("train", "val", "test")
_RATIO_TOLERANCE = 1e-6
# ids quoted in an error message
_QUOTED_IDS = 5


def apportion(total: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` into integer parts proportional to ``ratios`` by largest-remainder rounding.

    Parts follow the order of ``ratios``; equal remainders go to the earlier part.

    Example: ``apportion(1000, {"train": 0.88, "val": 0.12})`` is ``{"train": 880, "val": 120}``;
    ``apportion(10, {"a": 0.25, "b": 0.75})`` is ``{"a": 3, "b": 7}`` (2.5 and 7.5: the tie goes to a).
    """
    # rounding the quotas first keeps 0.29 * 100 = 28.999999999999996 from losing its unit
    quotas = {name: round(total * ratio, 9) for name, ratio in ratios.items()}
    counts = {name: math.floor(quota) for name, quota in quotas.items()}
    by_remainder = sorted(quotas, key=lambda name: -(quotas[name] - counts[name]))  # stable: ties keep order
    for name in by_remainder[: total - sum(counts.values())]:
        counts[name] += 1
    return counts


def _check_ratios(ratios: Any, method: str) -> dict[str, float]:
    """``ratios`` in subset order, checked: known subsets, positive numbers summing to 1."""
    if not isinstance(ratios, Mapping) or not ratios:
        raise ConfigError(f"split method {method} needs `ratios`, e.g. {{train: 0.8, val: 0.2}}; got {ratios!r}.")
    for name, value in ratios.items():
        look_up_option(name, LABELLED_SUBSETS, "subset in `ratios`")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ConfigError(f"ratio of {name} must be a number in (0, 1], got {value!r}.")
    total = sum(ratios.values())
    if abs(total - 1) > _RATIO_TOLERANCE:
        raise ConfigError(f"`ratios` {dict(ratios)} sum to {total:g}; they must sum to 1.")
    return {name: float(ratios[name]) for name in LABELLED_SUBSETS if name in ratios}


def _fill_subsets(groups: Sequence[Sequence[str]], targets: Mapping[str, int], *, at_least_one: bool) -> dict[str, str]:
    """Share shuffled groups among subsets, each as close to its target sample count as the groups allow.

    The subset with the largest target takes what the others leave. Each other subset, in order, goes
    through the free groups in their shuffled order and takes every group that brings its count closer
    to its target (with groups of one sample: exactly the first ``target`` ones). With ``at_least_one``
    every subset gets at least one group (the smallest free one if none fits).
    """
    names = list(targets)
    remainder = max(names, key=lambda name: targets[name])  # the first of the largest on a tie
    to_fill = [name for name in names if name != remainder]
    free = list(range(len(groups)))
    chosen: dict[str, list[int]] = {}
    for position, name in enumerate(to_fill):
        # leave a group for every subset still to fill, the remainder included
        limit = len(free) - (len(to_fill) - position) if at_least_one else len(free)
        taken, count = [], 0
        for index in free:
            if len(taken) == limit:
                break
            if len(groups[index]) < 2 * (targets[name] - count):
                taken.append(index)
                count += len(groups[index])
        if at_least_one and not taken:
            taken = [min(free, key=lambda index: len(groups[index]))]
        chosen[name] = taken
        free = [index for index in free if index not in set(taken)]
    chosen[remainder] = free
    return {sample_id: name for name in names for index in chosen[name] for sample_id in groups[index]}


def _shuffled_groups(ids: Sequence[str], groups: Sequence[str] | None, rng: np.random.Generator) -> list[list[str]]:
    """Groups of ids (each id its own group when ``groups`` is None), sorted then shuffled by ``rng``."""
    members: dict[str, list[str]] = {}
    for sample_id, group in sorted(zip(ids, ids if groups is None else groups)):
        members.setdefault(group, []).append(sample_id)
    keys = sorted(members)
    return [members[keys[i]] for i in rng.permutation(len(keys))]


def ratio_split(ids: Sequence[str], ratios: Mapping[str, float], seed: int, groups: Sequence[str] | None = None) -> dict[str, str]:
    """Assign ``ids`` to subsets in proportion to ``ratios``, seeded; whole groups when ``groups`` is given.

    Args:
        ids: sample ids (any order; the result does not depend on it).
        ratios: subset -> fraction, fractions summing to 1 (``{"train": 0.88, "val": 0.12}``).
        seed: base seed; the shuffle draws from ``rng_for(seed, "split", "ratio")``.
        groups: group of each id (same order as ``ids``). Defaults to None (every id its own group).

    Returns:
        id -> subset.

    Raises:
        DataError: fewer groups than subsets.
    """
    ratios = _check_ratios(ratios, "ratio")
    shuffled = _shuffled_groups(ids, groups, rng_for(seed, "split", "ratio"))
    if len(shuffled) < len(ratios):
        raise DataError(f"cannot split {len(shuffled)} group(s) into {len(ratios)} subsets ({', '.join(ratios)}); the data set is too small.")
    targets = apportion(len(ids), ratios)
    assignment = _fill_subsets(shuffled, targets, at_least_one=True)
    counts = {name: sum(1 for subset in assignment.values() if subset == name) for name in targets}
    if counts != targets:
        logger.warning(
            "subset sizes %s differ from the ratio targets %s: %s",
            counts,
            targets,
            "whole groups are kept together" if groups is not None else "every subset needs at least one sample",
        )
    return assignment


def read_id_list(path: Path) -> list[str]:
    """Ids of a list file: one a line, folders and an image/NIfTI extension stripped, blank lines ignored.

    Raises:
        DataError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"id list {path} does not exist; download it (snakemake {path}) or fix the path given with --list.")
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
        if name:
            ids.append(strip_suffix(name, (*IMAGE_SUFFIXES, *NIFTI_SUFFIXES)))
    return ids


def _quote(ids: Sequence[str]) -> str:
    return ", ".join(ids[:_QUOTED_IDS]) + (", ..." if len(ids) > _QUOTED_IDS else "")


def official_split(ids: Sequence[str], lists: Mapping[str, Path]) -> dict[str, str]:
    """Assign ``ids`` to subsets from official id lists.

    Args:
        ids: manifest ids.
        lists: subset -> id list file.

    Returns:
        id -> subset, for the ids in a list; manifest ids in no list are left out (with a warning).

    Raises:
        ConfigError: no lists, or an unknown subset name.
        DataError: a listed id is not in the manifest, or an id is in two lists.
    """
    if not lists:
        raise ConfigError("split method official needs id lists: pass --list SUBSET=PATH for each subset (`lists:` in workflow_config.yaml).")
    known = set(ids)
    assignment: dict[str, str] = {}
    source: dict[str, Path] = {}
    for subset in sorted(lists, key=lambda name: SUBSETS.index(look_up_option(name, SUBSETS, "subset of an id list"))):
        path = Path(lists[subset])
        listed = read_id_list(path)
        if not listed:
            raise DataError(f"id list {path} ({subset}) holds no id.")
        repeated = len(listed) - len(set(listed))
        if repeated:
            logger.warning("%d id(s) appear twice in %s; each is counted once", repeated, path)
        listed = list(dict.fromkeys(listed))
        unknown = [sample_id for sample_id in listed if sample_id not in known]
        if unknown:
            raise DataError(
                f"{len(unknown)} id(s) of the {subset} list {path} are not in the manifest (first: {_quote(unknown)}); the list belongs to "
                "another data set, or ingest left these samples out (see bad_samples.csv beside the manifest)."
            )
        twice = [sample_id for sample_id in listed if sample_id in assignment]
        if twice:
            raise DataError(
                f"{len(twice)} id(s) are in both the {assignment[twice[0]]} list {source[twice[0]]} and the {subset} list {path} "
                f"(first: {_quote(twice)}); an id may be in one list only."
            )
        for sample_id in listed:
            assignment[sample_id], source[sample_id] = subset, path
    unlisted = sorted(known - set(assignment))
    if unlisted:
        logger.warning("%d manifest id(s) are in no list and are left out of the split (first: %s)", len(unlisted), _quote(unlisted))
    return assignment


def _round_half_up(value: float) -> int:
    return math.floor(round(value, 9) + 0.5)


def brats_heldout_split(
    ids: Sequence[str], ratios: Mapping[str, float], heldout: Mapping[str, float], seed: int, groups: Sequence[str] | None = None
) -> dict[str, str]:
    """Train/val/test by ``ratios``, then move ``heldout`` fractions of val and test to ``unlabelled``.

    Nalwade & Kisa (paper 004): "half of the validation data and twenty percent of the test data that we
    have set aside and consider it as unlabeled data".

    Args:
        ids: case ids.
        ratios: fractions of train, val and test, summing to 1.
        heldout: fraction of ``val`` and of ``test`` that becomes unlabelled (``{"val": 0.5, "test": 0.2}``).
        seed: base seed; the held-out cases of a subset draw from ``rng_for(seed, "split", "brats_heldout", subset)``.
        groups: group of each id, kept whole. Defaults to None.

    Returns:
        id -> subset.

    Raises:
        ConfigError: bad ratios or heldout fractions.
        DataError: a labelled subset left empty by a held-out fraction below 1.
    """
    if not isinstance(heldout, Mapping):
        raise ConfigError(f"split method brats_heldout needs `heldout`, e.g. {{val: 0.5, test: 0.2}}; got {heldout!r}.")
    for name, fraction in heldout.items():
        look_up_option(name, ("val", "test"), "subset in `heldout`")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise ConfigError(f"heldout fraction of {name} must be a number in [0, 1], got {fraction!r}.")
        if name not in ratios:
            raise ConfigError(f"`heldout` names {name}, which has no share in `ratios` {dict(ratios)}.")
    assignment = ratio_split(ids, ratios, seed, groups)
    group_of = dict(zip(ids, ids if groups is None else groups))
    for subset, fraction in heldout.items():
        members = [sample_id for sample_id in ids if assignment[sample_id] == subset]
        shuffled = _shuffled_groups(members, [group_of[m] for m in members], rng_for(seed, "split", "brats_heldout", subset))
        held = _round_half_up(len(members) * fraction)
        moved = _fill_subsets(shuffled, {"unlabelled": held, subset: len(members) - held}, at_least_one=False)
        assignment.update(moved)
        kept = sum(1 for s in moved.values() if s == subset)
        if kept == 0 and fraction < 1:
            raise DataError(
                f"heldout.{subset} = {fraction:g} moves all {len(members)} {subset} case(s) to unlabelled, leaving no {subset} case; "
                f"use more cases, a larger {subset} ratio or a smaller heldout.{subset}."
            )
        logger.info("held out %d of %d %s case(s) as unlabelled (heldout.%s = %g)", len(members) - kept, len(members), subset, subset, fraction)
    return assignment


def msd_split(ids: Sequence[str], n_test: int, n_val: int, seed: int) -> dict[str, str]:
    """Banerjee et al. (paper 003): last ``n_test`` sorted ids test; the rest shuffled, ``n_val`` val, remainder train.

    Args:
        ids: case ids (``BRATS_001`` ...).
        n_test: number of test cases (24 for MSD BraTS).
        n_val: number of val cases (72 for MSD BraTS).
        seed: base seed; the shuffle draws from ``rng_for(seed, "split", "msd")``.

    Returns:
        id -> subset.

    Raises:
        ConfigError: ``n_test`` or ``n_val`` not a positive integer.
        DataError: fewer than ``n_test + n_val + 1`` cases.
    """
    for name, value in (("n_test", n_test), ("n_val", n_val)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"split method msd needs `{name}` as a positive integer, got {value!r}.")
    ordered = sorted(ids)
    if len(ordered) < n_test + n_val + 1:
        raise DataError(
            f"the msd split needs at least {n_test + n_val + 1} cases ({n_test} test + {n_val} val + at least 1 train); "
            f"the manifest has {len(ordered)}. Lower n_test/n_val in the split's settings."
        )
    rest, test = ordered[: len(ordered) - n_test], ordered[len(ordered) - n_test :]
    shuffled = [rest[i] for i in rng_for(seed, "split", "msd").permutation(len(rest))]
    return {**{i: "val" for i in shuffled[:n_val]}, **{i: "train" for i in shuffled[n_val:]}, **{i: "test" for i in test}}


def read_groups(path: Path) -> dict[str, str]:
    """id -> group of a groups file: a CSV with columns ``id`` and ``group``, one row per id.

    Raises:
        DataError: unreadable file, missing columns, or an id given two different groups.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(f"cannot read the groups file {path}: {err}; it must be a CSV with columns id and group.") from None
    missing = [column for column in ("id", "group") if column not in table.columns]
    if missing:
        raise DataError(f"groups file {path} lacks column(s) {', '.join(missing)}; it has {', '.join(table.columns)}. Write one row per id: id,group.")
    table = table.drop_duplicates(["id", "group"])
    clashing = sorted(table.loc[table["id"].duplicated(), "id"].unique())
    if clashing:
        raise DataError(f"groups file {path} gives {len(clashing)} id(s) more than one group (first: {_quote(clashing)}); give each id one group.")
    return dict(zip(table["id"], table["group"]))


def _apply_groups(manifest: pd.DataFrame, spec: Mapping[str, Any], groups: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The manifest with its ``group`` column from the groups file, and the spec grouping by it."""
    if spec.get("group_by") is not None:
        raise ConfigError(f"split gives both group_by ({spec['group_by']!r}) and a groups file ({groups}); keep one of the two.")
    group_of = read_groups(groups)
    missing = sorted(set(manifest["id"]) - set(group_of))
    if missing:
        raise DataError(f"groups file {groups} has no group for {len(missing)} id(s) of the manifest (first: {_quote(missing)}); add a row id,group for each.")
    unused = len(set(group_of) - set(manifest["id"]))
    if unused:
        logger.info("groups file %s: %d id(s) are not in the manifest and are ignored", groups, unused)
    return manifest.assign(group=manifest["id"].map(group_of)), {**spec, "group_by": "group"}


def _group_column(manifest: pd.DataFrame, spec: Mapping[str, Any], manifest_path: Path) -> list[str] | None:
    column = spec.get("group_by")
    if column is None:
        return None
    if column not in manifest.columns:
        raise ConfigError(f"group_by names column {column!r}, which manifest {manifest_path} lacks; it has {', '.join(manifest.columns)}.")
    return manifest[column].tolist()


def _warn_group_by_ignored(spec: Mapping[str, Any]) -> None:
    if spec.get("group_by") is not None:
        logger.warning("group_by is ignored by split method %s (it applies to ratio and brats_heldout)", spec["method"])


def _by_ratio(manifest: pd.DataFrame, spec: Mapping[str, Any], lists: Mapping[str, Path], seed: int, manifest_path: Path) -> dict[str, str]:
    return ratio_split(manifest["id"].tolist(), spec.get("ratios"), seed, _group_column(manifest, spec, manifest_path))


def _by_lists(manifest: pd.DataFrame, spec: Mapping[str, Any], lists: Mapping[str, Path], seed: int, manifest_path: Path) -> dict[str, str]:
    _warn_group_by_ignored(spec)
    return official_split(manifest["id"].tolist(), lists)


def _by_heldout(manifest: pd.DataFrame, spec: Mapping[str, Any], lists: Mapping[str, Path], seed: int, manifest_path: Path) -> dict[str, str]:
    ratios = _check_ratios(spec.get("ratios"), "brats_heldout")
    return brats_heldout_split(manifest["id"].tolist(), ratios, spec.get("heldout"), seed, _group_column(manifest, spec, manifest_path))


def _by_msd(manifest: pd.DataFrame, spec: Mapping[str, Any], lists: Mapping[str, Path], seed: int, manifest_path: Path) -> dict[str, str]:
    _warn_group_by_ignored(spec)
    return msd_split(manifest["id"].tolist(), spec.get("n_test"), spec.get("n_val"), seed)


METHODS: dict[str, Callable[[pd.DataFrame, Mapping[str, Any], Mapping[str, Path], int, Path], dict[str, str]]] = {
    "ratio": _by_ratio,
    "official": _by_lists,
    "brats_heldout": _by_heldout,
    "msd": _by_msd,
}


def make_split(manifest_path: Path, spec: dict, lists: dict[str, Path], seed: int, out: Path, groups: Path | None = None) -> pd.DataFrame:
    """Assign the ids of a manifest to subsets and write the split CSV (``id, subset``) atomically.

    Args:
        manifest_path: manifest CSV written by ingest.
        spec: a ``splits:`` entry of workflow_config.yaml (``method`` and its settings).
        lists: subset -> local id list file, for method ``official`` (``--list`` flags).
        seed: base seed of the shuffles.
        out: split CSV to write.
        groups: groups file (``id,group`` CSV) whose groups ``ratio`` and ``brats_heldout`` keep whole;
            replaces ``group_by``. Defaults to None.

    Returns:
        The split as written: rows ordered by subset (train, val, test, unlabelled) then id.

    Raises:
        ConfigError: unknown method or bad settings.
        DataError: unreadable manifest, duplicate manifest ids, or ids that cannot be split as asked.
    """
    method = look_up_option(str(spec.get("method")), METHODS, "split method")
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    duplicated = sorted(manifest.loc[manifest["id"].duplicated(), "id"].unique())
    if duplicated:
        raise DataError(f"manifest {manifest_path} has {len(duplicated)} duplicated id(s) (first: {_quote(duplicated)}); rerun ingest.")
    if groups is not None:
        manifest, spec = _apply_groups(manifest, spec, Path(groups))
    assignment = method(manifest, spec, lists, seed, manifest_path)
    split = pd.DataFrame(sorted(assignment.items()), columns=list(SPLIT_COLUMNS))
    split["order"] = split["subset"].map(SUBSETS.index)
    split = split.sort_values(["order", "id"], kind="stable").drop(columns="order").reset_index(drop=True)
    write_csv(split, out)
    counts = split["subset"].value_counts()
    logger.info("split %s of %d id(s): %s -> %s", spec["method"], len(manifest), ", ".join(f"{s} {counts[s]}" for s in SUBSETS if s in counts), out)
    return split
