"""Pruning schedules: at which steps to prune, and to what sparsity.

Steps are optimizer steps (`model.optimizer.iterations`), as in TF Model
Optimization, so tfmot users can carry their schedules over.
"""

import math

import keras

from keras_compress import checks


class PruningSchedule:
    """Base class. `schedule(step)` returns `(prune_now, target_sparsity)`."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def end_step(self):
        """The last step at which the schedule prunes (-1: never stops)."""
        raise NotImplementedError


def _check_sparsity(name, value, allow_zero=True):
    if not checks.is_number(value) or not (0.0 <= value < 1.0):
        raise ValueError(f"`{name}` must be a number in [0, 1); received {value!r}.")
    if not allow_zero and value == 0.0:
        raise ValueError(f"`{name}` must be > 0; received {value!r}.")


def _check_steps(begin_step, end_step, frequency, end_required=False):
    for name, value in (("begin_step", begin_step), ("frequency", frequency)):
        if not checks.is_integer(value) or value < (1 if name == "frequency" else 0):
            raise ValueError(f"`{name}` must be an integer >= {1 if name == 'frequency' else 0}; "
                             f"received {value!r}.")
    if not checks.is_integer(end_step) or (end_step != -1 and end_step < begin_step) or (
        end_required and end_step == -1
    ):
        raise ValueError(
            f"`end_step` must be an integer >= begin_step ({begin_step})"
            + ("" if end_required else " or -1 (no end)")
            + f"; received {end_step!r}."
        )


def _on_turn(step, begin_step, end_step, frequency):
    """Pruning steps: begin_step, every `frequency` steps after it, and end_step."""
    if step < begin_step or (end_step != -1 and step > end_step):
        return False
    return (step - begin_step) % frequency == 0 or step == end_step


@keras.saving.register_keras_serializable(package="keras_compress")
class ConstantSparsity(PruningSchedule):
    """Prunes to `target_sparsity` at `begin_step` and every `frequency` steps until `end_step`.

    >>> schedule = ConstantSparsity(0.5, begin_step=10, frequency=5)
    >>> schedule(10), schedule(12), schedule(15)
    ((True, 0.5), (False, 0.5), (True, 0.5))
    """

    def __init__(self, target_sparsity, begin_step=0, end_step=-1, frequency=100):
        _check_sparsity("target_sparsity", target_sparsity)
        _check_steps(begin_step, end_step, frequency)
        self.target_sparsity = float(target_sparsity)
        self.begin_step = int(begin_step)
        self._end_step = int(end_step)
        self.frequency = int(frequency)

    @property
    def end_step(self):
        return self._end_step

    def __call__(self, step):
        return _on_turn(step, self.begin_step, self._end_step, self.frequency), self.target_sparsity

    def get_config(self):
        return {
            "target_sparsity": self.target_sparsity,
            "begin_step": self.begin_step,
            "end_step": self._end_step,
            "frequency": self.frequency,
        }


@keras.saving.register_keras_serializable(package="keras_compress")
class PolynomialDecay(PruningSchedule):
    """Sparsity rises from `initial_sparsity` to `final_sparsity` over [begin_step, end_step].

    `s(t) = final + (initial - final) * (1 - (t - begin) / (end - begin)) ** power`
    (Zhu & Gupta 2017, as in TF Model Optimization). Pruning happens every
    `frequency` steps from `begin_step`, and at `end_step`, where the sparsity
    reaches `final_sparsity` exactly.

    >>> schedule = PolynomialDecay(0.0, 0.8, begin_step=0, end_step=100, power=3, frequency=10)
    >>> schedule(0), schedule(100)
    ((True, 0.0), (True, 0.8))
    >>> round(schedule(50)[1], 4)
    0.7
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3,
                 frequency=100):
        _check_sparsity("initial_sparsity", initial_sparsity)
        _check_sparsity("final_sparsity", final_sparsity)
        _check_steps(begin_step, end_step, frequency, end_required=True)
        if final_sparsity < initial_sparsity:
            raise ValueError(
                f"`final_sparsity` ({final_sparsity}) must be >= `initial_sparsity` "
                f"({initial_sparsity})."
            )
        if not checks.is_number(power) or power <= 0:
            raise ValueError(f"`power` must be a positive number; received {power!r}.")
        self.initial_sparsity = float(initial_sparsity)
        self.final_sparsity = float(final_sparsity)
        self.begin_step = int(begin_step)
        self._end_step = int(end_step)
        self.power = float(power)
        self.frequency = int(frequency)

    @property
    def end_step(self):
        return self._end_step

    def sparsity(self, step):
        span = max(self._end_step - self.begin_step, 1)
        progress = min(max((step - self.begin_step) / span, 0.0), 1.0)
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (
            1.0 - progress
        ) ** self.power

    def __call__(self, step):
        return _on_turn(step, self.begin_step, self._end_step, self.frequency), self.sparsity(step)

    def get_config(self):
        return {
            "initial_sparsity": self.initial_sparsity,
            "final_sparsity": self.final_sparsity,
            "begin_step": self.begin_step,
            "end_step": self._end_step,
            "power": self.power,
            "frequency": self.frequency,
        }


@keras.saving.register_keras_serializable(package="keras_compress")
class IterativePruning(PruningSchedule):
    """Prunes `step_sparsity` more every `frequency` steps, recovering in between.

    Sparsity after the k-th pruning step (k = 1, 2, ...) is
    `min(k * step_sparsity, final_sparsity)`; the steps in between are the
    fine-tuning ("recovery") the model gets before the next cut. To count in
    epochs, pass `frequency=steps_per_epoch`.

    >>> schedule = IterativePruning(0.2, final_sparsity=0.5, begin_step=0, frequency=100)
    >>> [schedule(s) for s in (0, 100, 200, 300)]
    [(True, 0.2), (True, 0.4), (True, 0.5), (False, 0.5)]
    """

    def __init__(self, step_sparsity, final_sparsity, begin_step=0, frequency=100):
        _check_sparsity("step_sparsity", step_sparsity, allow_zero=False)
        _check_sparsity("final_sparsity", final_sparsity, allow_zero=False)
        _check_steps(begin_step, -1, frequency)
        self.step_sparsity = float(step_sparsity)
        self.final_sparsity = float(final_sparsity)
        self.begin_step = int(begin_step)
        self.frequency = int(frequency)

    @property
    def num_cuts(self):
        # round() first: 0.6 / 0.2 is 2.9999999999999996 in floating point.
        return math.ceil(round(self.final_sparsity / self.step_sparsity, 9))

    @property
    def end_step(self):
        return self.begin_step + (self.num_cuts - 1) * self.frequency

    def sparsity(self, step):
        if step < self.begin_step:
            return 0.0
        cuts = (step - self.begin_step) // self.frequency + 1
        return min(cuts * self.step_sparsity, self.final_sparsity)

    def __call__(self, step):
        prune = _on_turn(step, self.begin_step, self.end_step, self.frequency)
        return prune, self.sparsity(step)

    def get_config(self):
        return {
            "step_sparsity": self.step_sparsity,
            "final_sparsity": self.final_sparsity,
            "begin_step": self.begin_step,
            "frequency": self.frequency,
        }
