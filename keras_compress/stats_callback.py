"""`StatsCallback`: what the compression callbacks share: the global step and logged stats."""

import keras


class StatsCallback(keras.callbacks.Callback):
    """A callback that adds `self.stats()` to the logs after every batch and epoch.

    So the values show in the progress bar and in `History`. Subclasses
    define `stats()` (a dict of floats) and read the optimizer's global step
    with `global_step()`.
    """

    def stats(self):
        raise NotImplementedError

    def global_step(self):
        """The optimizer's step count: the number of batches trained so far."""
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs.update(self.stats())

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.stats())
