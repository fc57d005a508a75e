import keras
import numpy as np

import keras_compress
from keras_compress.layers import KMeansDense, MaskedDense, MaskedEinsumDense, PrunableAttention


def test_summary_reports_sparsity_neurons_heads_and_clusters(bert_classifier):
    keras_compress.swap_layers(
        bert_classifier,
        {
            keras.layers.MultiHeadAttention: PrunableAttention,
            keras.layers.EinsumDense: MaskedEinsumDense,
            keras.layers.Dense: MaskedDense,
        },
    )
    encoder = bert_classifier.backbone.transformer_layers[0]
    encoder._self_attention_layer.head_mask.assign([0.0, 1.0])
    ffn = encoder._feedforward_intermediate_dense
    ffn.unit_mask.assign(np.r_[np.ones(8), np.zeros(24)].astype("float32"))
    keras_compress.swap_layers(
        bert_classifier,
        {MaskedDense: lambda layer: KMeansDense.from_layer(layer, n_clusters=4)},
        include="pooled_dense",
    )
    lines = []
    rows = keras_compress.summary(bert_classifier, print_fn=lines.append)
    by_layer = {row["layer"]: row for row in rows}
    prefix = "bert_backbone/transformer_layer_0/"
    assert by_layer[prefix + "self_attention_layer"]["heads"] == "1/2"
    assert by_layer[prefix + "feedforward_intermediate_dense"]["neurons"] == "8/32"
    assert by_layer[prefix + "feedforward_intermediate_dense"]["sparsity"] == "75.0%"
    assert by_layer[prefix + "feedforward_output_dense"]["sparsity"] == "0.0%"
    assert by_layer["bert_backbone/pooled_dense"]["clusters/bits"] == "4"
    # 4 centroids, 16 x 16 assignments, 16 biases; masks are not counted.
    assert by_layer["bert_backbone/pooled_dense"]["params"] == 4 + 16 * 16 + 16
    assert by_layer[prefix + "feedforward_output_dense"]["params"] == 32 * 16 + 16
    text = "\n".join(lines)
    assert "PrunableAttention" in text and "total params" in text


def test_summary_of_an_uncompressed_model_is_empty():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    lines = []
    assert keras_compress.summary(model, print_fn=lines.append) == []
    assert "0 compression layers" in lines[-1]
