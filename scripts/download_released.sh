#!/usr/bin/env bash
# Downloads one task's released datasets of the paper (the file list is the reference repository's
# data-links.txt, dunnolab/laom): the labeled files of 128..2 trajectories, the eval file and the
# 5000-trajectory training file (about 60 GB), smallest first. Interrupted downloads resume.
#   bash scripts/download_released.sh TASK [DIR] [distractors|vanilla]
# TASK: cheetah-run, walker-run, hopper-hop or humanoid-walk. No eval file was released for vanilla.
# LAM_JAX_RELEASE_URL replaces the host (a mirror, or a file:// folder).
set -euo pipefail
usage="usage: bash scripts/download_released.sh cheetah-run|walker-run|hopper-hop|humanoid-walk [DIR] [distractors|vanilla]"
task=${1:?$usage}
dir=${2:-data/released}
kind=${3:-distractors}
case "$task" in cheetah-run|walker-run|hopper-hop|humanoid-walk) ;; *) echo "unknown task '$task'; $usage" >&2; exit 2 ;; esac
case "$kind" in
  distractors) stem="$task-scale-easy-video-hard"; last=("$stem-64px-eval.hdf5" "$stem-64px-5k.hdf5") ;;
  vanilla) stem="$task-vanilla"; last=("$stem-64px-5k.hdf5") ;;
  *) echo "unknown kind '$kind'; $usage" >&2; exit 2 ;;
esac
files=()
for k in 2 4 8 16 32 64 128; do files+=("$stem-labeled-1000x$k-64px.hdf5"); done
files+=("${last[@]}")
base=${LAM_JAX_RELEASE_URL:-https://fors3toevodomain.s3.cloud.ru/lapo-data}
mkdir -p "$dir"
for f in "${files[@]}"; do
  if [ -f "$dir/$f" ]; then
    echo "have $dir/$f"
    continue
  fi
  echo "downloading $f"
  if ! curl -fL --retry 5 --progress-bar -C - -o "$dir/$f.part" "$base/$f"; then
    # A .part already whole makes the resumed request fail (416): keep it if its size is the file's.
    size=$(curl -sfIL "$base/$f" | tr -d '\r' | awk 'tolower($1) == "content-length:" {n = $2} END {print n}')
    if [ -z "$size" ] || [ "$(stat -c %s "$dir/$f.part" 2>/dev/null)" != "$size" ]; then
      echo "downloading $f failed; run this again to resume" >&2
      exit 1
    fi
  fi
  mv "$dir/$f.part" "$dir/$f"
done
echo "done: ${#files[@]} files in $dir"
