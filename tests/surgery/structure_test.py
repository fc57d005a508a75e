"""Structure found from the model: FFN pairs through the graph, user pairs, attention warnings."""

import warnings

import keras
import numpy as np
import pytest

import keras_compress
from keras_compress.callbacks import NeuronPruning
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from keras_compress.pruning import ConstantSparsity
from keras_compress.surgery import structure
from tests import families

MAPPING = {
    keras.layers.MultiHeadAttention: PrunableAttention,
    keras.layers.EinsumDense: MaskedEinsumDense,
    keras.layers.Dense: MaskedDense,
}


def swapped(family):
    model, x = families.build(family)
    keras_compress.swap_layers(model, MAPPING)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, x


def prune_and_strip(model, x, **kwargs):
    y = np.arange(len(keras.tree.flatten(x)[0])) % 3
    callback = NeuronPruning(ConstantSparsity(0.5, 0, frequency=100),
                             importance="weight_norm", **kwargs)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    expected = model.predict(x, verbose=0)
    stripped = keras_compress.strip(model)
    np.testing.assert_allclose(stripped.predict(x, verbose=0), expected, atol=1e-5)
    return stripped


def test_user_functional_transformer_ffn_is_found_pruned_and_shrunk():
    model, x = swapped("functional transformer")
    names = [(i.name, o.name) for _, i, o in structure.ffn_pairs(model)]
    assert names == [("ffn_up_0", "ffn_down_0"), ("ffn_up_1", "ffn_down_1")]
    stripped = prune_and_strip(model, x)
    for i in range(2):
        assert stripped.get_layer(f"ffn_up_{i}").kernel.shape == (16, 16)
        assert stripped.get_layer(f"ffn_down_{i}").kernel.shape == (16, 16)


def test_sequential_mlp_neurons_are_pruned_and_shrunk():
    model, x = swapped("Sequential MLP")
    # The classifier head stays a plain Dense (swap_layers' default): only the hidden pair.
    assert len(structure.ffn_pairs(model)) == 1
    stripped = prune_and_strip(model, x)
    assert [layer.kernel.shape for layer in stripped.layers] == [(12, 12), (12, 12), (12, 3)]


def test_chained_pairs_shrink_when_the_head_is_swapped_too():
    model, x = families.build("Sequential MLP")
    keras_compress.swap_layers(model, MAPPING, include_classifier=True)
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert len(structure.ffn_pairs(model)) == 2
    stripped = prune_and_strip(model, x)
    assert [layer.kernel.shape for layer in stripped.layers] == [(12, 12), (12, 6), (6, 3)]


def test_a_layer_read_elsewhere_too_is_not_a_pair():
    inputs = keras.Input((4,))
    up = keras.layers.Dense(8, activation="relu")(inputs)
    both = keras.layers.Concatenate()([keras.layers.Dense(4)(up), up])
    model = keras.Model(inputs, keras.layers.Dense(2)(both))
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    assert structure.ffn_pairs(model) == []


def test_a_sigmoid_intermediate_is_not_a_pair():
    """A pruned sigmoid unit outputs 0.5, not 0: cutting it would change the outputs."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="sigmoid"),
                              keras.layers.Dense(2)])
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense}, include_classifier=True)
    assert structure.ffn_pairs(model) == []


@pytest.mark.parametrize("family", ["DistilBERT", "ALBERT", "DeBERTa-v3", "RoFormer-v2"])
def test_keras_hub_encoders_are_pruned_and_shrunk(family):
    # Every encoder's FFN lives in `call`: found by a traced call, not by attribute names.
    model, x = swapped(family)
    pairs = structure.ffn_pairs(model)
    encoders = [i for _, i, o in pairs if i.name == "feedforward_intermediate_dense"]
    assert len(encoders) == (1 if family == "ALBERT" else 2)  # ALBERT shares one layer
    assert all(o.name == "feedforward_output_dense" for _, i, o in pairs if i in encoders)
    assert not [i for _, i, o in pairs if "attention" in i.path]
    stripped = prune_and_strip(model, x)
    shapes = [layer.kernel.shape for layer in stripped.backbone._flatten_layers()
              if layer.name == "feedforward_intermediate_dense"]
    assert shapes and all(shape[-1] == 16 for shape in shapes)


def _block_model(two_inputs=False, scaled=False):
    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.up = keras.layers.Dense(16, activation="relu", name="up")
            self.down = keras.layers.Dense(6, name="down")

        def build(self, x_shape, gate_shape=None):
            self.up.build(x_shape)
            self.down.build(tuple(x_shape[:-1]) + (16,))

        def call(self, x, gate=None):
            y = self.down(self.up(x) * (0.5 if scaled else 1.0))
            return x + (y if gate is None else y * gate)

    keras.saving.register_keras_serializable(
        package="structure_test", name=f"Block{int(two_inputs)}{int(scaled)}")(Block)
    inputs = keras.Input((6,))
    block = Block(name="block")
    hidden = block(inputs, keras.ops.ones_like(inputs)) if two_inputs else block(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    keras_compress.swap_layers(model, {keras.layers.Dense: MaskedDense})
    model.compile(optimizer="adam", loss="mse")
    return model


def _pruned_strips_and_saves(model, callback, tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    model.fit(x, x[:, :2], verbose=0, callbacks=[callback])
    expected = model.predict(x, verbose=0)
    # The pairs survive saving, so a loaded model strips the same way.
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for source in (model, loaded):
        stripped = keras_compress.strip(source)
        block = stripped.get_layer("block")
        assert block.up.kernel.shape == (6, 8) and block.down.kernel.shape == (8, 6)
        np.testing.assert_allclose(stripped.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.parametrize("two_inputs", [False, True])
def test_a_subclassed_blocks_ffn_is_found_by_tracing_its_call(two_inputs, tmp_path):
    model = _block_model(two_inputs=two_inputs)
    block = model.get_layer("block")
    assert [(p, i, o) for p, i, o in structure.ffn_pairs(model)] == [
        ("block", block.up, block.down)]
    _pruned_strips_and_saves(
        model, NeuronPruning(ConstantSparsity(0.5, 0, frequency=100), importance="weight_norm"),
        tmp_path)


def test_user_pairs_prune_and_shrink_a_block_discovery_cannot_see(tmp_path):
    model = _block_model(scaled=True)  # up's output is scaled before down: not traced
    assert structure.ffn_pairs(model) == []
    x = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    with pytest.raises(ValueError, match="pairs="):
        model.fit(x, x[:, :2], verbose=0,
                  callbacks=[NeuronPruning(ConstantSparsity(0.5, 0), importance="weight_norm")])
    _pruned_strips_and_saves(
        model, NeuronPruning(ConstantSparsity(0.5, 0, frequency=100), importance="weight_norm",
                             pairs=[("block/up", "block/down")]), tmp_path)


def test_user_pairs_are_checked():
    model, _ = swapped("Sequential MLP")
    with pytest.raises(ValueError, match="no layer named or at path 'nope'"):
        structure.resolve_pairs(model, [("nope", "dense_1")])
    with pytest.raises(ValueError, match="'dense_2' reads 12 features, but 'dense' has 24 units"):
        structure.resolve_pairs(model, [("dense", "dense_2")])
    with pytest.raises(TypeError, match="`pairs`"):
        NeuronPruning(ConstantSparsity(0.5, 0), importance="weight_norm", pairs="dense")


@pytest.mark.parametrize("family,layer", [
    ("DeBERTa-v3", "DisentangledSelfAttention"),
    ("RoFormer-v2", "RoformerAttention"),
])
def test_attention_left_unswapped_is_named_once(family, layer):
    model, _ = families.build(family)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras_compress.swap_layers(model, MAPPING)
    messages = [str(w.message) for w in caught if "left unswapped" in str(w.message)]
    assert len(messages) == 1
    assert f"a {layer}, not a keras.layers.MultiHeadAttention" in messages[0]
    assert "transformer_layer_1" in messages[0] or "encoder_layer_1" in messages[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        keras_compress.swap_layers(families.build(family)[0], {keras.layers.Dense: MaskedDense})
    assert not [w for w in caught if "left unswapped" in str(w.message)]


def test_attention_subclass_overriding_call_is_left_with_a_warning():
    class MyAttention(keras.layers.MultiHeadAttention):
        def call(self, query, value, key=None, **kwargs):
            return super().call(query, value, key, **kwargs) * 2.0

    inputs = keras.Input((4, 8))
    hidden = MyAttention(2, 4, name="mine")(inputs, inputs)
    hidden = keras.layers.MultiHeadAttention(2, 4, name="plain")(hidden, hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    with pytest.warns(UserWarning, match=r"'mine' \(a MyAttention that overrides "
                                         r"MultiHeadAttention.call\)"):
        keras_compress.swap_layers(model, {keras.layers.MultiHeadAttention: PrunableAttention})
    assert type(model.get_layer("mine")) is MyAttention
    assert isinstance(model.get_layer("plain"), PrunableAttention)
