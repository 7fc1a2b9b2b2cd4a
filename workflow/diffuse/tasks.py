"""Tasks as data: one YAML file per category under config/tasks/, validated by a JSON schema.

A task is one prompt with its target set. Targets are given explicitly (`values`), as an integer range
(`range`), or by a CSV file (`file`, columns `value` and optionally `weight`) that a rule produces or that
ships in data/. See config/README.md for every key.
"""

from __future__ import annotations

import csv
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TASK_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_.-]*$")
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# Every field of a task file's entry (not `source`, where the file lies, which changes no output).
TASK_FIELDS = (
    "prompt",
    "targets",
    "weights",
    "target_format",
    "response_prefix",
    "end_of_turn",
    "parser",
    "match",
    "natural",
    "metadata",
    "category_label",
)
# The fields each rule's output depends on. Its params carry exactly these (and the id, already in its output
# path), so Snakemake reruns it when one changes and not otherwise; a rule script reading any other field
# fails (see Task.__getattribute__) rather than silently using a default. category_label reaches tables
# through their own `labels` params; metadata is provenance only.
RULE_FIELDS = {
    "encode_targets": ("prompt", "targets", "weights", "target_format", "response_prefix", "end_of_turn"),
    "sample": ("response_prefix", "parser", "match"),
    "metrics": ("match", "natural"),
    "figure1": ("natural",),
    "natural_reference": ("targets", "weights", "match", "natural"),
    "overrepresentation": ("targets", "weights", "match", "natural"),
    "temperature": ("response_prefix", "parser", "match", "natural"),
}
FROM_PARAMS_SOURCE = "the task's file under tasks_dir"


class TaskError(ValueError):
    """A task definition that cannot be used; the message names the file and key."""


@dataclass(frozen=True, repr=False)
class Task:
    id: str  # "{category}/{name}"
    source: str = field(compare=False)  # the file that defined it, for error messages only
    prompt: str
    targets: dict  # exactly one of values / range / file
    target_format: str = "{{{value}}}"
    weights: tuple[float, ...] | None = None
    response_prefix: str = ""
    end_of_turn: bool = True
    parser: str = "braces"
    match: str = "exact"
    natural: dict | str | None = None
    metadata: dict = field(default_factory=dict)
    category_label: str = ""
    # The fields a rule's params carried (Task.from_params); None: all of them.
    carried: frozenset | None = field(default=None, compare=False)

    def __getattribute__(self, name):
        if name in TASK_FIELDS:
            carried = object.__getattribute__(self, "carried")
            if carried is not None and name not in carried:
                task_id = object.__getattribute__(self, "id")
                raise AttributeError(
                    f"task {task_id!r}: field {name!r} is not in this rule's params; add it to "
                    "diffuse.tasks.RULE_FIELDS so that editing it reruns the rule"
                )
        return object.__getattribute__(self, name)

    def __repr__(self) -> str:
        shown = TASK_FIELDS if self.carried is None else [f for f in TASK_FIELDS if f in self.carried]
        return f"Task(id={self.id!r}, " + ", ".join(f"{f}={getattr(self, f)!r}" for f in shown) + ")"

    def to_params(self, rule: str | None = None) -> dict:
        """Plain data for a rule's `params`: the id and the fields `rule` depends on (RULE_FIELDS; all when None).

        Snakemake fingerprints only builtin types, so this is what makes an edited task rerun its jobs. Dict
        keys are sorted so that reordering keys in a task file changes nothing.
        """
        names = TASK_FIELDS if rule is None else RULE_FIELDS[rule]
        return {"id": self.id, **{name: _plain(getattr(self, name)) for name in names}}

    @classmethod
    def from_params(cls, params: dict, source: str = FROM_PARAMS_SOURCE) -> Task:
        """The task back from `to_params`; fields the params lack cannot be read (AttributeError)."""
        fields = {k: v for k, v in params.items() if k != "id"}
        unknown = sorted(set(fields) - set(TASK_FIELDS))
        if unknown:
            raise TaskError(f"task params for {params.get('id')!r} have unknown fields {unknown}")
        if fields.get("weights") is not None:
            fields["weights"] = tuple(fields["weights"])
        carried = None if set(fields) == set(TASK_FIELDS) else frozenset(fields)
        # prompt and targets have no default; a rule that does not carry them cannot read them anyway.
        fields = {"prompt": "", "targets": {}, **fields}
        return cls(id=params["id"], source=source, carried=carried, **fields)

    @property
    def category(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def target_file(self) -> str | None:
        return self.targets.get("file")

    @property
    def natural_file(self) -> str | None:
        return self.natural.get("file") if isinstance(self.natural, dict) else None

    @property
    def input_files(self) -> list[str]:
        """Files this task's targets and natural distribution are read from (Snakemake inputs)."""
        return [f for f in (self.target_file, self.natural_file) if f]


def _plain(value):
    """A fresh copy of YAML-like data as builtin types: tuples as lists, dict keys sorted."""
    if isinstance(value, dict):
        return {key: _plain(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _validate(document: dict, schema_name: str, where: str) -> None:
    import jsonschema

    schema = yaml.safe_load((SCHEMA_DIR / schema_name).read_text())
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.path)) or '<top>'}: {e.message}" for e in errors]
        raise TaskError(f"{where} is not a valid task file:\n" + "\n".join(lines))


def load_task_file(path: str | Path) -> dict[str, Task]:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise TaskError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(document, dict):
        raise TaskError(f"{path}: expected a mapping with keys 'category' and 'tasks'")
    _validate(document, "task.schema.yaml", str(path))
    category = document["category"]
    tasks = {}
    for name, spec in document["tasks"].items():
        task_id = f"{category}/{name}"
        if not TASK_ID.match(task_id):
            raise TaskError(f"{path}: task id {task_id!r} must match {TASK_ID.pattern}")
        task = Task(
            id=task_id,
            source=str(path),
            prompt=spec["prompt"],
            targets=spec["targets"],
            target_format=spec.get("target_format", "{{{value}}}"),
            weights=tuple(spec["weights"]) if "weights" in spec else None,
            response_prefix=spec.get("response_prefix", ""),
            end_of_turn=spec.get("end_of_turn", True),
            parser=spec.get("parser", "braces"),
            match=spec.get("match", "exact"),
            natural=spec.get("natural"),
            metadata=spec.get("metadata", {}),
            category_label=document.get("label", category.upper()),
        )
        check_static_targets(task)
        tasks[task_id] = task
    return tasks


def load_tasks(task_dir: str | Path) -> dict[str, Task]:
    """Every task under `task_dir` (*.yaml), keyed by id; duplicate ids are an error."""
    task_dir = Path(task_dir)
    files = sorted(task_dir.glob("*.yaml"))
    if not files:
        raise TaskError(f"no task files (*.yaml) in {task_dir}")
    tasks: dict[str, Task] = {}
    for path in files:
        for task_id, task in load_task_file(path).items():
            if task_id in tasks:
                raise TaskError(f"task {task_id!r} is defined in both {tasks[task_id].source} and {path}")
            tasks[task_id] = task
    return tasks


def read_value_file(path: str | Path) -> tuple[list[str], list[float] | None]:
    """A CSV with a `value` column and an optional `weight` column."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "value" not in rows[0]:
        raise TaskError(f"{path}: expected a CSV with a 'value' column and at least one row")
    values = [row["value"] for row in rows]
    if "weight" not in rows[0]:
        return values, None
    weights = []
    for line, row in enumerate(rows, start=2):
        try:
            weights.append(float(row["weight"]))
        except (TypeError, ValueError):
            raise TaskError(f"{path}: line {line}: weight {row['weight']!r} is not a number") from None
    return values, weights


def target_values(task: Task) -> tuple[list[str], list[float]]:
    """The task's target values and their normalised weights (uniform unless given)."""
    spec = task.targets
    weights = list(task.weights) if task.weights is not None else None
    if "values" in spec:
        values = [str(v) for v in spec["values"]]
    elif "range" in spec:
        low, high = spec["range"]
        values = [str(v) for v in range(int(low), int(high) + 1)]
    else:
        values, file_weights = read_value_file(spec["file"])
        weights = weights or file_weights
    if not values:
        raise TaskError(f"{task.source}: task {task.id!r} has an empty target set")
    if weights is None:
        weights = [1.0] * len(values)
    if len(weights) != len(values):
        raise TaskError(
            f"{task.source}: task {task.id!r} has {len(values)} targets but {len(weights)} weights"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise TaskError(f"{task.source}: task {task.id!r} has negative or all-zero weights")
    total = sum(weights)
    return values, [w / total for w in weights]


def target_texts(task: Task, values: list[str]) -> list[str]:
    return [task.target_format.format(value=v) for v in values]


def check_text_targets(task: Task, texts: list[str]) -> None:
    """Unique, non-empty, and (without an end-of-turn token) prefix-free as strings."""
    if not texts:
        raise TaskError(f"{task.source}: task {task.id!r} has an empty target set")
    if any(not t.strip() for t in texts):
        raise TaskError(f"{task.source}: task {task.id!r} has an empty target")
    duplicates = sorted({t for t in texts if texts.count(t) > 1}) if len(set(texts)) != len(texts) else []
    if duplicates:
        raise TaskError(f"{task.source}: task {task.id!r} has duplicate targets: {duplicates[:5]}")
    if not task.end_of_turn:
        pair = find_prefix_pair(texts)
        if pair:
            raise TaskError(
                f"{task.source}: task {task.id!r} targets are not prefix-free ({pair[0]!r} is a prefix of "
                f"{pair[1]!r}); set end_of_turn: true or change target_format"
            )


def find_prefix_pair(sequences):
    """A pair (a, b) where a is a proper prefix of b, or None. Works on strings and token lists."""
    ordered = sorted(sequences, key=lambda s: list(s) if not isinstance(s, str) else s)
    for a, b in itertools.pairwise(ordered):
        if len(a) < len(b) and b[: len(a)] == a:
            return a, b
    return None


def check_target_format(task: Task) -> None:
    """target_format must place {value} once, with literal braces doubled ('{{{value}}}' gives '{7}')."""
    try:
        shown = task.target_format.format(value="\0")
    except (KeyError, IndexError, ValueError) as error:
        raise TaskError(
            f"{task.source}: task {task.id!r} target_format {task.target_format!r} is not a format with "
            f"{{value}} only (literal braces doubled, as in '{{{{{{value}}}}}}'): {type(error).__name__}: {error}"
        ) from None
    if shown.count("\0") != 1:
        raise TaskError(
            f"{task.source}: task {task.id!r} target_format {task.target_format!r} must contain {{value}} once"
        )


def check_static_targets(task: Task) -> None:
    """Checks possible before any rule runs (targets from files are checked by the targets rule)."""
    check_target_format(task)
    if task.target_file is None:
        values, _ = target_values(task)
        check_text_targets(task, target_texts(task, values))
