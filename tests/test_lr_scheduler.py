"""mx.lr_scheduler: learning-rate sequences for update counts 0..13, as MXNet 1.9.1 gives them."""

import logging

import mxlite as mx
import pytest
from mxlite.base import MXNetError

L = mx.lr_scheduler
UPDATES = range(14)

# (scheduler factory, [lr for num_update 0..13]) -- numbers printed by MXNet 1.9.1
SEQUENCES = {
    "factor": (lambda: L.FactorScheduler(step=3, factor=0.5, base_lr=1.0),
               [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125,
                0.0625]),
    "factor_stop": (lambda: L.FactorScheduler(step=2, factor=0.1, stop_factor_lr=1e-3, base_lr=1.0),
                    [1.0, 1.0, 1.0, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002,
                     0.0010000000000000002, 0.0010000000000000002, 0.001, 0.001, 0.001, 0.001,
                     0.001]),
    "factor_warmup": (lambda: L.FactorScheduler(step=3, factor=0.5, base_lr=1.0, warmup_steps=4,
                                                warmup_begin_lr=0.2),
                      [0.2, 0.4, 0.6000000000000001, 0.8, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125,
                       0.125, 0.125, 0.0625]),
    "factor_warmup_constant": (
        lambda: L.FactorScheduler(step=3, factor=0.5, base_lr=1.0, warmup_steps=4,
                                  warmup_begin_lr=0.2, warmup_mode="constant"),
        [0.2, 0.2, 0.2, 0.2, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.0625]),
    "multi": (lambda: L.MultiFactorScheduler(step=[2, 5, 9], factor=0.5, base_lr=1.0),
              [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125, 0.125]),
    "multi_warmup": (lambda: L.MultiFactorScheduler(step=[4, 6], factor=0.1, base_lr=1.0,
                                                    warmup_steps=3, warmup_begin_lr=0.1),
                     [0.1, 0.4, 0.7, 1.0, 1.0, 0.1, 0.1] + [0.010000000000000002] * 7),
    "poly": (lambda: L.PolyScheduler(max_update=10, base_lr=1.0, pwr=2),
             [1.0, 0.81, 0.6400000000000001, 0.48999999999999994, 0.36, 0.25, 0.16000000000000003,
              0.09000000000000002, 0.03999999999999998, 0.009999999999999995, 0.0, 0.0, 0.0, 0.0]),
    "poly_warmup": (lambda: L.PolyScheduler(max_update=10, base_lr=1.0, pwr=1.5, final_lr=0.1,
                                            warmup_steps=3, warmup_begin_lr=0.3),
                    [0.3, 0.5333333333333333, 0.7666666666666666, 1.0, 0.8142040769673969,
                     0.643313449468332, 0.488763457952348, 0.3525092729873627,
                     0.23744863869781827, 0.14859543224404353, 0.1, 0.1, 0.1, 0.1]),
    "cosine": (lambda: L.CosineScheduler(max_update=10, base_lr=1.0),
               [1.0, 0.9755282581475768, 0.9045084971874737, 0.7938926261462366,
                0.6545084971874737, 0.5, 0.34549150281252633, 0.2061073738537635,
                0.09549150281252633, 0.024471741852423234, 0.0, 0.0, 0.0, 0.0]),
    "cosine_warmup": (lambda: L.CosineScheduler(max_update=10, base_lr=1.0, final_lr=0.1,
                                                warmup_steps=3, warmup_begin_lr=0.3),
                      [0.3, 0.5333333333333333, 0.7666666666666666, 1.0, 0.9554359905560885,
                       0.8305704108364301, 0.6501344202803414, 0.44986557971965857,
                       0.26942958916356996, 0.14456400944391146, 0.1, 0.1, 0.1, 0.1]),
}


@pytest.mark.parametrize("key", sorted(SEQUENCES))
def test_sequence_matches_mxnet(key):
    make, expected = SEQUENCES[key]
    scheduler = make()
    assert [scheduler(n) for n in UPDATES] == expected


def test_factor_schedulers_only_move_forward():
    factor = L.FactorScheduler(step=3, factor=0.5, base_lr=1.0)
    assert [factor(n) for n in (0, 10, 2, 11, 30)] == [1.0, 0.125, 0.125, 0.125, 0.001953125]
    multi = L.MultiFactorScheduler(step=[2, 5, 9], factor=0.5, base_lr=1.0)
    assert [multi(n) for n in (0, 10, 2, 11)] == [1.0, 0.125, 0.125, 0.125]
    assert (multi.count, multi.cur_step_ind) == (9, 3)


def test_poly_keeps_last_rate_past_max_update_and_recomputes_earlier():
    poly = L.PolyScheduler(max_update=10, base_lr=1.0, pwr=2)
    assert [poly(n) for n in (3, 12, 2)] == [0.48999999999999994, 0.48999999999999994,
                                             0.6400000000000001]


def test_optimizer_learning_rate_overrides_base_lr_but_not_the_schedule_origin():
    # MXNet quirk, kept: Poly/Cosine decay from the base_lr they were built with, and the
    # warm-up still ramps to the original base_lr.
    poly = L.PolyScheduler(max_update=10, base_lr=1.0)
    opt = mx.optimizer.SGD(learning_rate=0.3, lr_scheduler=poly)
    assert poly.base_lr == 0.3 and poly(1) == 0.81 and opt._get_lr(0) == 1.0  # num_update 0
    factor = L.FactorScheduler(step=2, factor=0.5, base_lr=1.0, warmup_steps=2)
    mx.optimizer.SGD(learning_rate=0.4, lr_scheduler=factor)
    assert [factor(n) for n in range(7)] == [0.0, 0.5, 0.4, 0.2, 0.2, 0.1, 0.1]


def test_attributes_like_mxnet():
    factor = L.FactorScheduler(step=2, factor=0.5)
    assert vars(factor) == {"base_lr": 0.01, "warmup_steps": 0, "warmup_final_lr": 0.01,
                            "warmup_begin_lr": 0, "warmup_mode": "linear", "step": 2,
                            "factor": 0.5, "stop_factor_lr": 1e-08, "count": 0}
    poly = L.PolyScheduler(max_update=5, warmup_steps=1)
    assert (poly.power, poly.base_lr_orig, poly.max_steps, poly.final_lr) == (2, 0.01, 4, 0)
    assert L.CosineScheduler(max_update=5).max_steps == 5


def test_factor_logs_changes(caplog):
    scheduler = L.FactorScheduler(step=1, factor=0.1, stop_factor_lr=0.05, base_lr=1.0)
    with caplog.at_level(logging.INFO):
        scheduler(3)
    assert "Change learning rate to 1.00000e-01" in caplog.text
    assert "will not change in the future" in caplog.text and scheduler.base_lr == 0.05


@pytest.mark.parametrize("make, message", [
    (lambda: L.FactorScheduler(step=0), "Schedule step must be greater or equal than 1"),
    (lambda: L.FactorScheduler(step=2, factor=1.5), "Factor must be no more than 1"),
    (lambda: L.MultiFactorScheduler(step=[3, 2]), r"increasing integer list, got \[3, 2\]"),
    (lambda: L.MultiFactorScheduler(step=[0, 2]), "greater or equal than 1"),
    (lambda: L.MultiFactorScheduler(step=[3], factor=2), "Factor must be no more than 1"),
    (lambda: L.MultiFactorScheduler(step=3), "step must be a non-empty list"),
    (lambda: L.MultiFactorScheduler(step=[]), "step must be a non-empty list"),
    (lambda: L.PolyScheduler(max_update=0), "must be strictly positive"),
    (lambda: L.PolyScheduler(max_update=2.5), "max_update must be an int"),
    (lambda: L.CosineScheduler(max_update=-1), "must be strictly positive"),
    (lambda: L.LRScheduler(warmup_steps=-1), "Warmup steps has to be positive or 0"),
    (lambda: L.LRScheduler(warmup_steps=2.0), "warmup_steps must be an int"),
    (lambda: L.LRScheduler(base_lr=0.1, warmup_begin_lr=0.5), "higher than warmup_begin_lr"),
    (lambda: L.LRScheduler(warmup_mode="cubic"), r"'cubic'.*\['linear', 'constant'\]"),
    (lambda: L.LRScheduler(warmup_steps=2).get_warmup_lr(2), "past the 2 warm-up steps"),
])
def test_bad_arguments(make, message):
    with pytest.raises(MXNetError, match=message):
        make()


def test_base_class_is_abstract():
    with pytest.raises(NotImplementedError):
        L.LRScheduler()(3)
