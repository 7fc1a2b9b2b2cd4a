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
