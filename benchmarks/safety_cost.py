"""What the safety checks and C2PA signing cost beside the generation they guard, in one run.

    python benchmarks/safety_cost.py [--generator models/generator/paper] [--prompts 16]

The benchmark's short prompts (the first --prompts of the suite), under recap's starting
blocklist plus the sign word STOP (so the image check reads every drawn sign):
  (a) prompt:   the prompt checks of one request (the user's prompt and a rewrite of it);
  (b) image:    the image checks of one drawn image (the scene parser's sign read);
  (c) sign:     a signed C2PA manifest on its PNG (a test certificate made here, ES256);
  (d) verify:   reading and validating that manifest against the test CA;
  (e) generate: one image with the generator's judged sampling (its steps and guidance).
Also once per command: check_signing's trial signature. Prints milliseconds for each and the
ratio (a + b + c) / e: what the layers add to one draw.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from components.evaluation.benchmark import benchmark_suite
from components.evaluation.benchmark_draw import draw_prompts, pipeline_sampling
from components.generator.pipeline import load_pipeline
from components.provenance import (
    GenerationClaim,
    check_signing,
    make_test_certificates,
    sha256_text,
    sign_png,
    signing_settings,
    verify_bytes,
)
from components.safety import check_image, check_prompt, load_policy

T = TypeVar("T")


def mean_ms(run: Callable[[T], object], items: Sequence[T]) -> float:
    start = time.perf_counter()
    for item in items:
        run(item)
    return 1000 * (time.perf_counter() - start) / len(items)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--generator", type=Path, default=Path("models/generator/paper"))
    parser.add_argument("--prompts", type=int, default=16)
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    policy = load_policy({"blocked_terms_file": "safety/blocked_terms.txt", "blocked_terms": ["stop"]}, root=root)
    prompts = [e.prompt for e in benchmark_suite(8, forms=("short",))][: args.prompts]
    rewrites = [f"{p[0].upper()}{p[1:]} sits on a plain background, drawn in flat colours." for p in prompts]
    pipe, sampling = load_pipeline(args.generator), pipeline_sampling(args.generator)
    draw_prompts(pipe, prompts[:1], sampling=sampling)  # warm-up
    with tempfile.TemporaryDirectory() as tmp:
        certificates = make_test_certificates(Path(tmp))
        settings = signing_settings(
            {"certificate": str(certificates.certificate), "private_key": str(certificates.private_key)}, root=root
        )
        trial = mean_ms(lambda _: check_signing(settings), [0])
        generate = mean_ms(lambda p: draw_prompts(pipe, [p], sampling=sampling), prompts)
        images = list(draw_prompts(pipe, prompts, sampling=sampling))
        prompt = mean_ms(
            lambda i: (check_prompt(policy, prompts[i]), check_prompt(policy, rewrites[i])), range(len(prompts))
        )
        image = mean_ms(lambda im: check_image(policy, im), images)
        claim = GenerationClaim("recap-generator/1", "sha256:0", sha256_text("a"), sha256_text("b"), True, {})
        encoded = [png(im) for im in images]
        signed: list[bytes] = []
        sign = mean_ms(lambda data: signed.append(sign_png(data, claim, settings)), encoded)
        verify = mean_ms(lambda data: verify_bytes(data, trust_anchors=certificates.ca), signed)
    added = prompt + image + sign
    print(f"machine threads {torch.get_num_threads()}, {len(prompts)} short prompts, {sampling.steps} sampling steps")
    print(f"(a) prompt:   {prompt:8.2f} ms/request  (2 checks, {len(policy.terms)} blocked terms)")
    print(f"(b) image:    {image:8.2f} ms/image")
    larger = np.mean([len(s) - len(e) for s, e in zip(signed, encoded, strict=True)])
    print(f"(c) sign:     {sign:8.2f} ms/image    (PNG {larger:.0f} bytes larger)")
    print(f"(d) verify:   {verify:8.2f} ms/image")
    print(f"(e) generate: {generate:8.2f} ms/image")
    print(f"trial signature once per command: {trial:.2f} ms")
    print(f"(a+b+c)/e {added / generate:.3f}")


if __name__ == "__main__":
    main()
