#!/usr/bin/env bash
# bench/mmaudio_gpu.py on a GPU machine that has no network (a lent device), as one prepared run.
#
#   bash bench/mmaudio_gpu.sh prepare MMAUDIO_CHECKOUT   # here, with PyPI: wheels + MMAudio's package
#   bash bench/mmaudio_gpu.sh run                         # there: install them, build random weights, measure
#
# prepare puts into the working tree, in folders .git/info/exclude ignores (carry them: .whl, .mmaudio):
#   .whl/      wheels for Python 3.12 of what MMAudio and lvas's render path need beyond the
#              device image's packages (torch, torchvision, timm, einops, torchdiffeq, numba,
#              huggingface_hub, scipy, pyarrow... are there);
#   .mmaudio/  the mmaudio package of the checkout (its source only: never committed).
# run installs them into /tmp/site, lvas itself (no dependencies) beside them, builds random
# weights of small_16k and large_44k_v2 into /tmp/mmaudio-weights and runs bench/mmaudio_gpu.py,
# writing $OUT/mmaudio_gpu.json and $OUT/mmaudio_gpu.log.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned to the versions lvas is tested with here (pyproject.toml) and MMAudio's needs.
WHEELS=(
  av==18.1.0 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
  pydantic==2.14.3 pydantic-core==2.50.4 pydantic-settings==2.16.3 python-dotenv==1.2.4
  annotated-types==0.8.0 typing-inspection==0.4.5
  open-clip-torch==3.3.0 ftfy==6.3.1 wcwidth==0.2.13
  librosa==0.11.0 audioread==3.0.1 soxr==0.5.0.post1 pooch==1.8.2 platformdirs==4.14.9 decorator==5.2.1
  omegaconf==2.3.0 colorlog==6.12.0
)
# omegaconf's parser runtime is published as source only: built here into a (pure Python) wheel.
SOURCE_ONLY=(antlr4-python3-runtime==4.9.3)

case "${1:-}" in
  prepare)
    src="${2:?give the MMAudio checkout}"
    [ -f "$src/mmaudio/eval_utils.py" ] || { echo "$src: not an MMAudio checkout" >&2; exit 2; }
    exclude="$(git rev-parse --git-path info/exclude)" && mkdir -p "$(dirname "$exclude")"
    for d in .whl .mmaudio; do grep -qx "/$d/" "$exclude" 2>/dev/null || echo "/$d/" >> "$exclude"; done
    rm -rf .whl .mmaudio && mkdir -p .whl .mmaudio
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}"
    python3 -m pip wheel -q --no-deps -w .whl "${SOURCE_ONLY[@]}"
    cp -r "$src/mmaudio" .mmaudio/
    find .mmaudio -name '__pycache__' -prune -exec rm -rf {} +
    du -sh .whl .mmaudio
    echo "carry: [\".whl\", \".mmaudio\"]  (the working tree that travels must stay under 64 MiB)"
    ;;
  run)
    out="${OUT:-bench/out/mmaudio-gpu}" && mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site .
    # The scripts put their folder's parent first on sys.path: run copies of them from a folder
    # without the source lvas/ (whose lvas.storage etc. live elsewhere in the tree) so the
    # installed lvas is the one imported.
    rm -rf /tmp/lvas-bench && mkdir -p /tmp/lvas-bench/tests && cp -r bench /tmp/lvas-bench/
    cp tests/__init__.py tests/clips.py /tmp/lvas-bench/tests/
    export PYTHONPATH="/tmp/site:$PWD/.mmaudio" PYTHONUNBUFFERED=1
    python3 /tmp/lvas-bench/bench/mmaudio_gpu.py --weights /tmp/mmaudio-weights --build-random \
      --out /tmp/mmaudio-gpu --json "$out/mmaudio_gpu.json" 2>&1 | tee "$out/mmaudio_gpu.log"
    ;;
  *)
    sed -n '2,14p' "$0"; exit 2
    ;;
esac
