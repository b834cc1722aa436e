"""Sweep the full pipeline over methods x tasks x label budgets x seeds, then write the report.

  python -m experiments.sweep --methods lapo,laom,laom_labels,idm,bc --tasks cheetah-run \
      --labeled 2,4,8 --seeds 0 --out runs/sweep [pipeline flags...]

Finished runs (their summary.json) are skipped, so an interrupted sweep resumes.
"""
import argparse
import itertools
import json
import os
import sys

from experiments import pipeline, report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", default="lapo,laom,laom_labels,idm,bc")
    p.add_argument("--tasks", default="cheetah-run")
    p.add_argument("--labeled", default="2,4,8")
    p.add_argument("--seeds", default="0")
    argv = sys.argv[1:] if argv is None else list(argv)
    args, rest = p.parse_known_args(argv)
    summaries = []
    grid = list(itertools.product(args.tasks.split(","), args.methods.split(","),
                                  [int(k) for k in args.labeled.split(",")], [int(s) for s in args.seeds.split(",")]))
    for i, (task, method, k, seed) in enumerate(grid):
        print(f"[{i + 1}/{len(grid)}] {task} {method} k={k} seed={seed}", flush=True)
        run_args = pipeline.parser().parse_args(
            ["--method", method, "--task", task, "--labeled", str(k), "--seed", str(seed), *rest])
        summaries.append(pipeline.run(run_args))
    out = pipeline.parser().parse_args(["--method", "bc", *rest]).out
    with open(os.path.join(out, "summaries.json"), "w") as f:
        json.dump(summaries, f, indent=1)
    path = report.write_pipeline_report(out, summaries, "python -m experiments.sweep " + " ".join(argv))
    print(f"report: {path}")
    return path


if __name__ == "__main__":
    main()
