"""The README's main job: a small end-to-end run on CPU.

Collects a small cheetah-run dataset with the paper's distractors (procedural background videos
unless --davis_path is given), then runs the full pipeline for LAPO, LAOM and LAOM+supervision
with 4 labeled trajectories: LAM pretraining (with a held-out latent-action probe), BC on latent
actions, action decoder, evaluation in the environment with unseen background videos. Writes
runs/main/results.md. Re-running resumes: datasets, checkpoints and finished runs are reused.
"""
import sys

from experiments import sweep

DEFAULTS = ["--methods", "lapo,laom,laom_labels", "--labeled", "4", "--seeds", "0", "--out", "runs/main",
            "--variant", "small", "--num_train", "16", "--num_eval", "2"]


if __name__ == "__main__":
    sweep.main(DEFAULTS + sys.argv[1:])  # later flags win
