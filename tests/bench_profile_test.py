"""keras_compress.bench.profile_ops and `keras-compress profile`: per-op times of a .tflite."""

import collections
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_compress.bench import profile as profile_module
from keras_compress.bench import profile_ops
from keras_compress.cli import main
from keras_compress.export.graph import op_counts
from tests.bench_test import tiny_export  # noqa: F401 (a fixture)


def two_op_model(rows=4, width=64):
    """relu(x @ W): one FULLY_CONNECTED, one RELU (the converter fuses less with a tanh)."""
    weights = np.random.default_rng(0).standard_normal((width, width)).astype("float32")
    fn = tf.function(lambda x: tf.tanh(tf.matmul(x, weights)),
                     input_signature=[tf.TensorSpec([rows, width])])
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()]).convert()


def test_every_op_of_every_signature_is_timed(tiny_export):  # noqa: F811
    _, path = tiny_export
    profiles = profile_ops(path, rounds=2, number=3)
    assert sorted(profiles) == ["seq_32", "seq_8"]
    counted = collections.Counter()
    for key, profile in profiles.items():
        assert profile.signature == key and profile.num_threads == 1
        assert [op.index for op in profile.ops] == list(range(len(profile.ops)))
        assert all(op.ms >= 0 for op in profile.ops)
        assert profile.whole_ms > profile.overhead_ms > 0
        counted.update(op.op for op in profile.ops)
        rows = profile.by_op()
        assert sum(row["count"] for row in rows) == len(profile.ops)
        assert [row["ms"] for row in rows] == sorted((row["ms"] for row in rows), reverse=True)
    expected = collections.Counter()
    for (name, _), count in op_counts(path.read_bytes()).items():
        expected[name] += count
    assert counted == expected


def test_one_op_models_are_the_real_ops_on_their_real_shapes():
    content = two_op_model(rows=4, width=64)
    graph = profile_module.flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    subgraph = graph.subgraphs[0]
    names = [profile_module._op_name(graph, op) for op in subgraph.operators]
    assert names == ["FULLY_CONNECTED", "TANH"]
    for index in range(len(names)):
        single = profile_module._one_op_model(graph, subgraph, index)
        interpreter = profile_module.litert.Interpreter(model_content=single)
        interpreter.allocate_tensors()
        inputs = interpreter.get_input_details()
        assert [tuple(d["shape"]) for d in inputs] == [(4, 64)]  # the constant weights stay inside
        x = np.random.default_rng(1).standard_normal((4, 64)).astype("float32")
        interpreter.set_tensor(inputs[0]["index"], x)
        interpreter.invoke()
        out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert out.shape == (4, 64)
        if names[index] == "TANH":
            np.testing.assert_allclose(out, np.tanh(x), rtol=1e-5, atol=1e-6)


def test_a_bigger_matmul_takes_longer_and_the_sum_is_near_the_whole():
    small = profile_ops(two_op_model(rows=1, width=32), rounds=5, number=20)
    big = profile_ops(two_op_model(rows=64, width=512), rounds=5, number=20)
    small_fc = next(iter(small.values())).ops[0]
    (big_profile,) = big.values()
    big_fc = big_profile.ops[0]
    assert big_fc.op == small_fc.op == "FULLY_CONNECTED"
    assert big_fc.ms > 10 * small_fc.ms  # 16,384x the multiply-adds
    whole_net = big_profile.whole_ms - big_profile.overhead_ms
    assert 0.3 * whole_net < big_profile.total_ms < 3 * whole_net
    table = big_profile.table()
    assert "FULLY_CONNECTED" in table and "whole signature, measured" in table
    assert json.loads(json.dumps(big_profile.to_dict()))["by_op"][0]["op"] == "FULLY_CONNECTED"


@pytest.mark.parametrize("kwargs, fragment", [
    ({"signatures": ["seq_99"]}, "`signatures` ['seq_99'] are not in the model"),
    ({"rounds": 0}, "`rounds` must be an int >= 1"),
    ({"num_threads": 1.5}, "`num_threads` must be an int >= 1"),
])
def test_bad_arguments_are_named_before_any_timing(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        profile_ops(two_op_model(), **kwargs)


def test_a_path_that_is_not_a_model_is_named(tmp_path):
    with pytest.raises(ValueError, match="`model` must be a .tflite path or its bytes"):
        profile_ops(tmp_path / "missing.tflite")


def test_the_cli_prints_a_table_per_bucket_and_writes_json_once(tiny_export, tmp_path, capsys):  # noqa: F811
    _, path = tiny_export
    out = tmp_path / "profile.json"
    code = main(["profile", str(path), "--lengths", "8", "--top", "3", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "seq_8:" in printed and "seq_32:" not in printed and "whole signature, measured" in printed
    assert sorted(json.loads(out.read_text())) == ["seq_8"]
    before = out.read_text()
    assert main(["profile", str(path), "--json", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_text() == before
    assert main(["profile", str(path), "--lengths", "12"]) == 1
    assert "seq_12" in capsys.readouterr().err
