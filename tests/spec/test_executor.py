"""The ``executor:`` key of the sweep file."""

from __future__ import annotations

import pytest

from hypersweep.errors import SpecError
from hypersweep.spec import SweepFileError, load_text
from hypersweep.spec.executor import ExecutorSpec, parse_executor

BASE = """\
name: e
command: python train.py --x {x}
space: {x: uniform(0, 1)}
objective: {metric: loss, goal: minimize}
"""


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (None, ExecutorSpec()),
        ("local", ExecutorSpec()),
        ("ray", ExecutorSpec("ray", "auto")),
        ({"ray": None}, ExecutorSpec("ray", "auto")),
        ({"ray": {"address": "auto"}}, ExecutorSpec("ray", "auto")),
        ({"ray": {"address": "10.0.0.5:6379"}}, ExecutorSpec("ray", "10.0.0.5:6379")),
        ({"ray": {"address": "ray://head:10001"}}, ExecutorSpec("ray", "ray://head:10001")),
        ({"ray": {"namespace": "hpo"}}, ExecutorSpec("ray", "auto", "hpo")),
    ],
)
def test_accepted_values(value: object, want: ExecutorSpec) -> None:
    assert parse_executor(value) == want


@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ("rya", "executor", "did you mean 'ray'"),
        ({"rya": {}}, "executor.rya", "did you mean 'ray'"),
        ({"ray": {"adress": "auto"}}, "executor.ray.adress", "did you mean 'address'"),
        ({"ray": {"address": "my head"}}, "executor.ray.address", "HOST:PORT"),
        ({"ray": {"address": 6379}}, "executor.ray.address", "HOST:PORT"),
        ({"ray": "auto"}, "executor.ray", "mapping"),
        ({"ray": {}, "local": {}}, "executor", "expected local or"),
    ],
)
def test_refused_values_name_the_key_and_the_fix(value: object, path: str, words: str) -> None:
    with pytest.raises(SpecError) as e:
        parse_executor(value)
    assert e.value.path == path
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_sweep_file_key_is_parsed_and_located() -> None:
    spec = load_text(BASE + "executor: {ray: {address: '127.0.0.1:6380'}}\n", "s.yaml")
    assert spec.executor == ExecutorSpec("ray", "127.0.0.1:6380")
    assert load_text(BASE, "s.yaml").executor == ExecutorSpec()
    with pytest.raises(SweepFileError) as e:
        load_text(BASE + "executor: {ray: {adress: auto}}\n", "s.yaml")
    assert str(e.value).startswith("s.yaml:5 executor.ray.adress: unknown key")
