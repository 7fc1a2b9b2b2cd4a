"""Tasks as data: loading, target sets, prefix-free checks, clear errors naming the file."""

import textwrap

import pytest

from diffuse.tasks import TaskError, find_prefix_pair, load_task_file, load_tasks, target_texts, target_values


def write(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_find_prefix_pair_strings_and_tokens():
    assert find_prefix_pair(["{1}", "{10}", "{2}"]) is None
    assert find_prefix_pair(["1", "10", "2"]) == ("1", "10")
    assert find_prefix_pair([(5, 6), (5, 6, 7), (8,)]) == ((5, 6), (5, 6, 7))
    assert find_prefix_pair([(5, 6), (5, 7)]) is None


def test_range_values_and_uniform_weights(tmp_path):
    path = write(
        tmp_path,
        "numbers.yaml",
        """\
        category: numbers
        tasks:
          rng:
            prompt: "Pick 1-3 {n}"
            targets: {range: [1, 3]}
        """,
    )
    task = load_task_file(path)["numbers/rng"]
    values, weights = target_values(task)
    assert values == ["1", "2", "3"] and weights == pytest.approx([1 / 3] * 3)
    assert target_texts(task, values) == ["{1}", "{2}", "{3}"]


def test_file_targets_with_weights(tmp_path):
    csv = tmp_path / "names.csv"
    csv.write_text("value,weight\nOlivia,3\nLiam,1\n")
    path = write(
        tmp_path,
        "names.yaml",
        f"""\
        category: names
        tasks:
          any:
            prompt: "A name"
            targets: {{file: {csv}}}
        """,
    )
    values, weights = target_values(load_task_file(path)["names/any"])
    assert values == ["Olivia", "Liam"] and weights == pytest.approx([0.75, 0.25])


def test_not_prefix_free_without_end_of_turn_names_file(tmp_path):
    path = write(
        tmp_path,
        "bad.yaml",
        """\
        category: bad
        tasks:
          digits:
            prompt: "A number"
            targets: {values: [1, 10]}
            target_format: "{value}"
            end_of_turn: false
        """,
    )
    with pytest.raises(TaskError, match=r"bad\.yaml.*'bad/digits'.*not prefix-free.*'1' is a prefix of '10'"):
        load_task_file(path)


def test_duplicate_targets_are_an_error(tmp_path):
    path = write(
        tmp_path,
        "dup.yaml",
        """\
        category: dup
        tasks:
          x:
            prompt: "?"
            targets: {values: [a, b, a]}
        """,
    )
    with pytest.raises(TaskError, match=r"dup\.yaml.*duplicate targets.*\{a\}"):
        load_task_file(path)


def test_empty_target_set_is_an_error(tmp_path):
    csv = tmp_path / "empty.csv"
    csv.write_text("value,weight\n")
    path = write(
        tmp_path,
        "empty.yaml",
        f"""\
        category: empty
        tasks:
          x:
            prompt: "?"
            targets: {{file: {csv}}}
        """,
    )
    task = load_task_file(path)["empty/x"]
    with pytest.raises(TaskError, match=r"empty\.csv"):
        target_values(task)
    schema_path = write(
        tmp_path,
        "empty2.yaml",
        """\
        category: empty
        tasks:
          x:
            prompt: "?"
            targets: {values: []}
        """,
    )
    with pytest.raises(TaskError, match=r"(?s)empty2\.yaml.*tasks/x/targets/values"):
        load_task_file(schema_path)


def test_schema_error_names_file_and_key(tmp_path):
    path = write(
        tmp_path,
        "typo.yaml",
        """\
        category: typo
        tasks:
          x:
            promt: "?"
            targets: {range: [1, 2]}
        """,
    )
    with pytest.raises(TaskError, match=r"(?s)typo\.yaml.*tasks/x.*promt"):
        load_task_file(path)


def test_weights_must_match_targets(tmp_path):
    path = write(
        tmp_path,
        "w.yaml",
        """\
        category: w
        tasks:
          x:
            prompt: "?"
            targets: {values: [a, b]}
            weights: [1, 2, 3]
        """,
    )
    with pytest.raises(TaskError, match="2 targets but 3 weights"):
        load_task_file(path)


def test_duplicate_task_ids_across_files(tmp_path):
    body = """\
        category: same
        tasks:
          x:
            prompt: "?"
            targets: {range: [1, 2]}
        """
    write(tmp_path, "a.yaml", body)
    write(tmp_path, "b.yaml", body)
    with pytest.raises(TaskError, match=r"'same/x' is defined in both .*a\.yaml and .*b\.yaml"):
        load_tasks(tmp_path)


def test_shipped_task_files_load():
    from conftest import REPO

    tasks = load_tasks(REPO / "config" / "tasks")
    assert "numbers/rng" in tasks and "babynames/random-name" in tasks
    # The paper's prompts, verbatim.
    assert tasks["numbers/rng"].prompt.startswith("Generate a random number between 1 and 10.")


# Tasks and training settings as rule params: plain data Snakemake fingerprints, without the file's location.

FULL_TASK = """\
    category: colours
    label: COLOURS OF THE RAINBOW
    tasks:
      rainbow:
        prompt: "Name a colour {colour}"
        targets: {values: [Red, Green, Blue]}
        weights: [2, 1, 1]
        target_format: "<{value}>"
        response_prefix: "Colour: "
        end_of_turn: false
        parser: braces
        match: casefold
        natural: uniform
        metadata: {source: test, year: 2024}
    """


def only_builtins(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and only_builtins(v) for k, v in value.items())
    if isinstance(value, list):
        return all(only_builtins(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def test_task_params_round_trip(tmp_path):
    from diffuse.tasks import TASK_FIELDS, Task

    task = load_task_file(write(tmp_path, "colours.yaml", FULL_TASK))["colours/rainbow"]
    params = task.to_params()
    assert only_builtins(params) and set(params) == {"id", *TASK_FIELDS} and "source" not in params
    assert params["weights"] == [2, 1, 1] and params["metadata"] == {"source": "test", "year": 2024}
    assert params["category_label"] == "COLOURS OF THE RAINBOW" and params["end_of_turn"] is False
    back = Task.from_params(params)
    assert back == task and back.weights == (2, 1, 1) and back.carried is None
    # A copy: editing the params (or the task's dicts) leaves the other alone.
    params["targets"]["values"].append("Violet")
    assert task.targets == {"values": ["Red", "Green", "Blue"]}


def test_task_params_follow_edits_of_the_fields_a_rule_reads(tmp_path):
    original = load_task_file(write(tmp_path, "colours.yaml", FULL_TASK))["colours/rainbow"]
    edits = {
        "prompt": FULL_TASK.replace("Name a colour", "Name one colour"),
        "match": FULL_TASK.replace("match: casefold", "match: exact"),
        "metadata": FULL_TASK.replace("year: 2024", "year: 2025"),
        "category_label": FULL_TASK.replace("COLOURS OF THE RAINBOW", "COLOURS"),
    }
    changed_rules = {
        "prompt": {"encode_targets"},
        "match": {"sample", "metrics"},
        "metadata": set(),  # provenance only
        "category_label": set(),  # tables get it through their own labels params
    }
    for field, body in edits.items():
        edited = load_task_file(write(tmp_path, f"{field}.yaml", body))["colours/rainbow"]
        assert edited.to_params() != original.to_params(), field
        rules = ("encode_targets", "sample", "metrics", "figure1")
        differs = {rule for rule in rules if edited.to_params(rule) != original.to_params(rule)}
        assert differs == changed_rules[field], field


def test_task_params_do_not_depend_on_the_checkout_or_key_order(tmp_path):
    from diffuse.tasks import RULE_FIELDS

    here, there = tmp_path / "checkout", tmp_path / "elsewhere" / "checkout"
    here.mkdir()
    there.mkdir(parents=True)
    reordered = FULL_TASK.replace("{source: test, year: 2024}", "{year: 2024, source: test}")
    first = load_task_file(write(here, "colours.yaml", FULL_TASK))["colours/rainbow"]
    second = load_task_file(write(there, "colours.yaml", reordered))["colours/rainbow"]
    assert first.source != second.source and first == second
    for rule in (None, *RULE_FIELDS):
        assert first.to_params(rule) == second.to_params(rule)
        assert repr(first.to_params(rule)) == repr(second.to_params(rule)), rule  # what Snakemake stores
        assert str(tmp_path) not in repr(first.to_params(rule))


def test_a_rule_cannot_read_a_field_its_params_lack(tmp_path):
    from diffuse.tasks import RULE_FIELDS, TASK_FIELDS, Task

    task = load_task_file(write(tmp_path, "colours.yaml", FULL_TASK))["colours/rainbow"]
    assert all(set(fields) <= set(TASK_FIELDS) for fields in RULE_FIELDS.values())
    sample = Task.from_params(task.to_params("sample"))
    carried = (sample.id, sample.match, sample.parser, sample.response_prefix)
    assert carried == ("colours/rainbow", "casefold", "braces", "Colour: ")
    with pytest.raises(AttributeError, match=r"'prompt' is not in this rule's params"):
        _ = sample.prompt
    with pytest.raises(AttributeError, match=r"'targets' is not in this rule's params"):
        _ = sample.target_file  # through a property too
    assert "prompt" not in repr(sample)
    with pytest.raises(TaskError, match="unknown fields"):
        Task.from_params({**task.to_params(), "sorce": "x"})


def test_each_rules_fields_are_enough_for_its_step(tokenizer, tmp_path):
    """encode_targets, sample and metrics give the same results from their params as from the whole task."""
    from diffuse.evaluate import natural_distribution
    from diffuse.sampling import parse_samples
    from diffuse.targets import encode_task
    from diffuse.tasks import Task

    body = FULL_TASK.replace('response_prefix: "Colour: "', 'response_prefix: ""').replace(
        'target_format: "<{value}>"', 'target_format: "{{{value}}}"'
    )
    task = load_task_file(write(tmp_path, "colours.yaml", body))["colours/rainbow"]
    assert encode_task(tokenizer, Task.from_params(task.to_params("encode_targets"))) == encode_task(
        tokenizer, task
    )
    texts = ["{red}", "{Blue} and more", "no braces"]
    assert parse_samples(Task.from_params(task.to_params("sample")), texts) == parse_samples(task, texts)
    values = ["Red", "Green", "Blue"]
    metrics = Task.from_params(task.to_params("metrics"))
    assert natural_distribution(metrics, values) == natural_distribution(task, values)


def test_train_params_round_trip():
    import yaml
    from conftest import REPO

    from diffuse.config import train_params, train_settings
    from diffuse.train import TrainSettings

    config = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    config["trainsets"]["rng"] = {"tasks": ["numbers/rng"]}
    trainsets = config["trainsets"]
    params = train_params(config, trainsets, "rng")
    assert only_builtins(params) and TrainSettings(**params) == train_settings(config, trainsets, "rng")
    assert params["learning_rate"] == 1.0e-3 and params["target_modules"] == ["q_proj", "v_proj"]
    # A trainset's own override shows in its params; an edit of the global block in every trainset's.
    tuned = train_params(config, trainsets, "rng-ranges")
    own = {"max_steps", "batch_size"}  # smoke.yaml's overrides for rng-ranges
    assert tuned["max_steps"] == 2 and tuned["batch_size"] == 32 != params["batch_size"]
    assert {k: v for k, v in tuned.items() if k not in own} == {
        k: v for k, v in params.items() if k not in own
    }
    config["training"]["learning_rate"] = 2e-3
    assert (
        train_params(config, trainsets, "rng")["learning_rate"] == 2e-3
        and train_params(config, trainsets, "rng") != params
    )
