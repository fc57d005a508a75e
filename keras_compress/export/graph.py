"""What is inside a `.tflite` file: its ops and the types they compute in."""

import collections
import re

from ai_edge_litert import schema_py_generated as schema

_OP_NAMES = {
    value: name for name, value in vars(schema.BuiltinOperator).items() if name.isupper()
}
_TYPE_NAMES = {value: name for name, value in vars(schema.TensorType).items() if name.isupper()}

def op_name(builtin_code, deprecated_builtin_code=0):
    """The builtin op's name (`"FULLY_CONNECTED"`) from an operator code's two code fields.

    >>> op_name(schema.BuiltinOperator.FULLY_CONNECTED)
    'FULLY_CONNECTED'
    """
    builtin = max(builtin_code, deprecated_builtin_code)
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


# Ops that move data between float and int8 rather than compute in float.
_BOUNDARY_OPS = {"QUANTIZE", "DEQUANTIZE", "CAST"}


def op_counts(model_content):
    """Counts ops by `(op name, type of their first non-int32 input)` over all signatures.

    Example:

    >>> import tensorflow as tf
    >>> fn = tf.function(lambda x: tf.nn.relu(x), input_signature=[tf.TensorSpec([2])])
    >>> content = tf.lite.TFLiteConverter.from_concrete_functions(
    ...     [fn.get_concrete_function()]).convert()
    >>> dict(op_counts(content))
    {('RELU', 'FLOAT32'): 1}
    """
    return collections.Counter((name, type_name) for name, type_name, _ in _ops(model_content))


def float_ops(model_content):
    """`{op name: {"count", "layers"}}` of ops computing in float32 (conversions excluded).

    In a full-integer model these are the ops the converter could not
    quantize and left in float; `layers` names the Keras layers they come
    from (e.g. `feedforward_layer_norm`, without layer indices).
    """
    found = {}
    for name, type_name, output_name in _ops(model_content):
        if type_name != "FLOAT32" or name in _BOUNDARY_OPS:
            continue
        entry = found.setdefault(name, {"count": 0, "layers": set()})
        entry["count"] += 1
        parts = output_name.split("/")
        if len(parts) > 1:
            entry["layers"].add(re.sub(r"_\d+$", "", parts[-2]))
    return {
        name: {"count": entry["count"], "layers": sorted(entry["layers"])}
        for name, entry in sorted(found.items())
    }


def describe_float_ops(found):
    """`"NEG x5 (layer_norm, ...)"` for the output of `float_ops`."""
    return ", ".join(
        f"{name} x{entry['count']}" + (f" ({', '.join(entry['layers'])})" if entry["layers"] else "")
        for name, entry in found.items()
    )


def _ops(model_content):
    """`(op name, compute type, output tensor name)` for every op of every signature."""
    model = schema.Model.GetRootAs(bytearray(model_content), 0)
    codes = []
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        codes.append(op_name(code.BuiltinCode(), code.DeprecatedBuiltinCode()))
    for subgraph_index in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(subgraph_index)
        for op_index in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(op_index)
            types = [
                subgraph.Tensors(op.Inputs(i)).Type()
                for i in range(op.InputsLength())
                if op.Inputs(i) >= 0
            ]
            data_types = [t for t in types if t != schema.TensorType.INT32] or types
            type_name = _TYPE_NAMES.get(data_types[0], "?") if data_types else "NONE"
            output = op.Outputs(0) if op.OutputsLength() else -1
            output_name = subgraph.Tensors(output).Name().decode() if output >= 0 else ""
            yield codes[op.OpcodeIndex()], type_name, output_name
