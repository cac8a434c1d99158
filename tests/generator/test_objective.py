"""The objectives on known tensors: targets, Min-SNR weights, losses and schedules."""

import math

import pytest
import torch

from components.generator.objective import (
    OBJECTIVES,
    Objective,
    diffusion_loss,
    loss_weights,
    resolve_objective,
    snr,
    training_target,
)

ABAR = torch.tensor([0.8, 0.5, 0.2, 0.0])  # a schedule's alpha-bar at four timesteps


def test_epsilon_targets_the_noise_and_v_the_velocity() -> None:
    x0 = torch.full((2, 1, 1, 1), 2.0)
    noise = torch.full((2, 1, 1, 1), -1.0)
    t = torch.tensor([1, 3])
    assert torch.equal(training_target(OBJECTIVES["epsilon"], ABAR, x0, noise, t), noise)
    v = training_target(OBJECTIVES["v_zero_snr"], ABAR, x0, noise, t)
    # v = sqrt(abar) * noise - sqrt(1 - abar) * x0: at abar 0.5, -sqrt(.5) - 2 sqrt(.5); at abar 0, -x0
    assert v[0].item() == pytest.approx(-3 * math.sqrt(0.5))
    assert v[1].item() == pytest.approx(-2.0)


def test_min_snr_weights_clip_the_easy_timesteps() -> None:
    t = torch.tensor([0, 1, 2])  # SNR 4, 1, 0.25
    assert snr(ABAR, t).tolist() == pytest.approx([4.0, 1.0, 0.25])
    gamma = Objective(min_snr_gamma=2.0)
    assert loss_weights(gamma, ABAR, t).tolist() == pytest.approx([0.5, 1.0, 1.0])  # min(SNR, 2) / SNR
    v_gamma = Objective("v_prediction", zero_terminal_snr=True, min_snr_gamma=2.0)
    # min(SNR, 2) / (SNR + 1); at SNR 0 (t=3) the weight is 0, not a division by zero
    assert loss_weights(v_gamma, ABAR, torch.tensor([0, 1, 2, 3])).tolist() == pytest.approx([0.4, 0.5, 0.2, 0.0])
    assert loss_weights(OBJECTIVES["epsilon"], ABAR, t).tolist() == [1.0, 1.0, 1.0]


def test_the_loss_is_the_weighted_mean_squared_error() -> None:
    x0, noise = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    prediction = torch.zeros(2, 1, 2, 2)
    t = torch.tensor([0, 1])
    # epsilon: the target is the noise (1 everywhere), so the error is 1 per element
    assert diffusion_loss(OBJECTIVES["epsilon"], ABAR, prediction, x0, noise, t).item() == pytest.approx(1.0)
    # Min-SNR gamma 2: weights 0.5 and 1 -> mean 0.75
    loss = diffusion_loss(Objective(min_snr_gamma=2.0), ABAR, prediction, x0, noise, t)
    assert loss.item() == pytest.approx(0.75)
    # v with x0 = 0: the target is sqrt(abar) * noise, squared error abar: (0.8 + 0.5) / 2
    loss = diffusion_loss(Objective("v_prediction"), ABAR, prediction, x0, noise, t)
    assert loss.item() == pytest.approx(0.65)


def test_the_zero_terminal_snr_schedule_ends_in_pure_noise() -> None:
    rescaled = OBJECTIVES["v_zero_snr"].scheduler()
    assert rescaled.alphas_cumprod[-1].item() == 0.0
    assert rescaled.config["timestep_spacing"] == "trailing"
    plain = OBJECTIVES["epsilon"].scheduler()
    assert plain.alphas_cumprod[-1].item() > 0.0  # the flaw Lin et al. fix
    assert plain.config["prediction_type"] == "epsilon" and rescaled.config["prediction_type"] == "v_prediction"


def test_bad_objectives_name_the_value() -> None:
    with pytest.raises(ValueError, match="zero-terminal-SNR schedule needs v_prediction"):
        Objective("epsilon", zero_terminal_snr=True)
    with pytest.raises(ValueError, match="prediction_type 'x0'"):
        Objective("x0")
    with pytest.raises(ValueError, match="min_snr_gamma"):
        Objective(min_snr_gamma=0.0)
    with pytest.raises(ValueError, match="unknown objective 'v'"):
        resolve_objective("v")
