import pytest

from components.world import ALT_TEXT_KINDS, WorldConfig


def test_defaults_are_worlds_values():
    c = WorldConfig()
    assert c.image_size == 64
    assert (c.counting_share, c.sign_share) == (0.20, 0.15)
    assert c.object_count_probs == (0.30, 0.35, 0.20, 0.15)
    assert c.counting_range == (2, 6)
    assert c.alt_text_shares == {"filename": 0.30, "shop": 0.15, "social": 0.15, "partly_true": 0.30, "wrong": 0.10}
    assert set(c.alt_text_shares) == set(ALT_TEXT_KINDS)
    assert (c.min_component_pixels, c.large_threshold) == (12, 13)


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"object_count_probs": (0.3, 0.3, 0.2, 0.1)}, "object_count_probs=(0.3, 0.3, 0.2, 0.1)"),
        ({"object_count_probs": (0.5, 0.6, -0.1)}, "-0.1"),
        ({"alt_text_shares": {"filename": 0.5, "shop": 0.4}}, "sums to 0.9"),
        ({"alt_text_shares": {"filename": 0.5, "spam": 0.5}}, "'spam'"),
        ({"counting_share": -0.2}, "counting_share=-0.2"),
        ({"sign_share": 1.5}, "sign_share=1.5"),
        ({"counting_range": (-1, 4)}, "counting_range=(-1, 4)"),
        ({"counting_range": (3, 7)}, "counting_range=(3, 7)"),
        ({"min_component_pixels": -3}, "min_component_pixels=-3"),
        ({"unknown_distance": 0}, "unknown_distance=0"),
        ({"large_threshold": 16}, "large_threshold=16"),
        ({"image_size": 128}, "image_size=128"),
    ],
)
def test_validation_names_the_offending_value(kwargs, needle):
    with pytest.raises(ValueError) as err:
        WorldConfig(**kwargs)
    assert needle in str(err.value)


def test_seven_copies_fit_only_without_signs():
    assert WorldConfig(sign_share=0.0, counting_range=(2, 9)).counting_range == (2, 9)


def test_from_dict_rejects_unknown_keys_by_name():
    with pytest.raises(ValueError, match="'sign_shar'"):
        WorldConfig.from_dict({"sign_shar": 0.2})


def test_from_dict_round_trip():
    c = WorldConfig(sign_share=0.3, object_count_probs=(0.5, 0.5))
    assert WorldConfig.from_dict(c.to_dict()) == c
    assert WorldConfig.from_dict({"counting_range": [3, 4]}).counting_range == (3, 4)
