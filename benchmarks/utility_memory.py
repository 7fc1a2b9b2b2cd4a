"""Peak memory of the utility rule's two ways to serve the untuned model and its tuned adapters.

merged: the base model plus one merged copy per adapter (the rule before); switch: one base model with
every adapter loaded unmerged and switched per call (diffuse.utility.AdapterSwitch, the rule now). Each
way runs in its own process; the figure is that process's peak resident set size (ru_maxrss).

    python benchmarks/utility_memory.py results/models/smollm2-135m results/adapters/smollm2-135m/{a,b}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys
from diffuse.models import load_model
from diffuse.utility import AdapterSwitch, SeparateModels
way, model_dir, *adapters = sys.argv[1:]
base = load_model(model_dir)
if way == "merged":
    models = SeparateModels(base, {a: load_model(model_dir, a, merge=True) for a in adapters})
else:
    models = AdapterSwitch(base, {a: a for a in adapters})
for name in [None, *models.names]:
    with models(name) as model:
        model(input_ids=__import__("torch").tensor([[1, 2, 3]]))
print(json.dumps({"way": way, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("adapters", nargs="+")
    args = parser.parse_args()
    for way in ("merged", "switch"):
        out = subprocess.run([sys.executable, "-c", CHILD, way, args.model_dir, *args.adapters],
                             check=True, capture_output=True, text=True).stdout  # fmt: skip
        print(json.loads(out.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
