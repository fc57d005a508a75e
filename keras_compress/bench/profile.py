"""`profile_ops`: where the time of a `.tflite` signature goes, op by op.

The Python LiteRT interpreter has no per-op profiler (the C++ `benchmark_model`
tool's `--enable_op_profiling` is not in the pip wheel), so this builds the
equivalent: every op of a signature is cut out into a one-op model (its constant
inputs kept, its other inputs fed with fixed data of their real shape and type),
and all one-op models are timed interleaved, round by round, so load from other
jobs falls on all of them alike. An op's time is its median invoke minus the
median invoke of an empty model (the interpreter's fixed cost per call). The sum
over ops is printed beside the whole signature's own median so that the
estimate can be judged: ops run alone lose the cache reuse of a real run, and
gain nothing from it.
"""

import copy
import dataclasses
import gc
import time

import numpy as np
from ai_edge_litert import interpreter as litert
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from keras_compress import checks
from keras_compress.bench.table import format_table
from keras_compress.export.graph import op_name


@dataclasses.dataclass(frozen=True)
class OpTime:
    """One op of a signature: its place, builtin name, output tensor and net median time."""

    index: int
    op: str
    output: str
    ms: float


@dataclasses.dataclass
class OpProfile:
    """The ops of one signature with their times, the whole signature's time and the fixed cost.

    `whole_ms` is the median invoke of the signature itself; `overhead_ms` the median invoke
    of an empty model, already taken off every op's time.
    """

    signature: str
    ops: list
    whole_ms: float
    overhead_ms: float
    num_threads: int

    @property
    def total_ms(self):
        """The sum of the ops' net times (compare with `whole_ms - overhead_ms`)."""
        return float(sum(op.ms for op in self.ops))

    def by_op(self):
        """Rows `{op, count, ms, share}` per builtin op, the most expensive first."""
        groups = {}
        for op in self.ops:
            count, ms = groups.get(op.op, (0, 0.0))
            groups[op.op] = (count + 1, ms + op.ms)
        total = self.total_ms or 1.0
        rows = [{"op": name, "count": count, "ms": round(ms, 4), "share": f"{100 * ms / total:.1f}%"}
                for name, (count, ms) in groups.items()]
        return sorted(rows, key=lambda row: -row["ms"])

    def table(self, top=None):
        """A markdown table of `by_op()` (first `top` rows), with totals in a last row."""
        rows = self.by_op()[:top] if top else self.by_op()
        rows.append({"op": "all ops (sum)", "count": len(self.ops), "ms": round(self.total_ms, 4),
                     "share": "100.0%"})
        rows.append({"op": "whole signature, measured", "count": "",
                     "ms": round(self.whole_ms - self.overhead_ms, 4), "share": ""})
        return format_table(rows)

    def to_dict(self):
        """JSON-ready: the summary per op type and every op."""
        return {"signature": self.signature, "num_threads": self.num_threads,
                "whole_ms": self.whole_ms, "overhead_ms": self.overhead_ms,
                "total_ms": self.total_ms, "by_op": self.by_op(),
                "ops": [dataclasses.asdict(op) for op in self.ops]}


def profile_ops(model, signatures=None, *, num_threads=1, rounds=7, number=30):
    """Per-op times of the signatures of a `.tflite` model (see the module docstring).

    Args:
        model: a `.tflite` path or its bytes.
        signatures: signature keys to profile (e.g. `["seq_16"]`); all by default.
        num_threads: interpreter threads, as when serving (int >= 1).
        rounds: interleaved timing rounds; an op's time is its median over rounds (int >= 1).
        number: invokes per op and round, averaged (int >= 1).

    Returns:
        `{signature: OpProfile}`.

    Example:

    >>> import tensorflow as tf
    >>> fn = tf.function(lambda x: tf.nn.relu(tf.matmul(x, tf.ones((8, 8)))),
    ...                  input_signature=[tf.TensorSpec([1, 8])])
    >>> content = tf.lite.TFLiteConverter.from_concrete_functions(
    ...     [fn.get_concrete_function()]).convert()
    >>> profile = profile_ops(content, rounds=1, number=2)
    >>> [(op.op, op.index) for op in next(iter(profile.values())).ops]
    [('FULLY_CONNECTED', 0)]
    """
    content = _read(model)
    _check_counts(num_threads=num_threads, rounds=rounds, number=number)
    graph = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    keys = _signature_subgraphs(graph)
    wanted = list(keys) if signatures is None else list(signatures)
    unknown = [key for key in wanted if key not in keys]
    if unknown:
        raise ValueError(f"profile_ops: `signatures` {unknown} are not in the model; it has {sorted(keys)}.")
    return {key: _profile_subgraph(content, graph, key, keys[key], num_threads, rounds, number)
            for key in wanted}


def _profile_subgraph(content, graph, key, subgraph_index, num_threads, rounds, number):
    subgraph = graph.subgraphs[subgraph_index]
    whole = _whole_signature(content, key, num_threads)
    calls = {"empty": _interpreter(_one_op_model(graph, subgraph, None), num_threads)}
    for index, _ in enumerate(subgraph.operators):
        calls[index] = _interpreter(_one_op_model(graph, subgraph, index), num_threads)
    calls["whole"] = whole
    medians = _interleaved_medians(calls, rounds, number)
    overhead = medians.pop("empty")
    whole_ms = medians.pop("whole")
    ops = []
    for index, op in enumerate(subgraph.operators):
        outputs = [subgraph.tensors[i].name.decode() for i in op.outputs if i >= 0]
        ops.append(OpTime(index, _op_name(graph, op), outputs[0] if outputs else "",
                          max(0.0, medians[index] - overhead)))
    return OpProfile(key, ops, whole_ms, overhead, num_threads)


def _interleaved_medians(calls, rounds, number):
    """`{name: median ms per invoke}`, every round timing all calls in turn."""
    samples = {name: [] for name in calls}
    for invoke in calls.values():
        invoke()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, invoke in calls.items():
                begin = time.perf_counter()
                for _ in range(number):
                    invoke()
                samples[name].append(1e3 * (time.perf_counter() - begin) / number)
    finally:
        if enabled:
            gc.enable()
    return {name: float(np.median(values)) for name, values in samples.items()}


def _one_op_model(graph, subgraph, index):
    """The bytes of a model holding op `index` of `subgraph` alone (`None`: no op at all)."""
    model = flatbuffer_utils.schema_fb.ModelT()
    model.version, model.operatorCodes, model.description = graph.version, graph.operatorCodes, b"one op"
    model.buffers = [flatbuffer_utils.schema_fb.BufferT()]
    single = flatbuffer_utils.schema_fb.SubGraphT()
    single.tensors, single.inputs, single.outputs, single.operators = [], [], [], []
    renumbered = {}

    def tensor(i, as_input):
        if i < 0:
            return i
        if i not in renumbered:
            copied = copy.copy(subgraph.tensors[i])
            data = graph.buffers[copied.buffer].data if copied.buffer else None
            if data is not None and len(data) and as_input:
                model.buffers.append(graph.buffers[copied.buffer])
                copied.buffer = len(model.buffers) - 1
            else:
                copied.buffer = 0
                if as_input:
                    single.inputs.append(len(single.tensors))
            renumbered[i] = len(single.tensors)
            single.tensors.append(copied)
        return renumbered[i]

    if index is None:
        first = subgraph.inputs[0]
        single.inputs = single.outputs = [tensor(first, as_input=False)]
    else:
        op = copy.copy(subgraph.operators[index])
        op.inputs = [tensor(i, as_input=True) for i in op.inputs]
        op.outputs = [tensor(i, as_input=False) for i in op.outputs]
        if op.intermediates is not None and len(op.intermediates):
            op.intermediates = [tensor(i, as_input=False) for i in op.intermediates]
        single.operators = [op]
        single.outputs = list(op.outputs)
    model.subgraphs = [single]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _interpreter(content, num_threads):
    """A call that invokes `content` on fixed inputs (zeros for integers, ones for booleans)."""
    interpreter = litert.Interpreter(model_content=content, num_threads=num_threads)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], _input_data(detail))
    return interpreter.invoke


def _whole_signature(content, key, num_threads):
    interpreter = litert.Interpreter(model_content=content, num_threads=num_threads)
    if not interpreter.get_signature_list():
        return _interpreter(content, num_threads)
    runner = interpreter.get_signature_runner(key)
    feeds = {name: _input_data(detail) for name, detail in runner.get_input_details().items()}
    return lambda: runner(**feeds)


def _input_data(detail):
    shape, dtype = detail["shape"], detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return np.random.default_rng(0).standard_normal(shape).astype(dtype)
    if dtype == np.bool_:
        return np.ones(shape, dtype)
    return np.zeros(shape, dtype)


def _signature_subgraphs(graph):
    if not graph.signatureDefs:
        return {"serving_default": 0}
    return {signature.signatureKey.decode(): signature.subgraphIndex for signature in graph.signatureDefs}


def _op_name(graph, op):
    code = graph.operatorCodes[op.opcodeIndex]
    if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.CUSTOM:
        return (code.customCode or b"CUSTOM").decode()
    return op_name(code.builtinCode, code.deprecatedBuiltinCode)


def _read(model):
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    try:
        with open(model, "rb") as file:
            return file.read()
    except (OSError, TypeError) as error:
        raise ValueError(f"profile_ops: `model` must be a .tflite path or its bytes; got {model!r} "
                         f"({error}).") from None


def _check_counts(**counts):
    for name, value in counts.items():
        if not checks.is_integer(value) or value < 1:
            raise ValueError(f"profile_ops: `{name}` must be an int >= 1; got {value!r}.")
