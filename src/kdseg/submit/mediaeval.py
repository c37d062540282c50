"""MediaEval 2020 Medico packages: task 1 (segmentation masks) and task 2 (efficiency, a Docker build context).

Jha et al., "Medico Multimedia Task at MediaEval 2020: Automatic Polyp Segmentation"
(https://multimediaeval.github.io/editions/2020/tasks/medico/).

- Task 1: a zip with one mask per test image, named exactly as the image and at its resolution,
  single-channel, exactly 0/255 (PNG data under every name, see :func:`kdseg.submit.common.lossless_mask`),
  so an evaluator reading ``> 0`` or ``> 127`` gets the prediction.
- Task 2: a zip of the Docker build context, and nothing else: ``Dockerfile`` (a slim Python image with the
  validated versions of NumPy, Pillow, OpenCV and ONNX Runtime), ``predict.py``
  (:mod:`kdseg.submit.task2_entrypoint`, reads ``/medico2020``, writes ``/mask`` and prints the official
  timing lines), ``model.onnx``, ``model.json``, ``requirements.txt`` and a ``README.md`` that says how to
  build and run the image and ``docker save`` it, the form the task asks for.

Both use the exported ONNX model through the same code, so the container's masks are task 1's masks;
the task-2 validator runs the entry point on a few test images and checks exactly that.

Example:
    >>> package_mediaeval("model.pt", "model.onnx", "task1.zip", "task2.zip", manifest="manifest.csv",
    ...                   split="split.csv", subset="val", threads=2)
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from kdseg.submit import task2_entrypoint
from kdseg.submit.common import input_images, load_segmenter, lossless_mask, model_config, require_unique, segment_images
from kdseg.submit.task2_entrypoint import CONFIG_FILE, MODEL_FILE, WARMUP_CALLS, mean_fps_line
from kdseg.submit.validate import TASK2_FILES, validate_mediaeval_task1, validate_mediaeval_task2
from kdseg.utils.io import write_bytes, write_json, write_text, zip_bytes

__all__ = ["TASK2_REQUIREMENTS", "package_mediaeval"]

log = logging.getLogger(__name__)

# distributions the container installs, pinned to the versions this package was validated with
TASK2_REQUIREMENTS = ("numpy", "onnxruntime", "opencv-python-headless", "pillow")
_IMAGE_TAG = "kdseg-medico2020-task2"


def _dockerfile(model: str) -> str:
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"""# MediaEval 2020 Medico task 2 (efficiency): {model}, exported by kdseg.
# Build: docker build -t {_IMAGE_TAG} .
# Run:   docker run --rm -v <test images>:/medico2020:ro -v <output>:/mask {_IMAGE_TAG}
# Save:  docker save {_IMAGE_TAG} | gzip > {_IMAGE_TAG}.tar.gz
FROM python:{python}-slim
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY predict.py {MODEL_FILE} {CONFIG_FILE} ./
ENTRYPOINT ["python", "/app/predict.py"]
CMD ["/medico2020", "/mask"]
"""


def _readme(model: str, images: int) -> str:
    return f"""# MediaEval 2020 Medico task 2 — {model}

Docker build context written by `kdseg-package mediaeval2020`. The entry point `predict.py` reads every
image in `/medico2020`, writes a single-channel 0/255 mask with the image's file name to `/mask`, prints
`<name> - <seconds>` per image (`%.10f`; the model call only, after {WARMUP_CALLS} warm-up calls) and a last line
`Mean FPS:  <images / total seconds>`, as the organisers' skeleton prints them. A file that cannot be decoded is
named on stderr and gets no mask; every other image is still done, and the exit status is then 1.

Unzip the build context (`unzip mediaeval2020_task2.zip -d task2 && cd task2`), build the image there, run
it on the test images, and save it as the task asks (an image file made with `docker save`):

    docker build -t {_IMAGE_TAG} .
    docker run --rm -v /path/to/test-images:/medico2020:ro -v /path/to/masks:/mask {_IMAGE_TAG}
    docker save {_IMAGE_TAG} | gzip > {_IMAGE_TAG}.tar.gz

`docker load -i {_IMAGE_TAG}.tar.gz` restores it on another machine.

Options after the image name replace the default folders and set threads, e.g.
`docker run ... {_IMAGE_TAG} /medico2020 /mask --threads 4` (0, the default, lets ONNX Runtime use every core).
Without Docker: `pip install -r requirements.txt`, then `python predict.py <images> <masks>`.

Files: `{MODEL_FILE}` (the network; input `image` N×3×H×W, output `logits`), `{CONFIG_FILE}` (input size, input
range, threshold), `requirements.txt` (the versions the package was validated with). The entry point was
run on {images} test image(s) when the package was built and wrote the task-1 masks byte for byte.
"""


def _requirements() -> str:
    return "".join(f"{name}=={importlib.metadata.version(name)}\n" for name in TASK2_REQUIREMENTS)


def package_mediaeval(
    checkpoint: str | Path,
    onnx: str | Path,
    out_task1: str | Path,
    out_task2: str | Path,
    *,
    manifest: str | Path | None = None,
    split: str | Path | None = None,
    subset: str | None = None,
    images_dir: str | Path | None = None,
    threads: int = 1,
    threshold: float = 0.5,
    mirror: bool = False,
    smoke_images: int = 2,
) -> dict[str, Any]:
    """Write the MediaEval 2020 task-1 zip and the zip of the task-2 build context, each validated first.

    Args:
        checkpoint: ``model.pt`` of the 2D model (for its input size, input range and name).
        onnx: the model's ``.onnx`` file (what both tasks run).
        out_task1: the task-1 zip to write.
        out_task2: the task-2 zip to write (the build context's files at its root).
        manifest: manifest CSV, with ``split`` and ``subset``, when the test images are a split's subset. Defaults to None.
        split: split CSV. Defaults to None.
        subset: subset of the split. Defaults to None.
        images_dir: a folder of test images instead of a split's subset. Defaults to None.
        threads: ONNX Runtime threads. Defaults to 1.
        threshold: probability threshold; changes results. Defaults to 0.5.
        mirror: average each image's prediction with its three flips (one model call of a batch of four);
            changes results. Defaults to False.
        smoke_images: test images the task-2 entry point is run on while validating. Defaults to 2.

    Returns:
        a summary: number of images, the model-call mean FPS, the written paths.

    Raises:
        DataError: unusable inputs; :class:`~kdseg.submit.validate.SubmissionError` if a package breaks a rule.
    """
    images = input_images(manifest=manifest, split=split, subset=subset, images_dir=images_dir)
    require_unique([image.path.name for image in images], "file names", "task 1 names each mask after its image, so file names must be unique.")
    segmenter, meta = load_segmenter(checkpoint, onnx, threads, threshold, mirror)
    model = str(meta.get("model") or Path(checkpoint).parent.name)
    results = segment_images(segmenter, images)
    predictions = {r.image.path.name: r.mask for r in results}
    members = {name: lossless_mask(mask) for name, mask in predictions.items()}
    archive = zip_bytes(members)
    validate_mediaeval_task1(archive, {name: mask.shape for name, mask in predictions.items()}, predictions)
    write_bytes(out_task1, archive)
    log.info("wrote %s (%d masks); %s (model call)", out_task1, len(members), mean_fps_line([r.seconds for r in results]))

    smoke = [image.path for image in images[: max(1, smoke_images)]]
    # built in a scratch folder and zipped: a folder output would also collect the workflow's own files
    with tempfile.TemporaryDirectory(prefix="kdseg-task2-context-") as scratch:
        folder = Path(scratch)
        write_text(folder / "Dockerfile", _dockerfile(model))
        write_text(folder / "README.md", _readme(model, len(smoke)))
        write_text(folder / "requirements.txt", _requirements())
        write_bytes(folder / "predict.py", Path(task2_entrypoint.__file__).read_bytes())
        write_bytes(folder / MODEL_FILE, Path(onnx).read_bytes())
        write_json(folder / CONFIG_FILE, model_config(meta, threshold, mirror))
        validate_mediaeval_task2(folder, smoke, {p.name: predictions[p.name] for p in smoke})
        context = zip_bytes({name: (folder / name).read_bytes() for name in TASK2_FILES})
    write_bytes(out_task2, context)
    log.info("wrote the task-2 build context %s (entry point checked on %d image(s))", out_task2, len(smoke))
    return {"images": len(results), "mean_fps": len(results) / max(sum(r.seconds for r in results), 1e-12), "task1": str(out_task1), "task2": str(out_task2)}
