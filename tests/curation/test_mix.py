import hashlib

import pandas as pd
import pytest

from components.curation.mix import (
    MANIFEST_COLUMNS,
    MIX_SPECS,
    MixSpec,
    build_manifest,
    resolve_mix,
    truncate_at_sentences,
)
from components.text.words import word_count

PAPER = {"descriptive": 0.95, "original": 0.05}


def filtered_rows(n: int, shards: tuple[str, ...] = ("00000", "00001"), sentences: int = 3) -> pd.DataFrame:
    """n filtered sidecar rows spread over `shards`, every one ok with its long caption kept."""
    rows = []
    for i in range(n):
        long = " ".join(f"Sentence {j} of image {i} is here." for j in range(sentences))
        rows.append(
            {
                "key": f"{i:09d}",
                "shard": shards[i % len(shards)],
                "original_caption": f"alt text {i}",
                "short_caption": f"A short caption {i}.",
                "long_caption": long,
                "status": "ok",
                "caption": long,
                "source": "long",
                "filter_reason": None,
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ spec validation


@pytest.mark.parametrize(
    "shares, named",
    [
        ({"descriptive": 0.94, "original": 0.05}, "0.99"),
        ({"descriptive": 0.95, "synthetic": 0.05}, "'synthetic'"),
        ({"descriptive": 1.5, "original": -0.5}, "1.5"),
        ({"descriptive": "0.95", "original": 0.05}, "'0.95'"),
        ({}, "{}"),
    ],
)
def test_bad_shares_are_named(shares, named):
    with pytest.raises(ValueError, match=named):
        MixSpec("mine", shares)


def test_unknown_source_lists_known_sources():
    with pytest.raises(ValueError, match="known sources: descriptive, short, original"):
        MixSpec("mine", {"alt": 1.0})


@pytest.mark.parametrize("name", ["", "Paper", "my mix", "mix/1", "mix.v2"])
def test_bad_names_are_named(name):
    with pytest.raises(ValueError, match=f"name {name!r}"):
        MixSpec(name, PAPER)


@pytest.mark.parametrize("max_tokens", [0, -5, True, 12.5])
def test_bad_max_tokens_is_named(max_tokens):
    with pytest.raises(ValueError, match=f"max_tokens is {max_tokens!r}"):
        MixSpec("mine", PAPER, max_tokens=max_tokens)


def test_shares_within_tolerance_pass_and_are_copied():
    shares = {"descriptive": 0.7, "short": 0.2, "original": 0.1}  # sums to 0.9999999999999999 in floats
    spec = MixSpec("mine", shares)
    shares["descriptive"] = 0.0
    assert spec.shares["descriptive"] == 0.7
    assert list(spec.shares) == ["descriptive", "original", "short"]


# ------------------------------------------------------------------ versions


def test_version_known_answer():
    payload = b'{"max_tokens":null,"shares":[["descriptive",0.95],["original",0.05]]}'
    assert MixSpec("paper", PAPER).version == hashlib.sha256(payload).hexdigest()[:12]


def test_version_ignores_share_order_name_and_zero_shares():
    a = MixSpec("a", {"descriptive": 0.95, "original": 0.05})
    b = MixSpec("b", {"original": 0.05, "descriptive": 0.95}, description="other words")
    c = MixSpec("c", {"original": 0.05, "short": 0.0, "descriptive": 0.95})
    assert a.version == b.version == c.version
    assert len(a.version) == 12 and int(a.version, 16) >= 0


def test_version_changes_with_shares_and_max_tokens():
    paper = MixSpec("a", PAPER)
    assert MixSpec("a", {"descriptive": 0.9, "original": 0.1}).version != paper.version
    assert MixSpec("a", {"short": 0.95, "original": 0.05}).version != paper.version
    assert MixSpec("a", PAPER, max_tokens=120).version != paper.version


@pytest.mark.parametrize("name", sorted(MIX_SPECS))
def test_dict_round_trip(name):
    spec = MIX_SPECS[name]
    data = spec.to_dict()
    assert data["version"] == spec.version
    again = MixSpec.from_dict(data)
    assert again == spec and again.version == spec.version and hash(again) == hash(spec)


def test_from_dict_checks_recorded_version_and_fields():
    data = MIX_SPECS["paper"].to_dict() | {"max_tokens": 120}
    with pytest.raises(ValueError, match=f"records version '{MIX_SPECS['paper'].version}'"):
        MixSpec.from_dict(data)
    with pytest.raises(ValueError, match="'weights'"):
        MixSpec.from_dict({"name": "mine", "weights": PAPER})
    with pytest.raises(ValueError, match="'shares'"):
        MixSpec.from_dict({"name": "mine"})


# ------------------------------------------------------------------ registry


def test_registry():
    assert set(MIX_SPECS) == {
        "paper",
        "original_only",
        "descriptive_only",
        "short_only",
        "descriptive_50",
        "descriptive_120",
        "descriptive_200",
        "oracle",
        "blend_65",
        "blend_80",
        "blend_90",
    }
    assert dict(MIX_SPECS["oracle"].shares) == {"oracle": 0.95, "original": 0.05}
    assert dict(MIX_SPECS["paper"].shares) == PAPER and MIX_SPECS["paper"].max_tokens is None
    assert dict(MIX_SPECS["short_only"].shares) == {"short": 1.0}
    for length in (50, 120, 200):
        spec = MIX_SPECS[f"descriptive_{length}"]
        assert dict(spec.shares) == PAPER and spec.max_tokens == length
    for percent in (65, 80, 90):  # the blending ratios the paper tried beside 95/5
        spec = MIX_SPECS[f"blend_{percent}"]
        assert spec.shares["descriptive"] == pytest.approx(percent / 100) and spec.max_tokens is None
        assert spec.shares["original"] == pytest.approx(1 - percent / 100)
    assert len({spec.version for spec in MIX_SPECS.values()}) == len(MIX_SPECS)  # no spec twice under two names
    assert all(name == spec.name for name, spec in MIX_SPECS.items())


def test_resolve_mix():
    assert resolve_mix("paper") is MIX_SPECS["paper"]
    user = resolve_mix({"name": "mostly_short", "shares": {"short": 0.8, "original": 0.2}})
    assert user.name == "mostly_short" and dict(user.shares) == {"original": 0.2, "short": 0.8}
    with pytest.raises(ValueError, match="unknown mix spec 'papr'; known specs: paper, original_only"):
        resolve_mix("papr")
    with pytest.raises(ValueError, match="'paper' is registered"):
        resolve_mix({"name": "paper", "shares": {"descriptive": 1.0}})
    same = resolve_mix({"name": "paper", "shares": {"original": 0.05, "descriptive": 0.95}})
    assert same.version == MIX_SPECS["paper"].version


# ------------------------------------------------------------------ manifests


def test_paper_realises_95_5_and_is_seeded():
    rows = filtered_rows(10_000)
    result = build_manifest(rows, MIX_SPECS["paper"], seed=0)
    assert abs(result.shares["descriptive"] - 0.95) <= 0.01
    assert abs(result.shares["original"] - 0.05) <= 0.01
    counts = result.manifest["source"].value_counts().to_dict()
    assert counts == {"long": 9500, "original": 500}  # exact: the ranked list is cut at 9,500
    assert result.spec_version == MIX_SPECS["paper"].version
    assert (result.errors_left_out, result.empty_left_out, result.fallbacks, result.truncated) == (0, 0, 0, 0)

    again = build_manifest(rows, MIX_SPECS["paper"], seed=0)
    assert again.manifest.equals(result.manifest)
    other = build_manifest(rows, MIX_SPECS["paper"], seed=1)
    assert not other.manifest.equals(result.manifest)
    originals = set(result.manifest.loc[result.manifest["source"] == "original", "key"])
    other_originals = set(other.manifest.loc[other.manifest["source"] == "original", "key"])
    assert len(other_originals) == 500 and len(originals & other_originals) < 100  # ~25 expected by chance


def test_captions_come_from_their_source():
    rows = filtered_rows(400)
    manifest = build_manifest(rows, MIX_SPECS["paper"], seed=3).manifest.merge(rows, on=["shard", "key"])
    long_rows = manifest[manifest["source_x"] == "long"]
    original_rows = manifest[manifest["source_x"] == "original"]
    assert long_rows["caption_x"].tolist() == long_rows["long_caption"].tolist()
    assert original_rows["caption_x"].tolist() == original_rows["original_caption"].tolist()
    assert len(original_rows) == 20


def test_oracle_captions_come_from_their_column_and_are_required():
    rows = filtered_rows(200).assign(oracle_caption=[f"The truth of image {i}." for i in range(200)])
    manifest = build_manifest(rows, MIX_SPECS["oracle"], seed=0).manifest.merge(rows, on=["shard", "key"])
    oracle_rows = manifest[manifest["source_x"] == "oracle"]
    assert len(oracle_rows) == 190 and (manifest["source_x"] == "original").sum() == 10
    assert oracle_rows["caption_x"].tolist() == oracle_rows["oracle_caption"].tolist()
    # a spec that does not draw on it ignores the column; one that does needs it
    assert len(build_manifest(rows, MIX_SPECS["paper"], seed=0).manifest) == 200
    with pytest.raises(ValueError, match="'oracle' draws on oracle captions, which only the shapes world has"):
        build_manifest(filtered_rows(10), MIX_SPECS["oracle"], seed=0)
    # the filter never writes `oracle` as a source
    with pytest.raises(ValueError, match="filtered source values must be one of"):
        build_manifest(filtered_rows(10).assign(source="oracle"), MIX_SPECS["paper"], seed=0)


def test_the_blends_realise_their_ratios_and_nest():
    """The spec is not part of the ranking: a key drawn descriptive at 65% is drawn so at 80%, 90%
    and 95% too, so the training-mix table's rows differ only in the keys the cut moves past."""
    rows = filtered_rows(200)
    synthetic = {}
    for name, share in (("blend_65", 0.65), ("blend_80", 0.8), ("blend_90", 0.9), ("paper", 0.95)):
        result = build_manifest(rows, MIX_SPECS[name], seed=0)
        assert result.shares["descriptive"] == pytest.approx(share) and len(result.manifest) == 200
        manifest = result.manifest
        synthetic[name] = set(manifest.loc[manifest["source"] != "original", "key"])
    assert synthetic["blend_65"] < synthetic["blend_80"] < synthetic["blend_90"] < synthetic["paper"]


def test_manifest_columns_and_order():
    rows = filtered_rows(50, shards=("00002", "00000", "00001"))
    manifest = build_manifest(rows, MIX_SPECS["paper"], seed=0).manifest
    assert tuple(manifest.columns) == MANIFEST_COLUMNS == ("key", "shard", "caption", "source")
    expected = sorted(zip(rows["shard"], rows["key"], strict=True))
    assert list(zip(manifest["shard"], manifest["key"], strict=True)) == expected
    assert list(manifest.index) == list(range(50))


def test_row_order_does_not_change_the_manifest():
    rows = filtered_rows(2_000)
    shuffled = rows.sample(frac=1.0, random_state=7).reset_index(drop=True)
    assert not shuffled["key"].equals(rows["key"])
    for name in ("paper", "short_only"):
        a = build_manifest(rows, MIX_SPECS[name], seed=5).manifest
        b = build_manifest(shuffled, MIX_SPECS[name], seed=5).manifest
        assert a.equals(b)


def test_adding_keys_keeps_most_sources():
    rows = filtered_rows(2_000)
    before = build_manifest(rows.iloc[:1_800], MIX_SPECS["paper"], seed=0).manifest
    after = build_manifest(rows, MIX_SPECS["paper"], seed=0).manifest
    joined = before.merge(after, on=["shard", "key"])
    assert len(joined) == 1_800
    kept = sum(a == b for a, b in zip(joined["source_x"], joined["source_y"], strict=True))
    assert kept >= 0.98 * 1_800


def test_same_shares_same_keys_across_length_variants():
    rows = filtered_rows(1_000)
    paper = build_manifest(rows, MIX_SPECS["paper"], seed=0).manifest
    cut = build_manifest(rows, MIX_SPECS["descriptive_120"], seed=0).manifest
    assert paper["source"].equals(cut["source"])


def test_error_rows_are_left_out_and_counted():
    rows = filtered_rows(100)
    errors = rows["key"].isin(["000000003", "000000010", "000000077"])
    rows.loc[errors, "status"] = "error"
    rows.loc[errors, ["short_caption", "long_caption", "caption", "source"]] = None
    result = build_manifest(rows, MIX_SPECS["paper"], seed=0)
    assert result.errors_left_out == 3
    assert len(result.manifest) == 97
    assert not {"000000003", "000000010", "000000077"} & set(result.manifest["key"])


def test_descriptive_reports_the_filters_source():
    rows = filtered_rows(6)
    rows.loc[1, ["caption", "source", "filter_reason"]] = [rows.loc[1, "original_caption"], "original", "alignment"]
    rows.loc[2, ["caption", "source", "filter_reason"]] = [rows.loc[2, "short_caption"], "short", "repetition"]
    result = build_manifest(rows, MIX_SPECS["descriptive_only"], seed=0)
    by_key = result.manifest.set_index("key")
    assert by_key.loc["000000001", "source"] == "original"
    assert by_key.loc["000000001", "caption"] == "alt text 1"
    assert by_key.loc["000000002", "source"] == "short"
    assert by_key.loc["000000002", "caption"] == "A short caption 2."
    assert by_key.loc["000000000", "source"] == "long"
    assert result.fallbacks == 0  # the filter's fallbacks are not the mix's
    assert dict(result.shares) == {"descriptive": 1.0}
    assert result.summary()["origins"] == {"long": 4, "short": 1, "original": 1, "oracle": 0}


def test_empty_short_falls_back_to_original():
    rows = filtered_rows(5)
    rows.loc[1, "short_caption"] = None
    rows.loc[3, "short_caption"] = "   "
    result = build_manifest(rows, MIX_SPECS["short_only"], seed=0)
    by_key = result.manifest.set_index("key")
    assert by_key["source"].tolist() == ["short", "short", "short", "original", "original"]  # keys 0, 2, 4, 1, 3
    assert by_key.loc["000000001", "caption"] == "alt text 1"
    assert by_key.loc["000000002", "caption"] == "A short caption 2."
    assert result.fallbacks == 2


def test_rows_without_any_caption_are_left_out_and_counted():
    rows = filtered_rows(4)
    rows.loc[2, ["original_caption", "short_caption"]] = ["", None]
    result = build_manifest(rows, MIX_SPECS["short_only"], seed=0)
    assert result.empty_left_out == 1 and result.fallbacks == 0
    assert list(result.manifest["key"]) == ["000000000", "000000001", "000000003"]


def test_bad_rows_fail_loudly():
    rows = filtered_rows(4)
    with pytest.raises(ValueError, match="'caption'"):
        build_manifest(rows.drop(columns="caption"), MIX_SPECS["paper"], seed=0)
    duplicated = pd.concat([rows, rows.iloc[[1]]])
    with pytest.raises(ValueError, match="'000000001' appears more than once in shard '00001'"):
        build_manifest(duplicated, MIX_SPECS["paper"], seed=0)
    with pytest.raises(ValueError, match="'0'"):
        build_manifest(rows.assign(shard="0"), MIX_SPECS["paper"], seed=0)
    with pytest.raises(ValueError, match="'failed'"):
        build_manifest(rows.assign(status="failed"), MIX_SPECS["paper"], seed=0)
    with pytest.raises(ValueError, match="'synthetic'"):
        build_manifest(rows.assign(source="synthetic"), MIX_SPECS["paper"], seed=0)
    with pytest.raises(ValueError, match="no rows left"):
        build_manifest(rows.assign(status="error"), MIX_SPECS["paper"], seed=0)


# ------------------------------------------------------------------ truncation

TEXT = "One two three. Four five. Six seven eight nine."  # sentences of 3, 2 and 4 words


@pytest.mark.parametrize(
    "max_tokens, expected",
    [
        (9, TEXT),
        (20, TEXT),
        (8, "One two three. Four five."),
        (5, "One two three. Four five."),
        (4, "One two three."),
        (3, "One two three."),
        (2, "One two"),  # the first sentence alone is too long: cut at a word boundary
        (1, "One"),
    ],
)
def test_truncate_known_answers(max_tokens, expected):
    assert truncate_at_sentences(TEXT, max_tokens, word_count) == expected


def test_truncate_details():
    short = "  A red circle.  "
    assert truncate_at_sentences(short, 10, word_count) == short  # already short: unchanged, spaces and all
    assert truncate_at_sentences("It is 3.5 units wide. Red.", 5) == "It is 3.5 units wide."  # 3.5 ends nothing
    assert truncate_at_sentences("A circle! Is it red? Yes it is", 5) == "A circle! Is it red?"
    assert truncate_at_sentences('He said "hi." Then left.', 3) == 'He said "hi."'
    assert truncate_at_sentences("no punctuation at all here", 3) == "no punctuation at"
    assert truncate_at_sentences("Abc de. Fgh ij.", 10, len) == "Abc de."  # the counter is injected
    assert truncate_at_sentences("Abcdefgh ij kl. M.", 11, len) == "Abcdefgh ij"
    with pytest.raises(ValueError, match="max_tokens is 0"):
        truncate_at_sentences(TEXT, 0, word_count)
    # One word over the limit (an untrained captioner's bytes) is cut inside it, not refused.
    assert truncate_at_sentences("Abcdefgh ij.", 3, len) == "Abc"


def test_length_variants_never_exceed_max_tokens():
    rows = filtered_rows(300, sentences=1)
    for i in range(300):  # 1 to 40 sentences of 7 words: 7 to 280 words
        long = " ".join(f"Sentence {j} of image {i} is here." for j in range(1 + i % 40))
        rows.loc[i, ["long_caption", "caption"]] = [long, long]
    lengths = {}
    for max_tokens in (50, 120, 200):
        result = build_manifest(rows, MIX_SPECS[f"descriptive_{max_tokens}"], seed=0)
        manifest = result.manifest.merge(rows, on=["shard", "key"])
        counts = [word_count(caption) for caption in manifest["caption_x"]]
        assert max(counts) <= max_tokens
        assert max(counts) > max_tokens - 7  # whole sentences up to the limit, not fewer
        long = manifest[manifest["source_x"] == "long"]
        assert all(b.startswith(a) for a, b in zip(long["caption_x"], long["caption_y"], strict=True))
        assert result.truncated == sum(word_count(caption) > max_tokens for caption in long["caption_y"]) > 0
        lengths[max_tokens] = long.set_index("key")["caption_x"]
    # 10 sentences, 70 words: keys 9, 49, 89, ... (the first one the mix gave a descriptive caption)
    key = next(key for key in lengths[50].index if int(key) % 40 == 9)
    assert word_count(lengths[50][key]) == 49 and lengths[50][key].endswith(f"image {int(key)} is here.")
    assert word_count(lengths[120][key]) == 70
