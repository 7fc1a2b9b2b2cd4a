"""Configuration checks that run before any compute: schema, then cross-references between keys."""

from __future__ import annotations

from pathlib import Path

from .models import EMBEDDED_MODELS
from .tasks import Task, TaskError, load_tasks
from .train import TrainSettings

BASE = "base"  # the adapter name meaning "no adapter"


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the offending key."""


def check_model_source(name: str, source: str) -> None:
    if source.startswith("embedded:") and source not in EMBEDDED_MODELS:
        raise ConfigError(
            f"models.{name}.source: unknown embedded model {source!r}; known: {sorted(EMBEDDED_MODELS)} "
            "(or give a hub id such as 'mistralai/Mistral-7B-Instruct-v0.1' or a local folder)"
        )


def check_config(config: dict, root: str | Path = ".") -> dict[str, Task]:
    """Validate cross-references and task files; return the tasks. Raises ConfigError / TaskError."""
    root = Path(root)
    try:
        tasks = load_tasks(root / config["tasks_dir"])
    except TaskError as error:
        raise ConfigError(str(error)) from None
    for name, model in config["models"].items():
        check_model_source(name, model["source"])
    for name, trainset in config["trainsets"].items():
        if name == BASE:
            raise ConfigError(f"trainsets.{name}: '{BASE}' is reserved for the untuned model")
        for task_id in trainset["tasks"]:
            if task_id not in tasks:
                raise ConfigError(f"trainsets.{name}.tasks: unknown task {task_id!r}; known: {sorted(tasks)}")
        train_settings(config, name)
    for i, entry in enumerate(config["experiments"]["simple_tasks"]):
        where = f"experiments.simple_tasks[{i}]"
        if entry["task"] not in tasks:
            raise ConfigError(f"{where}.task: unknown task {entry['task']!r}; known: {sorted(tasks)}")
        if entry["adapter"] not in config["trainsets"]:
            raise ConfigError(
                f"{where}.adapter: unknown trainset {entry['adapter']!r}; known: {sorted(config['trainsets'])}"
            )
    for task in tasks.values():
        for path in task.input_files:
            if not path.startswith("results/") and not (root / path).exists():
                raise ConfigError(f"{task.source}: task {task.id!r} reads {path}, which does not exist")
    return tasks


def train_settings(config: dict, trainset: str) -> TrainSettings:
    """The global `training` block overlaid with the trainset's own `training` overrides."""
    merged = {**config["training"], **config["trainsets"][trainset].get("training", {})}
    try:
        return TrainSettings(**merged)
    except TypeError as error:
        raise ConfigError(f"trainsets.{trainset}.training: {error}") from None


def adapters_for(config: dict) -> list[str]:
    return [BASE, *config["trainsets"]]
