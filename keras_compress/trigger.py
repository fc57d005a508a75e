"""`Trigger`: when a one-off compression step starts (a global step or an epoch).

Shared by `QATToggle` and `WeightClustering` (`keras_compress.callbacks.Trigger`).
A trigger holds no state: whether it fired is read again from the optimizer's
global step and the epoch at every batch, so a fit resumed with
`keras.callbacks.BackupAndRestore` fires at the same point as an uninterrupted one.
"""

from keras_compress import checks


class Trigger:
    """Fires from a global step on, or from the first batch of an epoch on.

    Steps are the optimizer's global step (`model.optimizer.iterations`, the
    number of batches trained so far): `Trigger(start_step=100)` fires for the
    101st batch and every one after it. Epochs are 0-based:
    `Trigger(start_epoch=1)` fires from the first batch of the second epoch.

    Args:
        start_step: global step from which it fires; or
        start_epoch: epoch from whose first batch it fires. Give exactly one.

    Example:

    >>> from keras_compress.callbacks import Trigger
    >>> trigger = Trigger(start_step=2)
    >>> [trigger.fires(step=s, epoch=0) for s in range(4)]
    [False, False, True, True]
    >>> Trigger(start_epoch=1).fires(step=5, epoch=1)
    True
    >>> Trigger.from_config(trigger.get_config()) == trigger
    True
    """

    def __init__(self, start_step=None, start_epoch=None, *, owner="Trigger"):
        if (start_step is None) == (start_epoch is None):
            raise ValueError(
                f"{owner}: give exactly one of `start_step` and `start_epoch`; received "
                f"start_step={start_step!r}, start_epoch={start_epoch!r}."
            )
        for name, value in (("start_step", start_step), ("start_epoch", start_epoch)):
            if value is not None and (not checks.is_integer(value) or value < 0):
                raise ValueError(
                    f"{owner}: `{name}` must be None or an integer >= 0; received {value!r}."
                )
        self.start_step = None if start_step is None else int(start_step)
        self.start_epoch = None if start_epoch is None else int(start_epoch)

    @property
    def by_epoch(self):
        """True when the trigger counts epochs, False when it counts global steps."""
        return self.start_epoch is not None

    def fires(self, step, epoch):
        """Whether a batch at global `step` in (0-based) `epoch` is at or after the start."""
        if self.by_epoch:
            return epoch >= self.start_epoch
        return step >= self.start_step

    def first_step(self, steps_per_epoch=None):
        """The global step at which it first fires, or None when that is not known."""
        if not self.by_epoch:
            return self.start_step
        return self.start_epoch * steps_per_epoch if steps_per_epoch else None

    def get_config(self):
        return {"start_step": self.start_step, "start_epoch": self.start_epoch}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Trigger) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((self.start_step, self.start_epoch))

    def __repr__(self):
        if self.by_epoch:
            return f"Trigger(start_epoch={self.start_epoch})"
        return f"Trigger(start_step={self.start_step})"


class Triggered:
    """Mixin for callbacks started by `self.trigger`: reads back its two settings."""

    @property
    def start_step(self):
        """Shortcut for `self.trigger.start_step`."""
        return self.trigger.start_step

    @property
    def start_epoch(self):
        """Shortcut for `self.trigger.start_epoch`."""
        return self.trigger.start_epoch


def resolve(trigger, start_step, start_epoch, owner, default_epoch=None):
    """The `Trigger` a callback was given: `trigger`, or one built from the shortcuts.

    `default_epoch` is used when none of the three is given (None: one is required).
    """
    if trigger is not None:
        if start_step is not None or start_epoch is not None:
            raise ValueError(
                f"{owner}: give either `trigger` or `start_step`/`start_epoch`, not both; "
                f"received trigger={trigger!r}, start_step={start_step!r}, "
                f"start_epoch={start_epoch!r}."
            )
        if not isinstance(trigger, Trigger):
            raise ValueError(
                f"{owner}: `trigger` must be a keras_compress.callbacks.Trigger; "
                f"received {trigger!r}."
            )
        return trigger
    if default_epoch is not None:
        if start_step is not None and start_epoch is not None:
            raise ValueError(
                f"{owner}: give at most one of `start_epoch` and `start_step`; received "
                f"start_epoch={start_epoch!r}, start_step={start_step!r}."
            )
        if start_step is None and start_epoch is None:
            start_epoch = default_epoch
    return Trigger(start_step=start_step, start_epoch=start_epoch, owner=owner)
