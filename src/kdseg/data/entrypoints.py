"""Console commands of the data stages: ``kdseg-make-demo``, ``kdseg-download``, ``kdseg-extract``,
``kdseg-ingest`` and ``kdseg-split``. Each parses its flags and calls one typed API function."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, json_arg, run_entry

__all__ = ["download_entry", "extract_entry", "ingest_entry", "make_demo_entry", "split_entry"]


def make_demo_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-make-demo``: write a synthetic data set in a real data set's layout, packed as an archive."""
    from kdseg.data.synthetic import GENERATORS, make_demo_archive

    parser = argparse.ArgumentParser(prog="kdseg-make-demo", description=make_demo_entry.__doc__)
    parser.add_argument("--generator", required=True, choices=sorted(GENERATORS), help="[REQUIRED] which layout to imitate.")
    parser.add_argument("--samples", required=True, type=int, help="[REQUIRED] number of samples (cases for brats).")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] archive to write (.zip or .tar.gz).")
    add_common_args(parser, seed=True)
    run_entry(parser, lambda a: make_demo_archive(a.generator, a.samples, a.seed, a.out), argv)


def download_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-download``: fetch a URL with resume and retries, verify its checksum, place it atomically."""
    from kdseg.data.download import download

    parser = argparse.ArgumentParser(prog="kdseg-download", description=download_entry.__doc__)
    parser.add_argument("--url", required=True, help="[REQUIRED] http(s):// or file:// URL.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] destination file.")
    parser.add_argument("--checksum", default="", help="[OPTIONAL] 'sha256:<hex>' or 'md5:<hex>'; empty = not pinned (the sha256 is logged). Default: empty.")
    parser.add_argument("--retries", type=int, default=5, help="[OPTIONAL] attempts after a failed transfer. Default: 5.")
    parser.add_argument("--timeout", type=float, default=60.0, help="[OPTIONAL] seconds without data before a retry. Default: 60.")
    add_common_args(parser)
    run_entry(parser, lambda a: download(a.url, a.out, checksum=a.checksum or None, retries=a.retries, timeout=a.timeout), argv)


def extract_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-extract``: verify an archive's checksum and extract it safely into a folder."""
    from kdseg.data.archive import DEFAULT_MAX_COMPRESSION_RATIO, DEFAULT_MAX_EXTRACTED_BYTES, extract_archive

    parser = argparse.ArgumentParser(prog="kdseg-extract", description=extract_entry.__doc__)
    parser.add_argument("--archive", required=True, type=Path, help="[REQUIRED] .zip, .tar, .tar.gz, .tgz, .tar.bz2 or .tar.xz file.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] folder to create (replaced atomically).")
    parser.add_argument("--checksum", default="", help="[OPTIONAL] 'sha256:<hex>' or 'md5:<hex>' of the archive. Default: not checked.")
    parser.add_argument(
        "--max-extracted-gb", type=float, default=DEFAULT_MAX_EXTRACTED_BYTES / 1e9,
        help=f"[OPTIONAL] refuse an archive whose members hold more (GB, 10^9 bytes). Default: {DEFAULT_MAX_EXTRACTED_BYTES / 1e9:g}.",
    )
    parser.add_argument(
        "--max-compression-ratio", type=float, default=DEFAULT_MAX_COMPRESSION_RATIO,
        help=f"[OPTIONAL] refuse an archive that unpacks to more than this many times its size. Default: {DEFAULT_MAX_COMPRESSION_RATIO:g}.",
    )
    add_common_args(parser)
    run_entry(
        parser,
        lambda a: extract_archive(
            a.archive, a.out, checksum=a.checksum or None, max_bytes=int(a.max_extracted_gb * 1e9), max_ratio=a.max_compression_ratio
        ),
        argv,
    )


def ingest_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-ingest``: check every sample of a data set and write its manifest and bad-sample report."""
    from kdseg.data.images import DEFAULT_MAX_IMAGE_PIXELS
    from kdseg.data.ingest import LAYOUTS, ingest

    parser = argparse.ArgumentParser(prog="kdseg-ingest", description=ingest_entry.__doc__)
    parser.add_argument("--layout", required=True, choices=sorted(LAYOUTS), help="[REQUIRED] on-disk layout of the data set.")
    parser.add_argument("--root", required=True, type=Path, help="[REQUIRED] folder holding the data set (extracted or as shipped).")
    parser.add_argument("--out-manifest", required=True, type=Path, help="[REQUIRED] manifest CSV to write.")
    parser.add_argument("--out-report", required=True, type=Path, help="[REQUIRED] bad-sample CSV to write (id, path, reason).")
    parser.add_argument(
        "--report-copy", type=Path, default=None,
        help="[OPTIONAL] a second copy of the bad-sample CSV that error messages point to; the rule puts it beside its log,"
        " which Snakemake keeps when the job fails (it deletes --out-report). Default: none.",
    )
    parser.add_argument("--on-bad-sample", choices=("fail", "skip"), default="fail", help="[OPTIONAL] stop on bad samples, or leave them out. Default: fail.")
    parser.add_argument("--options", type=json_arg, default={}, help="[OPTIONAL] layout options as JSON. Default: {}.")
    parser.add_argument("--threads", type=int, default=1, help="[OPTIONAL] parallel readers. Default: 1.")
    parser.add_argument(
        "--max-image-pixels", type=int, default=DEFAULT_MAX_IMAGE_PIXELS,
        help=f"[OPTIONAL] a 2D image or mask with more pixels is a bad sample (read from its header, not decoded). Default: {DEFAULT_MAX_IMAGE_PIXELS}.",
    )
    add_common_args(parser)
    run_entry(
        parser,
        lambda a: ingest(
            a.layout, a.root, a.out_manifest, a.out_report, on_bad_sample=a.on_bad_sample, options=a.options, threads=a.threads,
            report_copy=a.report_copy, max_image_pixels=a.max_image_pixels,
        ),
        argv,
    )


def _list_arg(text: str) -> tuple[str, Path]:
    subset, sep, path = text.partition("=")
    if not sep or not subset or not path:
        raise argparse.ArgumentTypeError(f"expected SUBSET=PATH, got {text!r}")
    return subset, Path(path)


def split_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-split``: write a seeded, deterministic split (ratio, official lists, BraTS held-out, MSD)."""
    from kdseg.data.split import make_split

    parser = argparse.ArgumentParser(prog="kdseg-split", description=split_entry.__doc__)
    parser.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV of the data set.")
    parser.add_argument("--spec", required=True, type=json_arg, help='[REQUIRED] split settings as JSON, e.g. \'{"method": "ratio", "ratios": {"train": 0.88, "val": 0.12}}\'.')
    parser.add_argument("--list", dest="lists", action="append", type=_list_arg, default=[], help="[OPTIONAL] SUBSET=PATH of an official id list (method official); repeat per subset.")
    parser.add_argument("--groups", type=Path, help="[OPTIONAL] CSV id,group (frame -> video, image -> patient) whose groups ratio splits keep whole; changes results. Default: none.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] split CSV to write (id, subset).")
    add_common_args(parser, seed=True)
    run_entry(parser, lambda a: make_split(a.manifest, a.spec, dict(a.lists), a.seed, a.out, groups=a.groups), argv)
