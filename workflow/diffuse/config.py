"""Configuration checks that run before any compute: schema, then cross-references between keys."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from .settings import (
    EMBEDDED_MODEL_TYPE,
    EMBEDDED_MODELS,
    INSTRUCTION_COLUMNS,
    LINEAR_MODULES,
    LORA_SHAPE,
    OMITTED_AT_DEFAULT,
    TrainSettings,
    model_source_kind,
)
from .tasks import Task, TaskError, load_tasks, read_value_file

BASE = "base"  # the adapter name meaning "no adapter"
ALL_CATEGORIES = "all-categories"  # section 5's adapter tuned on every category


def leave_one_out_adapter(kind: str, category: str) -> str:
    """The name of section 5's adapter of `category`: kind "id" (tuned on it) or "ood" (on the others)."""
    if kind not in ("id", "ood"):
        raise ValueError(f"leave-one-out adapter kind {kind!r} is not 'id' or 'ood'")
    return f"{kind}-{category}"


def leave_one_out_compared(category: str) -> tuple[str, str, str]:
    """The adapters Tables 5/6 compare on a category's prompts: untuned (BASE), OOD and ID."""
    return (BASE, leave_one_out_adapter("ood", category), leave_one_out_adapter("id", category))


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the offending key."""


def check_model_source(name: str, source: str) -> None:
    kind = model_source_kind(source)
    if kind == "embedded" and source not in EMBEDDED_MODELS:
        raise ConfigError(
            f"models.{name}.source: unknown embedded model {source!r}; known: {sorted(EMBEDDED_MODELS)} "
            "(or give a hub id such as 'mistralai/Mistral-7B-Instruct-v0.1' or a local folder)"
        )
    if kind == "local" and not Path(source).expanduser().is_dir():
        raise ConfigError(
            f"models.{name}.source: local folder {source!r} does not exist (relative to the working "
            "directory); a hub id is 'owner/name' whose owner is not a local folder"
        )


def check_config(config: dict, root: str | Path = ".") -> dict[str, Task]:
    """Validate cross-references and task files; return the tasks. Raises ConfigError / TaskError.

    Reads `config` only: the generated trainsets come from all_trainsets, never written back."""
    root = Path(root)
    try:
        tasks = load_tasks(root / config["tasks_dir"])
    except TaskError as error:
        raise ConfigError(str(error)) from None
    tasks.update(generated_tasks(config, tasks))
    check_open_random(config, root)
    for name, model in config["models"].items():
        check_model_source(name, model["source"])
    for name in config.get("models_to_run", []):
        if name not in config["models"]:
            raise ConfigError(f"models_to_run: unknown model {name!r}; known: {sorted(config['models'])}")
    if config["sampling"].get("method") == "tree" and config["sampling"]["backend"] != "hf":
        raise ConfigError(
            "sampling.method: tree sampling runs on the hf backend; vLLM shares prefixes by its own prefix "
            "cache (use method: ancestral with backend: vllm)"
        )
    trainsets = all_trainsets(config, tasks)
    check_lora_modules(config, trainsets, root)
    if config["experiments"].get("leave_one_out"):
        leave_one_out_n(config, tasks)
    spec = config["experiments"].get("rng_generalization")
    if spec:
        if spec["trainset"] not in trainsets:
            raise ConfigError(
                f"experiments.rng_generalization.trainset: unknown trainset {spec['trainset']!r}; "
                f"known: {sorted(trainsets)}"
            )
        if spec["low_min"] > spec["low_max"]:
            raise ConfigError("experiments.rng_generalization: low_min is above low_max")
        from .rng_generalization import range_prompts

        try:
            range_prompts(spec)
        except TaskError as error:
            raise ConfigError(str(error)) from None
    check_biographies(config, tasks, trainsets, root)
    for name, trainset in trainsets.items():
        if name == BASE:
            raise ConfigError(f"trainsets.{name}: '{BASE}' is reserved for the untuned model")
        for task_id in trainset["tasks"]:
            if task_id not in tasks:
                raise ConfigError(f"trainsets.{name}.tasks: unknown task {task_id!r}; known: {sorted(tasks)}")
        train_settings(config, trainsets, name)
    for name in trainsets:
        init_chain(config, trainsets, name)
    for i, entry in enumerate(config["experiments"]["simple_tasks"]):
        where = f"experiments.simple_tasks[{i}]"
        if entry["task"] not in tasks:
            raise ConfigError(f"{where}.task: unknown task {entry['task']!r}; known: {sorted(tasks)}")
        if entry["adapter"] not in trainsets:
            raise ConfigError(
                f"{where}.adapter: unknown trainset {entry['adapter']!r}; known: {sorted(trainsets)}"
            )
    for task in tasks.values():
        for path in task.input_files:
            if path.startswith("results/"):
                continue  # written by a rule
            if not (root / path).exists():
                raise ConfigError(f"{task.source}: task {task.id!r} reads {path}, which does not exist")
            try:
                read_value_file(root / path)
            except TaskError as error:
                raise ConfigError(f"{task.source}: task {task.id!r}: {error}") from None
    calibration_task_suite(config, tasks)
    return tasks


def generated_tasks(config: dict, tasks: dict[str, Task]) -> dict[str, Task]:
    """Tasks the config computes: experiments.calibration's distribution specs (their target sets checked
    here, before any job: unknown family, bad parameter, too little mass kept)."""
    block = config["experiments"].get("calibration")
    if not block:
        return {}
    from .calibration import calibration_tasks, target_sets
    from .families import FamilyError

    try:
        target_sets(block)
        generated = calibration_tasks(block)
    except FamilyError as error:
        raise ConfigError(str(error)) from None
    for task_id, task in generated.items():
        if task_id in tasks:
            raise ConfigError(f"{task.source}: task {task_id!r} is also defined in {tasks[task_id].source}")
    return generated


def check_open_random(config: dict, root: Path) -> None:
    """experiments.calibration.open_random.prompts: a readable prompt file (id, category, prompt)."""
    spec = (config["experiments"].get("calibration") or {}).get("open_random")
    if not spec:
        return
    from .open_random import PromptFileError, load_prompts

    where = "experiments.calibration.open_random.prompts"
    if not (root / spec["prompts"]).is_file():
        raise ConfigError(f"{where}: {spec['prompts']} does not exist (relative to the working directory)")
    try:
        load_prompts(root / spec["prompts"])
    except PromptFileError as error:
        raise ConfigError(f"{where}: {error}") from None


def check_biographies(config: dict, tasks: dict[str, Task], trainsets: dict[str, dict], root: Path) -> None:
    spec = config["experiments"].get("biographies")
    if not spec:
        return
    where = "experiments.biographies"
    if spec["task"] not in tasks:
        raise ConfigError(f"{where}.task: unknown task {spec['task']!r}; known: {sorted(tasks)}")
    for key in ("ood_adapter", "id_trainset"):
        if spec[key] not in trainsets:
            hint = f" ({ALL_CATEGORIES} comes from experiments.leave_one_out)" if key == "ood_adapter" else ""
            raise ConfigError(
                f"{where}.{key}: unknown trainset {spec[key]!r}{hint}; known: {sorted(trainsets)}"
            )
    low, high = spec["targets"]["years"]
    if low > high:
        raise ConfigError(f"{where}.targets.years: {low} is after {high}")
    if spec["geocoder"]["kind"] == "nominatim":
        agent = spec["geocoder"].get("user_agent") or ""
        if not agent or "example" in agent.casefold():
            raise ConfigError(
                f"{where}.geocoder.user_agent: {agent!r}: Nominatim's usage policy needs a user agent that "
                "names you (an e-mail or URL of yours, not the example's)"
            )
    instructions = spec["utility"]["instructions"]
    if not (root / instructions).exists():
        raise ConfigError(f"{where}.utility.instructions: {instructions} does not exist")
    with open(root / instructions, newline="") as handle:
        header = next(csv.reader(handle), [])
    if missing := [c for c in INSTRUCTION_COLUMNS if c not in header]:
        raise ConfigError(
            f"{where}.utility.instructions: {instructions}: needs the columns {', '.join(INSTRUCTION_COLUMNS)}; "
            f"it has {', '.join(header) or 'none'} (missing {', '.join(missing)})"
        )


def model_type(config: dict, model: str, root: Path) -> str | None:
    """The model's Hugging Face model_type where it is known before any job: embedded, a local folder, or a
    model already materialised under results/models/; None otherwise (a hub model not yet downloaded)."""
    source = config["models"][model]["source"]
    if model_source_kind(source) == "embedded":
        return EMBEDDED_MODEL_TYPE
    for folder in (Path(source).expanduser(), root / "results" / "models" / model):
        if (folder / "config.json").is_file():
            return json.loads((folder / "config.json").read_text()).get("model_type")
    return None


def check_lora_modules(config: dict, trainsets: dict[str, dict], root: Path) -> None:
    """Every trainset's target_modules are linear layers of every model it trains (where the type is known)."""
    for model in models_to_run(config):
        kind = model_type(config, model, root)
        if kind not in LINEAR_MODULES:
            continue
        known = LINEAR_MODULES[kind]
        for name in trainsets:
            modules = train_settings(config, trainsets, name).target_modules
            unknown = [m for m in modules if m not in known]
            if unknown:
                own = "target_modules" in (trainsets[name].get("training") or {})
                key = f"trainsets.{name}.training.target_modules" if own else "training.target_modules"
                raise ConfigError(
                    f"{key}: {unknown[0]!r} is not a module of model {model} ({kind}: {', '.join(known)})"
                )


def models_to_run(config: dict) -> list[str]:
    return list(config.get("models_to_run", config["models"]))


def all_trainsets(config: dict, tasks: dict[str, Task]) -> dict[str, dict]:
    """Every adapter to train: the config's `trainsets` and, after them, those experiments.leave_one_out
    generates (leave_one_out_trainsets). A new dict; `config` is left as the user wrote it."""
    generated = {
        **{name: ("leave_one_out", t) for name, t in leave_one_out_trainsets(config, tasks).items()},
        **{name: ("calibration", t) for name, t in calibration_trainsets(config).items()},
    }
    for name, (experiment, trainset) in generated.items():
        if name in config["trainsets"] and config["trainsets"][name] != trainset:
            raise ConfigError(f"trainsets.{name}: the name is taken by experiments.{experiment}; rename it")
    generated = {name: trainset for name, (_, trainset) in generated.items()}
    return {**config["trainsets"], **generated}


def calibration_trainsets(config: dict) -> dict[str, dict]:
    """experiments.calibration's adapters: one per objective on its training specs (calib-eq5, ...)."""
    block = config["experiments"].get("calibration")
    if not block:
        return {}
    from .calibration import calibration_trainsets as trainsets

    return trainsets(block)


def train_settings(config: dict, trainsets: dict[str, dict], trainset: str) -> TrainSettings:
    """The global `training` block overlaid with the trainset's own `training` overrides."""
    merged = {**config["training"], **trainsets[trainset].get("training", {})}
    try:
        return TrainSettings(**merged)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"trainsets.{trainset}.training: {error}") from None


def train_params(config: dict, trainsets: dict[str, dict], trainset: str) -> dict:
    """train_settings as plain data for the rule's params (Snakemake fingerprints only builtin types);
    the script rebuilds it with TrainSettings(**params)."""
    settings = train_settings(config, trainsets, trainset)
    defaults = TrainSettings()
    return {
        key: value
        for key, value in dataclasses.asdict(settings).items()
        if not (key in OMITTED_AT_DEFAULT and value == getattr(defaults, key))
    }


def init_chain(config: dict, trainsets: dict[str, dict], trainset: str) -> list[str]:
    """The trainsets whose adapters `trainset` continues from, nearest first (init_adapter, recursively).

    Raises ConfigError for an unknown name, a cycle, or a LoRA shape (rank, alpha, dropout, modules) that
    differs from the adapter continued from (the saved adapter fixes it, so the setting would be ignored).
    """
    chain, name = [], trainset
    while (parent := trainsets[name].get("init_adapter")) is not None:
        where = f"trainsets.{name}.init_adapter"
        if parent not in trainsets:
            raise ConfigError(f"{where}: unknown trainset {parent!r}; known: {sorted(trainsets)}")
        if parent == trainset or parent in chain:
            raise ConfigError(f"{where}: {' -> '.join([trainset, *chain, parent])} is a cycle")
        own, theirs = train_settings(config, trainsets, name), train_settings(config, trainsets, parent)
        for key in LORA_SHAPE:
            if getattr(own, key) != getattr(theirs, key):
                raise ConfigError(
                    f"{where}: training.{key} is {getattr(own, key)!r} here but {getattr(theirs, key)!r} in "
                    f"{parent!r}, whose saved adapter fixes it"
                )
        chain.append(parent)
        name = parent
    return chain


def init_adapter(config: dict, trainsets: dict[str, dict], trainset: str) -> str | None:
    """The trainset whose adapter `trainset` starts from, or None for a fresh LoRA adapter."""
    init_chain(config, trainsets, trainset)
    return trainsets[trainset].get("init_adapter")


def category_tasks(tasks: dict[str, Task], category: str) -> list[str]:
    return sorted(task_id for task_id in tasks if task_id.split("/", 1)[0] == category)


def leave_one_out_trainsets(config: dict, tasks: dict[str, Task]) -> dict[str, dict]:
    """The adapters of section 5: id-<c> (tuned on category c), ood-<c> (on the others), all-categories
    (names from leave_one_out_adapter and ALL_CATEGORIES)."""
    spec = config["experiments"].get("leave_one_out")
    if not spec:
        return {}
    by_category = {}
    for category in spec["categories"]:
        by_category[category] = category_tasks(tasks, category)
        if not by_category[category]:
            raise ConfigError(
                f"experiments.leave_one_out.categories: no task file defines category {category!r}; "
                f"known: {sorted({t.split('/', 1)[0] for t in tasks})}"
            )
    training = dict(spec.get("training", {}))
    tasks_of = {}
    for category, own in by_category.items():
        tasks_of[leave_one_out_adapter("id", category)] = own
        tasks_of[leave_one_out_adapter("ood", category)] = [
            t for other, ids in by_category.items() if other != category for t in ids
        ]
    tasks_of[ALL_CATEGORIES] = [t for ids in by_category.values() for t in ids]
    per_adapter = spec.get("adapter_training", {})
    for name in per_adapter:
        if name not in tasks_of:
            raise ConfigError(
                f"experiments.leave_one_out.adapter_training.{name}: not an adapter of leave_one_out; "
                f"known: {sorted(tasks_of)}"
            )
    return {
        name: {"tasks": tasks, "training": {**training, **per_adapter.get(name, {})}}
        for name, tasks in tasks_of.items()
    }


def matches_any(task_id: str, patterns) -> bool:
    """Whether a task id matches one of the config's globs (case-sensitive, as task ids are)."""
    from fnmatch import fnmatchcase

    return any(fnmatchcase(task_id, pattern) for pattern in patterns)


def leave_one_out_evaluated(config: dict, tasks: dict[str, Task]) -> dict[str, list[str]]:
    """Category -> the task ids evaluated for Figure 3 / Tables 5 and 6 (experiments.leave_one_out.evaluate)."""
    spec = config["experiments"]["leave_one_out"]
    patterns = spec.get("evaluate", ["*"])
    evaluated = {}
    for category in spec["categories"]:
        chosen = [t for t in category_tasks(tasks, category) if matches_any(t, patterns)]
        if not chosen:
            raise ConfigError(
                f"experiments.leave_one_out.evaluate: no task of category {category!r} matches {patterns}"
            )
        evaluated[category] = chosen
    return evaluated


def calibration_task_suite(config: dict, tasks: dict[str, Task]) -> list[str]:
    """experiments.calibration.task_suite: the section-5 prompts (among experiments.leave_one_out's evaluated
    ones, at its one N) the follow-up's adapters are also sampled on, so Tables 5/6 compare the objectives."""
    patterns = (config["experiments"].get("calibration") or {}).get("task_suite") or []
    if not patterns:
        return []
    where = "experiments.calibration.task_suite"
    if not config["experiments"].get("leave_one_out"):
        raise ConfigError(f"{where}: needs experiments.leave_one_out (its evaluated prompts and N)")
    evaluated = [t for ids in leave_one_out_evaluated(config, tasks).values() for t in ids]
    for pattern in patterns:
        if not any(matches_any(t, [pattern]) for t in evaluated):
            raise ConfigError(
                f"{where}: {pattern!r} matches none of experiments.leave_one_out's evaluated prompts {evaluated}"
            )
    return [t for t in evaluated if matches_any(t, patterns)]


def sampling_settings(config: dict, task_id: str) -> dict:
    """The sampling block for one task: the first override whose glob matches the task id applies."""
    settings = {k: v for k, v in config["sampling"].items() if k != "overrides"}
    for override in config["sampling"].get("overrides", []):
        if matches_any(task_id, override["tasks"]):
            settings.update({k: v for k, v in override.items() if k != "tasks"})
            break
    return settings


def leave_one_out_n(config: dict, tasks: dict[str, Task]) -> int:
    """N of every cell of Tables 5/6: experiments.leave_one_out.n, or (null) the smallest sampling n of the
    evaluated tasks. Metrics use the first N rows of each sample file (i.i.d. rows: a prefix is a sample)."""
    evaluated = [t for ids in leave_one_out_evaluated(config, tasks).values() for t in ids]
    sampled = {t: sampling_settings(config, t)["n"] for t in evaluated}
    n = config["experiments"]["leave_one_out"].get("n")
    if n is None:
        return min(sampled.values())
    short = {t: m for t, m in sampled.items() if m < n}
    if short:
        raise ConfigError(
            f"experiments.leave_one_out.n = {n}, but sampling gives fewer rows to {short}; lower the key (or "
            "null: the smallest) or raise sampling.n for those tasks"
        )
    return int(n)
