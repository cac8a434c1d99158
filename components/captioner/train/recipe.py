"""What a captioner run trains, as named data: the model preset, and each stage's budget
and optimisation. `quick` fits the CPU demo's minutes; `paper` is the long run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class StageRecipe:
    max_steps: int
    max_minutes: float | None  # wall-clock budget of the stage, None: steps alone
    lr: float = 1e-3
    warmup_steps: int = 50
    batch_size: int = 32
    contrastive_weight: float = 1.0  # 0: captioning-only
    caption_weight: float = 2.0
    word_weight: float = 0.0  # the word head's loss (coca_loss.word_loss); needs model word_head=True
    long_share: float = 0.7  # curated stage: share of examples that train the long caption
    augment: bool = True  # curated stage: truth-keeping colour permutations and flips
    short_first: float = 0.0  # curated stage: share of the budget trained on short captions only, before long_share
    grouped_batches: bool = True  # curated stage: batches of one caption type, long ones grouped by length


STAGE_FIELDS = frozenset(f.name for f in fields(StageRecipe))


@dataclass(frozen=True)
class CaptionerRecipe:
    preset: str
    vocab_size: int  # the BPE's cap; the trained vocabulary may be smaller
    pretrain: StageRecipe | None  # None: fine-tune from scratch
    finetune: StageRecipe
    eval_images: int = 200  # held-out curated images judged after training
    hf_model: str | None = None  # a transformers image-to-text model (path or hub id) to fine-tune
    # instead of CoCa: captioning loss only, its own tokenizer, no pretraining stage
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RECIPES: dict[str, CaptionerRecipe] = {
    # The quick budget goes to fine-tuning alone: 3 minutes of alt-text pretraining lowered
    # held-out long-caption recall at 8 fine-tuning minutes (0.15 against 0.34-0.43 from
    # scratch), and short captions first doubled it (0.34-0.43 against 0.16-0.18 mixed),
    # docs/results.md. `captioner: {pretrain: {max_steps: 300, max_minutes: 3}}` puts the
    # pretraining stage back. Its ~900 steps end before the grounding transition (2,500-4,300
    # steps): the paper stage on 3,200 curated captions reached recall 0.96 with 7% of long
    # captions hallucinating after 70 minutes on the same 2-core CPU.
    "quick": CaptionerRecipe(
        preset="small",
        vocab_size=2048,
        pretrain=None,
        finetune=StageRecipe(max_steps=5000, max_minutes=8.0, lr=1e-3, short_first=0.6),  # steps: a ceiling for fast machines
    ),
    # The paper recipe trains from scratch too, measured at its own scale on a lent H200
    # (docs/results.md, session 5): from scratch on 5,000 curated images, 6,384 steps, long
    # recall 0.95 with 8% of captions hallucinating; after 2,900-3,100 steps of pretraining
    # on the 50,000 web images' alt-text, the same wall-clock left 3,500 fine-tuning steps and
    # 0.11 (CoCa) or 0.29 (captioning only), and at equal fine-tuning steps (~2,300) 0.11-0.29
    # against 0.51. This world's alt-text says little of its image (70% of it nothing), so
    # pretraining on it costs steps rather than saving them. The old pretraining's 6,000
    # steps go to fine-tuning: 12,000 steps on 5,000 curated images reached long recall 0.984
    # with 2.0% hallucinating on this 2-core CPU in bf16 (2 h 15 min; docs/results.md, session 6).
    "paper": CaptionerRecipe(
        preset="small",
        vocab_size=4096,
        pretrain=None,
        finetune=StageRecipe(max_steps=12000, max_minutes=None, lr=5e-4, warmup_steps=200),
    ),
}


def resolve_recipe(name: str, **overrides: Any) -> CaptionerRecipe:
    """The named recipe; `overrides` replace top-level fields, and `pretrain.<field>` /
    `finetune.<field>` keys replace one field of a stage. A stage given whole as a mapping
    (`pretrain: {max_steps: 300, max_minutes: 3}`) replaces that stage, or adds it to a
    recipe without one; `pretrain: None` removes pretraining."""
    if name not in RECIPES:
        raise ValueError(f"unknown captioner recipe {name!r}; known: {sorted(RECIPES)}")
    recipe = RECIPES[name]
    top = {k: v for k, v in overrides.items() if "." not in k}
    known = {f.name for f in fields(CaptionerRecipe)}
    if unknown := sorted(set(top) - known):
        raise ValueError(f"unknown captioner setting(s) {unknown}; known: {sorted(known)}")
    for stage in ("pretrain", "finetune"):
        if isinstance(top.get(stage), dict):
            top[stage] = _stage_from_mapping(stage, top[stage])
    if top.get("finetune", recipe.finetune) is None:
        raise ValueError("the finetune stage cannot be removed: every captioner is fine-tuned on the curated set")
    recipe = replace(recipe, **top)
    for key, value in overrides.items():
        if "." not in key:
            continue
        stage, name_ = key.split(".", 1)
        if stage not in ("pretrain", "finetune") or name_ not in STAGE_FIELDS:
            raise ValueError(f"unknown captioner setting {key!r}")
        current = getattr(recipe, stage)
        if current is None:
            raise ValueError(f"{key!r} set, but the recipe has no {stage} stage")
        recipe = replace(recipe, **{stage: replace(current, **{name_: value})})
    return recipe


def _stage_from_mapping(stage: str, values: dict[str, Any]) -> StageRecipe:
    if unknown := sorted(set(values) - STAGE_FIELDS):
        raise ValueError(f"unknown {stage} setting(s) {unknown}; known: {sorted(STAGE_FIELDS)}")
    if missing := sorted({"max_steps", "max_minutes"} - set(values)):
        raise ValueError(f"{stage} given whole needs {missing} (max_minutes may be null: steps alone)")
    return StageRecipe(**values)
