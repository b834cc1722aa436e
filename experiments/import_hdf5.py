"""Import the paper's released HDF5 files as a TFDS/RLDS dataset (see data_pipeline/import_hdf5.py).

  python -m experiments.import_hdf5 --train=cheetah-run-scale-easy-video-hard-64px-5k.hdf5 \
      --eval=cheetah-run-scale-easy-video-hard-64px-eval.hdf5 \
      --labeled=cheetah-run-scale-easy-video-hard-labeled-1000x4-64px.hdf5 --data_dir=data --workers=8

--eval and --labeled default to the files beside --train with the released names; an
interrupted import (even kill -9) continues where it stopped when run again.
"""

from absl import flags

from data_pipeline.import_hdf5 import import_release
from experiments import runtime

_TRAIN = flags.DEFINE_string("train", None, "the released training file (...-64px-5k.hdf5)")
_EVAL = flags.DEFINE_string("eval", None, "the eval file (default: the one beside --train; '' for none)")
_LABELED = flags.DEFINE_list("labeled", None, "labeled files (default: those beside --train)")
_DATA_DIR = flags.DEFINE_string("data_dir", "data", "where datasets live (as in configs/collect.py)")
_NAME = flags.DEFINE_string("name", "", "dataset name (default: the training file's name without -5k)")
_WORKERS = flags.DEFINE_integer("workers", 1, "writer processes")
_SHARDS = flags.DEFINE_integer("num_shards", 0, "at most this many shards per split (0: about 256 MiB each)")
flags.mark_flag_as_required("train")


def main(argv):
    del argv
    path = import_release(_TRAIN.value, _DATA_DIR.value, _EVAL.value, _LABELED.value, _NAME.value,
                          _WORKERS.value, _SHARDS.value)
    print(f"dataset: {path}")


if __name__ == "__main__":
    runtime.run(main)
