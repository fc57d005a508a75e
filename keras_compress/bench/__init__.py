"""Measuring compressed models: one per-message timer, a per-op profiler, one table printer,
one machine line.

>>> from keras_compress.bench import format_table
>>> print(format_table([{"runner": "a", "median ms": 1.5}]))
| runner | median ms |
|--------|----------:|
| a      |       1.5 |
"""

from keras_compress.bench.machine import machine, machine_line
from keras_compress.bench.profile import OpProfile, OpTime, profile_ops
from keras_compress.bench.runners import FunctionRunner, KerasRunner, Runner, TFLiteRunner
from keras_compress.bench.table import format_table
from keras_compress.bench.timing import MODES, Timings, time_messages

__all__ = ["MODES", "FunctionRunner", "KerasRunner", "OpProfile", "OpTime", "Runner", "TFLiteRunner",
           "Timings", "format_table", "machine", "machine_line", "profile_ops", "time_messages"]
