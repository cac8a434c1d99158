"""How long loading the Dagster definitions takes in a fresh interpreter: what every `recap`
command, DVC stage and code-location reload pays before any work.

    python benchmarks/definitions_load.py --repeats 5

Times, in new processes, alternating:
- definitions: `import recap_dagster.definitions` as the project loads it (training libraries
  imported by the assets when they run);
- eager (baseline): the same, plus what it imported before the training libraries were made
  lazy: `lightning` (with torchmetrics), `diffusers` and `transformers`;
- Kubernetes location: `import recap_dagster.k8s_definitions`, the local location plus
  dagster-k8s and its Kubernetes client, which the local location imported until 2026-12-07;
- dagster alone: `import dagster`, the floor no code location goes below.
Prints best and median seconds and the ratios of definitions to eager and to the Kubernetes
location (lower is better).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "definitions": "import recap_dagster.definitions",
    "eager (baseline)": "import recap_dagster.definitions, lightning, diffusers, transformers",
    "Kubernetes location": "import recap_dagster.k8s_definitions",
    "dagster alone": "import dagster",
}


def seconds(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    seconds(CASES["eager (baseline)"])  # warm the page cache and the bytecode caches
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, code in CASES.items():
            times[name].append(seconds(code))
    print(f"{'':<20} {'best s':>8} {'median s':>9}")
    for name, values in times.items():
        print(f"{name:<20} {min(values):8.2f} {statistics.median(values):9.2f}")
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"ratio definitions / eager (median): {median['definitions'] / median['eager (baseline)']:.2f}")
    print(
        f"ratio definitions / Kubernetes location (median): {median['definitions'] / median['Kubernetes location']:.2f}"
    )


if __name__ == "__main__":
    main()
