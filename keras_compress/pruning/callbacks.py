"""Pruning callbacks for `model.fit`: weights, neurons and attention heads."""

import warnings

import keras
import numpy as np

from keras_compress import checks
from keras_compress.layers import MaskedDense, MaskedEinsumDense
from keras_compress.pruning import importance, magnitude
from keras_compress.pruning.schedules import PruningSchedule
from keras_compress.stats_callback import StatsCallback
from keras_compress.surgery import structure, swap, tree


class _ScheduledPruning(StatsCallback):
    """Calls `self.prune(sparsity)` at the steps the schedule picks, logs `self.stats()`."""

    def __init__(self, schedule):
        super().__init__()
        if not isinstance(schedule, PruningSchedule):
            raise TypeError(
                f"{type(self).__name__}: `schedule` must be a keras_compress.pruning schedule "
                f"(ConstantSparsity, PolynomialDecay, IterativePruning); received {schedule!r}."
            )
        self.schedule = schedule
        self._last_step = None

    def on_train_begin(self, logs=None):
        self.find_targets()

    def on_train_batch_begin(self, batch, logs=None):
        step = self.global_step()
        if step == self._last_step:
            return
        self._last_step = step
        prune_now, sparsity = self.schedule(step)
        if prune_now:
            self.prune(sparsity)

    def find_targets(self):
        raise NotImplementedError

    def prune(self, sparsity):
        raise NotImplementedError

    def _all_finite(self, arrays):
        """False (and one warning per callback) if scores hold NaN or Inf: masks stay as they are."""
        if all(np.all(np.isfinite(a)) for a in arrays):
            return True
        if not getattr(self, "_warned_not_finite", False):
            warnings.warn(
                f"{type(self).__name__}: NaN or Inf in the scores at step {self._last_step}; "
                "this pruning step is skipped and the masks are left unchanged.",
                stacklevel=2,
            )
            self._warned_not_finite = True
        return False


class MagnitudePruning(_ScheduledPruning):
    """Zeroes the smallest-magnitude weights of `MaskedDense`/`MaskedEinsumDense` layers.

    Args:
        schedule: a `keras_compress.pruning` schedule (when, and to which sparsity).
        granularity: `"layer"` (each layer reaches the sparsity) or `"global"`
            (one magnitude threshold across all targeted layers).
        pattern: `None` (unstructured), `"N:M"` such as `"2:4"` (N of every M
            consecutive input weights kept; the schedule's sparsity is then
            ignored, its steps are used), or a block shape `(rows, cols)` such
            as `(1, 4)` or `(4, 4)` (whole tiles pruned).
        include, exclude: regex on the layer path or predicate `(layer, path)`,
            as in `swap_layers`. Only swapped-in masked layers are targeted, so
            embeddings and the classifier (not swapped by default) are left out.

    Logs `sparsity` (fraction of targeted weights that are zero).

    Example:

    >>> import keras, numpy as np, keras_compress
    >>> from keras_compress.layers import MaskedDense
    >>> from keras_compress.pruning import ConstantSparsity
    >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16),
    ...                           keras.layers.Dense(1)])
    >>> _ = keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    >>> model.compile("adam", "mse")
    >>> pruning = keras_compress.callbacks.MagnitudePruning(ConstantSparsity(0.5, 0, frequency=1))
    >>> history = model.fit(np.ones((8, 8)), np.ones((8, 1)), callbacks=[pruning], verbose=0)
    >>> history.history["sparsity"]
    [0.5]
    """

    def __init__(self, schedule, granularity="layer", pattern=None, include=None, exclude=None):
        super().__init__(schedule)
        if granularity not in ("layer", "global"):
            raise ValueError(
                f"MagnitudePruning: `granularity` must be 'layer' or 'global'; "
                f"received {granularity!r}."
            )
        self.granularity = granularity
        self.pattern = magnitude.parse_pattern(pattern)
        if self.pattern and self.pattern[0] == "n:m" and granularity == "global":
            raise ValueError("MagnitudePruning: an N:M pattern is per layer; use granularity='layer'.")
        self.include = swap.scope_predicate(include, "include", type(self).__name__)
        self.exclude = swap.scope_predicate(exclude, "exclude", type(self).__name__)
        self.layers = []

    def find_targets(self):
        self.layers = []
        for path, _, layer in tree.walk(self.model):
            path = "/".join(path)
            if isinstance(layer, (MaskedDense, MaskedEinsumDense)) and swap.in_scope(
                layer, path, self.include, self.exclude
            ):
                self.layers.append((path, layer))
        if not self.layers:
            raise ValueError(
                "MagnitudePruning: the model has no MaskedDense or MaskedEinsumDense layers in "
                "scope; swap them in first with keras_compress.swap_layers."
            )

    def prune(self, sparsity):
        kernels = [keras.ops.convert_to_numpy(layer.kernel) for _, layer in self.layers]
        if not self._all_finite(kernels):
            return
        if self.pattern is None and self.granularity == "global":
            masks = magnitude.global_masks(kernels, sparsity)
        else:
            masks = [self._layer_mask(path, layer, k, sparsity)
                     for (path, layer), k in zip(self.layers, kernels)]
        for (_, layer), mask in zip(self.layers, masks):
            layer.kernel_mask.assign(mask)
            layer.apply_masks()

    def _layer_mask(self, path, layer, kernel, sparsity):
        axes = magnitude.input_axes(layer)
        try:
            if self.pattern is None:
                return magnitude.keep_largest(np.abs(kernel), sparsity)
            if self.pattern[0] == "n:m":
                return magnitude.n_m_mask(kernel, self.pattern[1], self.pattern[2], axes)
            return magnitude.block_mask(kernel, sparsity, self.pattern[1:], axes)
        except ValueError as error:
            raise ValueError(f"MagnitudePruning: layer '{path}': {error}") from error

    def stats(self):
        zeros = total = 0
        for _, layer in self.layers:
            kernel = keras.ops.convert_to_numpy(layer.kernel_mask)
            if isinstance(layer, MaskedDense):
                kernel = kernel * keras.ops.convert_to_numpy(layer.unit_mask)
            zeros += int(np.sum(kernel == 0))
            total += kernel.size
        return {"sparsity": zeros / total if total else 0.0}


class NeuronPruning(_ScheduledPruning):
    """Removes whole FFN intermediate neurons (output units) of transformer layers.

    At each step the schedule picks, the lowest-scoring neurons among those
    still kept are masked (`MaskedDense.unit_mask`) until the schedule's
    sparsity (fraction of neurons removed) is reached; training in between
    lets the model recover. `keras_compress.strip` then cuts the removed
    units out of the intermediate kernel and the matching input rows out of
    the next (output) layer.

    Args:
        schedule: a `keras_compress.pruning` schedule.
        data: batches to score neurons on (`tf.data.Dataset`, iterable of
            batches, or one `(x, y)` tuple); needed for `importance="taylor"`.
        importance: `"taylor"` (|activation x gradient| averaged over `data`,
            Molchanov et al. 2016) or `"weight_norm"` (L2 norm of the unit's
            weights; no data needed).
        granularity: `"layer"` (every FFN block loses the same fraction) or
            `"global"` (scores normalised per layer, ranked together).
        num_batches: batches of `data` used per scoring.
        min_neurons: neurons kept at least in every layer.
        pairs: FFN pairs that discovery cannot see, as `[(intermediate,
            output), ...]` (layers, layer names or paths; the intermediate a
            `MaskedDense`, the output the `Dense`/`MaskedDense` reading its
            units through an element-wise activation only). Pairs are found
            without it in functional and Sequential models (through the
            graph) and in keras-hub's `TransformerEncoder`; give them for
            subclassed models. They are recorded on the model, so that
            `strip` shrinks them too and `.keras` saving keeps them.

    Logs `neurons_kept` (count over all targeted layers).
    """

    def __init__(self, schedule, data=None, importance="taylor", granularity="layer",
                 num_batches=8, min_neurons=1, pairs=None):
        super().__init__(schedule)
        if pairs is not None and (isinstance(pairs, (str, bytes, dict))
                                  or not hasattr(pairs, "__iter__")):
            raise TypeError(
                "NeuronPruning: `pairs` must be a list of (intermediate, output) layers, "
                f"names or paths; received {type(pairs).__name__}."
            )
        if importance not in ("taylor", "weight_norm"):
            raise ValueError(
                f"NeuronPruning: `importance` must be 'taylor' or 'weight_norm'; received {importance!r}."
            )
        if importance == "taylor" and data is None:
            raise ValueError("NeuronPruning: importance='taylor' needs `data` to score neurons on.")
        if granularity not in ("layer", "global"):
            raise ValueError(
                f"NeuronPruning: `granularity` must be 'layer' or 'global'; received {granularity!r}."
            )
        if not checks.is_integer(min_neurons) or min_neurons < 1:
            raise ValueError(f"NeuronPruning: `min_neurons` must be an integer >= 1; received {min_neurons!r}.")
        self.data = importance_data("NeuronPruning", data, required=False)
        self.importance = importance
        self.granularity = granularity
        self.num_batches = batch_count("NeuronPruning", num_batches)
        self.min_neurons = int(min_neurons)
        self.pairs = None if pairs is None else list(pairs)
        self.layers = []

    def find_targets(self):
        if self.pairs:
            try:
                structure.declare_pairs(self.model, self.pairs)
            except (TypeError, ValueError) as error:
                raise type(error)(f"NeuronPruning: {error}") from error
        pairs = structure.ffn_pairs(self.model)
        self.layers = [intermediate for _, intermediate, _ in pairs]
        if not self.layers:
            raise ValueError(
                "NeuronPruning: no feed-forward pair found (a MaskedDense whose units feed one "
                "Dense through an element-wise activation mapping 0 to 0); swap "
                "keras.layers.Dense for MaskedDense first, or name the pairs with "
                "NeuronPruning(pairs=[(intermediate, output), ...])."
            )
        check_minimum("NeuronPruning", "min_neurons", self.min_neurons, "neurons",
                      [(path, layer.unit_mask.shape[0]) for path, layer, _ in pairs])

    def scores(self):
        if self.importance == "taylor":
            scores = importance.neuron_scores(self.model, self.layers, self.data, self.num_batches)
            return importance.replica_mean(self.model, scores)
        return importance.neuron_scores(self.model, self.layers)

    def prune(self, sparsity):
        masks = [keras.ops.convert_to_numpy(layer.unit_mask) for layer in self.layers]
        scores = self.scores()
        if not self._all_finite(scores):
            return
        new_masks = importance.rank_and_mask(scores, masks, sparsity, self.granularity, self.min_neurons)
        for layer, mask in zip(self.layers, new_masks):
            layer.unit_mask.assign(mask)
            layer.apply_masks()

    def stats(self):
        kept = sum(int(np.sum(keras.ops.convert_to_numpy(layer.unit_mask) != 0)) for layer in self.layers)
        return {"neurons_kept": kept}


class HeadPruning(_ScheduledPruning):
    """Removes attention heads of `PrunableAttention` layers, least important first.

    Head importance is `|dLoss/d head_mask|` accumulated over `data` (Michel
    et al. 2019), normalised per layer (L2) and ranked globally across
    layers. Heads once removed stay removed; each layer keeps at least
    `min_heads` heads. The schedule's sparsity is the fraction of all heads
    removed.

    Args:
        schedule: a `keras_compress.pruning` schedule.
        data: batches to score heads on (`tf.data.Dataset`, iterable of
            batches, or one `(x, y)` tuple).
        num_batches: batches of `data` used per scoring.
        min_heads: heads kept at least in every layer (0 allows removing
            whole attention blocks in the masked model, which `strip` refuses).

    Logs `heads_kept` (count over all layers).
    """

    def __init__(self, schedule, data, num_batches=8, min_heads=1):
        super().__init__(schedule)
        if data is None:
            raise ValueError("HeadPruning: `data` is required to score heads.")
        if not checks.is_integer(min_heads) or min_heads < 0:
            raise ValueError(f"HeadPruning: `min_heads` must be an integer >= 0; received {min_heads!r}.")
        self.data = importance_data("HeadPruning", data)
        self.num_batches = batch_count("HeadPruning", num_batches)
        self.min_heads = int(min_heads)
        self.layers = []

    def find_targets(self):
        found = structure.attention_layers(self.model)
        self.layers = [layer for _, layer in found]
        if not self.layers:
            raise ValueError(
                "HeadPruning: the model has no PrunableAttention layers; swap "
                "keras.layers.MultiHeadAttention for PrunableAttention first."
            )
        check_minimum("HeadPruning", "min_heads", self.min_heads, "heads",
                      [(path, layer.num_heads) for path, layer in found])

    def prune(self, sparsity):
        masks = [keras.ops.convert_to_numpy(layer.head_mask) for layer in self.layers]
        scores = importance.replica_mean(self.model, importance.head_scores(
            self.model, self.layers, self.data, self.num_batches
        ))
        if not self._all_finite(scores):
            return
        new_masks = importance.rank_and_mask(scores, masks, sparsity, "global", self.min_heads)
        for layer, mask in zip(self.layers, new_masks):
            layer.head_mask.assign(mask)

    def stats(self):
        kept = sum(int(np.sum(keras.ops.convert_to_numpy(layer.head_mask) != 0)) for layer in self.layers)
        return {"heads_kept": kept}


def importance_data(owner, data, required=True):
    """`data` for gradient scoring, refused at once when it cannot hold `(x, y)` batches."""
    allowed = ("an (x, y) or (x, y, sample_weight) tuple, a tf.data.Dataset of such batches, "
               "or an iterable of such batches")
    if data is None and not required:
        return None
    if data is None or isinstance(data, (dict, str, bytes)) or (
        isinstance(data, tuple) and (len(data) not in (2, 3) or data[1] is None)
    ):
        what = "inputs without labels" if isinstance(data, (dict, tuple)) else "no batches"
        raise ValueError(
            f"{owner}: `data` must be {allowed}: the scores are gradients of the loss, which "
            f"needs labels; received {type(data).__name__} ({what})."
        )
    return data


def batch_count(owner, num_batches):
    """`num_batches` as an int >= 1, or None (all of `data`)."""
    if num_batches is not None and (not checks.is_integer(num_batches) or num_batches < 1):
        raise ValueError(
            f"{owner}: `num_batches` must be an integer >= 1 or None (all of `data`); "
            f"received {num_batches!r}."
        )
    return None if num_batches is None else int(num_batches)


def check_minimum(owner, argument, minimum, units, sizes):
    """Refuses a `minimum` of kept units larger than a layer has: nothing could be pruned."""
    small = [(path, size) for path, size in sizes if size < minimum]
    if small:
        path, size = small[0]
        raise ValueError(
            f"{owner}: `{argument}`={minimum} is more than layer '{path}' has ({size} {units}"
            f"{f', and {len(small) - 1} more layers' if len(small) > 1 else ''}); nothing "
            f"could be pruned. Use at most {min(s for _, s in sizes)}."
        )
