"""Variants for `export_latency.py` beside keras-compress's own exports.

- `keras_int8`: Keras 3 `model.quantize("int8")` of a saved model;
- `onnx_dynamic_int8`: Keras's ONNX export (`model.export(path, format="onnx")`, tf2onnx
  under the TensorFlow backend) quantized by `onnxruntime.quantization.quantize_dynamic`,
  run by onnxruntime;
- `bert_base_pair`: a random BERT-base classifier and a copy with a given compression
  structure (heads and FFN neurons kept per layer) applied through keras-compress layers.

Each builder that can fail on this stack returns the error instead of raising, so the
benchmark records it as a result.
"""

import pathlib
import time
import traceback

import numpy as np

SEQUENCE_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def short_error(error):
    """`Type: message` of an exception, cut to one readable line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:600]}"


def keras_int8(path):
    """Loads `path` and applies `model.quantize("int8")`; `(model, info)`."""
    import keras

    started = time.time()
    model = keras.saving.load_model(path)
    if getattr(model, "preprocessor", None) is not None:
        # quantize() walks every layer and refuses unbuilt ones; a loaded preprocessor's
        # tokenizer is built by its first call (as in any model that has served a text).
        model.preprocessor(["hello"])
    try:
        model.quantize("int8")
    except Exception as error:  # recorded as the result
        traceback.print_exc()
        return None, {"error": short_error(error)}
    return model, {"seconds": round(time.time() - started, 1)}


def onnx_dynamic_int8(model, folder, length, threads, check_inputs):
    """Keras ONNX export of `model` at `(1, length)`, then onnxruntime dynamic int8.

    Returns `(run, info)`: `run(packed) -> logits` on an onnxruntime session with
    `threads` intra-op threads (no spinning, so its idle workers do not take the shared
    cores from the variants timed next to it), or `None` and `info["error"]` naming the
    step that failed. `info` also holds sizes, versions and the max abs difference of the
    float ONNX model and of the int8 one against Keras on `check_inputs` (packed rows).
    """
    import keras
    import tensorflow as tf

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    float_path, int8_path = folder / "control_64.onnx", folder / "control_64_int8.onnx"
    info = {"float_path": str(float_path), "int8_path": str(int8_path)}
    signature = [{name: tf.TensorSpec((1, length), tf.int32, name=name) for name in SEQUENCE_INPUTS}]
    step = "import onnxruntime"
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic

        info["versions"] = {"onnxruntime": onnxruntime.__version__, "keras": keras.__version__}
        try:
            import onnx
            import tf2onnx

            info["versions"].update(onnx=onnx.__version__, tf2onnx=tf2onnx.__version__)
        except ImportError:
            pass
        step = 'model.export(path, format="onnx")'
        started = time.time()
        model.export(str(float_path), format="onnx", verbose=False, input_signature=signature)
        info["export_seconds"] = round(time.time() - started, 1)
        step = "quantize_dynamic"
        started = time.time()
        quantize_dynamic(str(float_path), str(int8_path), weight_type=QuantType.QInt8)
        info["quantize_seconds"] = round(time.time() - started, 1)
        info["float_size_mb"] = float_path.stat().st_size / 1e6
        info["int8_size_mb"] = int8_path.stat().st_size / 1e6
        step = "onnxruntime.InferenceSession"
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sessions = {name: onnxruntime.InferenceSession(str(path), options,
                                                       providers=["CPUExecutionProvider"])
                    for name, path in (("float", float_path), ("int8", int8_path))}
        names = [i.name for i in sessions["int8"].get_inputs()]
        info["input_names"] = names
        step = "parity check"
        reference = _keras_rows(model, check_inputs)
        for name, session in sessions.items():
            outputs = np.concatenate([
                session.run(None, {n: check_inputs[n][i:i + 1] for n in names})[0]
                for i in range(len(check_inputs["token_ids"]))])
            info[f"{name}_max_abs_diff_vs_keras"] = float(np.max(np.abs(outputs - reference)))
            info[f"{name}_label_agreement_vs_keras"] = float(
                np.mean(outputs.argmax(-1) == reference.argmax(-1)))
    except Exception as error:  # recorded as the result
        traceback.print_exc()
        info["error"] = f"{step}: {short_error(error)}"
        return None, info
    session = sessions["int8"]

    def run(packed):
        return session.run(None, {n: packed[n] for n in names})[0]

    return run, info


def _keras_rows(model, packed):
    """Keras outputs for packed rows, one row at a time (as the ONNX export sees them)."""
    rows = []
    for i in range(len(packed["token_ids"])):
        rows.append(np.asarray(model({k: packed[k][i:i + 1] for k in SEQUENCE_INPUTS},
                                     training=False)))
    return np.concatenate(rows)


def kept_structure(model):
    """Per transformer layer: `(fraction of heads kept, fraction of FFN neurons kept)` of a
    model whose attention / FFN layers may be keras-compress layers with masks."""
    from keras import ops

    structure = []
    for layer in model.backbone.transformer_layers:
        attention = layer._self_attention_layer
        intermediate = layer._feedforward_intermediate_dense
        heads = (float(np.mean(ops.convert_to_numpy(attention.head_mask)))
                 if hasattr(attention, "head_mask") else 1.0)
        neurons = (float(np.mean(ops.convert_to_numpy(intermediate.unit_mask)))
                   if hasattr(intermediate, "unit_mask") else 1.0)
        structure.append((heads, neurons))
    return structure


def bert_base_pair(structure, num_classes, seed=0):
    """A random BERT-base `BertTextClassifier` (12 x 768, 12 heads, FFN 3072, no
    preprocessor) and a copy with `structure` applied: BERT-base layer `j` keeps the
    fractions of heads and FFN neurons of `structure[j * len(structure) // 12]` (the
    largest heads by the norm of their output projection, the largest neurons by the norm
    of their input weights), through `PrunableAttention` / `MaskedDense` masks. Returns
    `(uncompressed, compressed (masked, not stripped), kept per layer)`."""
    import keras
    import keras_hub
    from keras import ops

    import keras_compress
    from keras_compress.layers import MaskedDense, PrunableAttention

    def build():
        keras.utils.set_random_seed(seed)
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
            intermediate_dim=3072, max_sequence_length=512)
        return keras_hub.models.BertTextClassifier(backbone, num_classes, preprocessor=None)

    plain = build()
    compressed = build()
    compressed.set_weights(plain.get_weights())
    keras_compress.swap_layers(compressed, {keras.layers.MultiHeadAttention: PrunableAttention,
                                            keras.layers.Dense: MaskedDense})
    kept = []
    layers = compressed.backbone.transformer_layers
    for j, layer in enumerate(layers):
        head_fraction, neuron_fraction = structure[j * len(structure) // len(layers)]
        attention = layer._self_attention_layer
        intermediate = layer._feedforward_intermediate_dense
        num_heads = int(attention.num_heads)
        heads = max(1, int(round(head_fraction * num_heads)))
        output_kernel = ops.convert_to_numpy(attention._output_dense.kernel)  # (heads, dim, hidden)
        head_norms = np.linalg.norm(output_kernel.reshape(num_heads, -1), axis=1)
        head_mask = np.zeros(num_heads, "float32")
        head_mask[np.argsort(-head_norms)[:heads]] = 1.0
        attention.head_mask.assign(head_mask)
        units = int(intermediate.units)
        neurons = max(1, int(round(neuron_fraction * units)))
        neuron_norms = np.linalg.norm(ops.convert_to_numpy(intermediate.kernel), axis=0)
        unit_mask = np.zeros(units, "float32")
        unit_mask[np.argsort(-neuron_norms)[:neurons]] = 1.0
        intermediate.unit_mask.assign(unit_mask)
        kept.append({"heads": heads, "neurons": neurons})
    return plain, compressed, kept
