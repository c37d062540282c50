#!/usr/bin/env bash
# Install the kdseg package (stage commands kdseg-*) into this environment, editable so it follows the
# workflow's code; its dependencies come from the environment file, hence --no-deps.
# rules/common.smk exports KDSEG_WORKFLOW_DIR; snakemake runs this script from the working directory.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e "${KDSEG_WORKFLOW_DIR:-.}"
