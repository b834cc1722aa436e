"""The README's main job: a small end-to-end run on CPU.

Collects a small cheetah-run dataset with the paper's distractors (procedural background videos
unless --davis_path is given), pretrains LAPO, LAOM and LAOM+supervision with equal budgets and
writes a latent-action probe report. Re-running resumes: finished datasets and checkpoints are reused.
"""
import sys

from experiments import compare_lam

DEFAULTS = ["--out", "runs/main", "--methods", "lapo,laom,laom_labels", "--variant", "small",
            "--num_train", "16", "--num_eval", "2"]


if __name__ == "__main__":
    sys.argv = [sys.argv[0]] + DEFAULTS + sys.argv[1:]  # later flags win
    compare_lam.main()
