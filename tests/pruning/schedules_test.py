import json

import numpy as np
import pytest

from keras_compress.pruning import ConstantSparsity, IterativePruning, PolynomialDecay


def test_polynomial_decay_matches_the_closed_form():
    schedule = PolynomialDecay(0.1, 0.9, begin_step=100, end_step=1100, power=3, frequency=50)
    for step in range(100, 1101, 50):
        progress = (step - 100) / 1000
        expected = 0.9 + (0.1 - 0.9) * (1 - progress) ** 3
        prune, sparsity = schedule(step)
        assert prune and sparsity == pytest.approx(expected, abs=1e-12)
    assert schedule(99) == (False, pytest.approx(0.1))
    assert schedule(125)[0] is False
    assert schedule(5000) == (False, pytest.approx(0.9))


def test_polynomial_decay_prunes_at_end_step_even_off_frequency():
    schedule = PolynomialDecay(0.0, 0.5, begin_step=0, end_step=95, frequency=10)
    assert schedule(95) == (True, pytest.approx(0.5))


def test_constant_sparsity():
    schedule = ConstantSparsity(0.6, begin_step=5, end_step=25, frequency=10)
    assert [schedule(s)[0] for s in (4, 5, 10, 15, 25, 35)] == [False, True, False, True, True, False]
    assert schedule(15)[1] == 0.6


def test_iterative_pruning_cuts_then_recovers():
    schedule = IterativePruning(0.25, final_sparsity=0.6, begin_step=10, frequency=20)
    assert schedule.end_step == 10 + 2 * 20
    assert [schedule(s) for s in (10, 30, 50, 70)] == [
        (True, 0.25), (True, 0.5), (True, pytest.approx(0.6)), (False, pytest.approx(0.6))
    ]
    assert schedule(20) == (False, 0.25)  # recovering


@pytest.mark.parametrize("schedule", [
    PolynomialDecay(0.0, 0.8, 0, 100, power=2, frequency=7),
    ConstantSparsity(0.3, 4, 40, 3),
    IterativePruning(0.1, 0.35, 2, 9),
])
def test_config_round_trip(schedule):
    clone = type(schedule).from_config(schedule.get_config())
    assert [clone(s) for s in range(120)] == [schedule(s) for s in range(120)]


@pytest.mark.parametrize("make, match", [
    (lambda: ConstantSparsity(1.0), "target_sparsity"),
    (lambda: ConstantSparsity(-0.1), "target_sparsity"),
    (lambda: PolynomialDecay(0.0, 0.5, begin_step=10, end_step=5), "end_step"),
    (lambda: PolynomialDecay(0.0, 0.5, begin_step=0, end_step=-1), "end_step"),
    (lambda: PolynomialDecay(0.6, 0.5, 0, 10), "final_sparsity"),
    (lambda: PolynomialDecay(0.0, 0.5, 0, 10, power=0), "power"),
    (lambda: ConstantSparsity(0.5, frequency=0), "frequency"),
    (lambda: IterativePruning(0.0, 0.5), "step_sparsity"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make, plain", [
    (lambda: ConstantSparsity(np.float32(0.5), begin_step=np.int64(0), end_step=np.int32(50),
                              frequency=np.int64(10)),
     lambda: ConstantSparsity(0.5, begin_step=0, end_step=50, frequency=10)),
    (lambda: PolynomialDecay(np.float64(0.0), np.float32(0.75), np.int64(2), np.int64(40),
                             power=np.int64(3), frequency=np.int16(5)),
     lambda: PolynomialDecay(0.0, 0.75, 2, 40, power=3, frequency=5)),
    (lambda: IterativePruning(np.float32(0.25), np.float32(0.5), np.int64(1), np.int64(7)),
     lambda: IterativePruning(0.25, 0.5, 1, 7)),
])
def test_numpy_scalars_are_accepted_like_python_numbers(make, plain):
    schedule, expected = make(), plain()
    assert [schedule(s) for s in range(60)] == [expected(s) for s in range(60)]
    config = schedule.get_config()
    assert json.loads(json.dumps(config)) == pytest.approx(expected.get_config())


@pytest.mark.parametrize("make, match", [
    (lambda: ConstantSparsity(np.float32(1.5)), r"target_sparsity.*\[0, 1\)"),
    (lambda: ConstantSparsity(0.5, begin_step=np.float64(1.0)), "begin_step.*integer"),
    (lambda: ConstantSparsity(True), "target_sparsity"),
    (lambda: ConstantSparsity("0.5"), "target_sparsity"),
])
def test_non_numbers_and_numpy_values_out_of_range_are_still_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()
