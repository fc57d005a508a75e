"""`CompressConfig` and `Candidate`: what the main job tries, and how hard."""

import dataclasses

from keras_compress import checks
from keras_compress.distillation.student import encoder_parts, make_student


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One compressed model the recipe may pick: a student made from the teacher.

    Args:
        name: its name in the report (`"3L"`).
        num_layers: transformer layers of the student; `None` keeps the
            teacher itself (the always-valid fallback: only int8 and buckets).
        intermediate_dim_fraction: share of the teacher's feed-forward neurons
            kept (`make_student(intermediate_dim=...)`), 1.0 keeps all.

    >>> Candidate("2L", num_layers=2).is_teacher
    False
    """

    name: str
    num_layers: int | None = None
    intermediate_dim_fraction: float = 1.0

    @property
    def is_teacher(self):
        return self.num_layers is None

    def make_student(self, teacher):
        """This candidate's untrained student of `teacher` (`distillation.make_student`
        with `num_layers` capped at the teacher's and `intermediate_dim_fraction` of its
        feed-forward width); the teacher itself for the teacher candidate."""
        if self.is_teacher:
            return teacher
        _, encoders, _ = encoder_parts(teacher, "Candidate.make_student", "teacher")
        width = encoders[0]._feedforward_intermediate_dense.units
        return make_student(teacher, num_layers=min(self.num_layers, len(encoders)),
                            intermediate_dim=max(1, round(width * self.intermediate_dim_fraction)))

    def relative_cost(self, teacher_layers):
        """Transformer work relative to the teacher (attention ~1/3 of a layer, FFN ~2/3)."""
        if self.is_teacher:
            return 1.0
        return self.num_layers * (1 / 3 + 2 / 3 * self.intermediate_dim_fraction) / teacher_layers


# Not in the defaults: 2L_ffn50 (2 layers, half of the FFN), 45x on Sara but 3.6 test points
# below the teacher in one of two runs while within budget on validation (docs/benchmarks.md).
DEFAULT_CANDIDATES = (
    Candidate("2L", num_layers=2),
    Candidate("3L_ffn50", num_layers=3, intermediate_dim_fraction=0.5),
    Candidate("3L", num_layers=3),
    Candidate("teacher", num_layers=None),
)


@dataclasses.dataclass(frozen=True)
class CompressConfig:
    """The choices of `compress_text_classifier`, in one inspectable object.

    Args:
        max_drop: largest validation macro-F1 loss allowed, in points (1.0 =
            one percentage point below the teacher's validation macro-F1).
        candidates: what to try; they are tried cheapest first (fewest
            transformer operations), and the search stops at the first that
            holds `max_drop`. A `Candidate` with `num_layers=None` (the teacher
            exported with int8 and buckets) is always valid and is added if
            missing.
        try_all: try every candidate, not only up to the first within budget (the
            choice is the same: the cheapest within budget); the report then shows
            the whole trade-off, at the cost of training every student.
        teacher_epochs, teacher_learning_rate: fine-tuning of a preset
            teacher (ignored for a fine-tuned teacher).
        student_epochs, student_learning_rate: training of each student on
            the teacher's cached logits: at most `student_epochs` epochs, stopped
            early when the validation macro-F1 has not improved for `patience`
            epochs, keeping the weights of its best epoch (Keras `EarlyStopping`).
        patience: see `student_epochs`.
        temperature, alpha: `DistillationLoss` (alpha weights the teacher's
            soft targets).
        batch_size: training batches.
        sequence_length: tokens per message in training (and in the Keras
            scores); `None` (default) takes it from the data: the smallest of
            `sequence_lengths` that holds 99% of the training messages whole
            (with [CLS] and [SEP]). Short messages then train at a short length
            (Sara: 16 tokens), long ones at a longer one.
        sequence_lengths: TFLite buckets of the exported model.
        quantization: the exporter's quantization (`"dynamic"` int8 weights).
        trim_vocabulary: keep only the tokens of the training messages in every
            candidate's tokenizer and token embedding (`keras_compress.surgery.
            trim_vocabulary`), before it is scored: a smaller file, the same answers
            on messages whose pieces were all seen in training. Off by default: it
            earns size, not speed, and words never seen in training can change answers
            (measured in docs/benchmarks.md), so it could make the search settle on a
            slower candidate.
        validation_fraction: share of each intent's training messages held
            out for validation when the data has no validation split.
        timing_messages: test messages timed per model (`None`: all).
        max_steps: at most this many training steps per epoch (smoke runs).
        seed: data split, shuffling and initialisation.

    >>> CompressConfig(max_drop=0.5).max_drop
    0.5
    >>> CompressConfig(max_drop=-1)
    Traceback (most recent call last):
    ...
    ValueError: CompressConfig: `max_drop` must be a number >= 0 (macro-F1 points); received -1.
    """

    max_drop: float = 1.0
    candidates: tuple = DEFAULT_CANDIDATES
    try_all: bool = False
    teacher_epochs: int = 12
    teacher_learning_rate: float = 2e-4
    student_epochs: int = 8
    student_learning_rate: float = 2e-4
    patience: int = 2
    temperature: float = 2.0
    alpha: float = 0.5
    batch_size: int = 32
    sequence_length: int | None = None
    sequence_lengths: tuple = (8, 12, 16, 24, 32, 48, 64)
    quantization: str | None = "dynamic"
    trim_vocabulary: bool = False
    validation_fraction: float = 0.1
    timing_messages: int | None = None
    max_steps: int | None = None
    seed: int = 2019

    def __post_init__(self):
        if not checks.is_number(self.max_drop) or self.max_drop < 0:
            raise ValueError(
                "CompressConfig: `max_drop` must be a number >= 0 (macro-F1 points); "
                f"received {self.max_drop!r}."
            )
        for name in ("teacher_epochs", "student_epochs", "patience", "batch_size"):
            _positive_int(name, getattr(self, name))
        for name in ("sequence_length", "timing_messages", "max_steps"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        for name in ("teacher_learning_rate", "student_learning_rate", "temperature"):
            value = getattr(self, name)
            if not checks.is_number(value) or value <= 0:
                raise ValueError(f"CompressConfig: `{name}` must be a number > 0; received {value!r}.")
        if not checks.is_number(self.alpha) or not 0 <= self.alpha <= 1:
            raise ValueError(f"CompressConfig: `alpha` must be in [0, 1]; received {self.alpha!r}.")
        if not checks.is_number(self.validation_fraction) or not 0 < self.validation_fraction < 1:
            raise ValueError(
                "CompressConfig: `validation_fraction` must be in (0, 1); received "
                f"{self.validation_fraction!r}."
            )
        for name in ("trim_vocabulary", "try_all"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"CompressConfig: `{name}` must be True or False; received "
                                f"{getattr(self, name)!r}.")
        lengths = tuple(self.sequence_lengths)
        if not lengths or any(not checks.is_integer(n) or n < 3 for n in lengths) or list(
            lengths
        ) != sorted(set(lengths)):
            raise ValueError(
                "CompressConfig: `sequence_lengths` must be increasing integers >= 3; received "
                f"{self.sequence_lengths!r}."
            )
        if not self.candidates or not all(isinstance(c, Candidate) for c in self.candidates):
            raise TypeError("CompressConfig: `candidates` must be a non-empty tuple of Candidate.")
        names = [c.name for c in self.candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"CompressConfig: candidate names must differ; received {names}.")
        for c in self.candidates:
            if c.is_teacher and c.name != "teacher":
                raise ValueError(
                    f"CompressConfig: the teacher fallback (num_layers=None) must be named "
                    f"'teacher'; received {c.name!r}."
                )
            if c.num_layers is not None:
                _positive_int(f"candidates[{c.name!r}].num_layers", c.num_layers)
            if not checks.is_number(c.intermediate_dim_fraction) or not (
                0 < c.intermediate_dim_fraction <= 1
            ):
                raise ValueError(
                    f"CompressConfig: candidate {c.name!r}: `intermediate_dim_fraction` must be "
                    f"in (0, 1]; received {c.intermediate_dim_fraction!r}."
                )
        object.__setattr__(self, "sequence_lengths", lengths)
        object.__setattr__(self, "candidates", tuple(self.candidates))

    def ordered_candidates(self, teacher_layers):
        """The candidates cheapest first, the teacher fallback last (added if missing)."""
        students = [c for c in self.candidates if not c.is_teacher and c.num_layers <= teacher_layers]
        students.sort(key=lambda c: c.relative_cost(teacher_layers))
        fallback = [c for c in self.candidates if c.is_teacher] or [Candidate("teacher")]
        return students + fallback[:1]


def _positive_int(name, value):
    if not checks.is_integer(value) or value < 1:
        raise ValueError(f"CompressConfig: `{name}` must be an integer >= 1; received {value!r}.")
