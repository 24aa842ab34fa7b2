"""Native sweep files written with Azure ML / W&B names: hints to the right key or type."""

from __future__ import annotations

import pytest

from hypersweep.spec import SweepFileError, load_text

HEAD = "name: demo\ncommand: python t.py --lr {lr}\nobjective: {metric: loss, goal: minimize}\n"


def err(text: str) -> str:
    with pytest.raises(SweepFileError) as e:
        load_text(text, "s.yaml")
    return str(e.value)


@pytest.mark.parametrize(
    ("key", "native"),
    [
        ("search_space", "space"),
        ("sampling_algorithm", "sampler"),
        ("early_termination", "early_stopping"),
        ("early_terminate", "early_stopping"),
        ("run_cap", "limits.max_trials"),
    ],
)
def test_top_level_foreign_keys_point_to_the_native_key(key: str, native: str) -> None:
    msg = err(HEAD + "space: {lr: uniform(0, 1)}\n" + f"{key}: 1\n")
    assert f"unknown key {key!r} (did you mean {native!r}?" in msg


def test_nested_foreign_keys() -> None:
    msg = err(HEAD + "space: {lr: uniform(0, 1)}\nlimits: {max_total_trials: 5}\n")
    assert "(did you mean 'max_trials'?" in msg
    msg = err(
        "name: demo\ncommand: python t.py --lr {lr}\nspace: {lr: uniform(0, 1)}\n"
        "objective: {primary_metric: loss, goal: minimize}\n"
    )
    assert "(did you mean 'metric'?" in msg


@pytest.mark.parametrize(
    ("param", "words"),
    [
        ("{type: uniform, min_value: 0, max_value: 1}", "did you mean 'low'?"),
        ("{type: int_uniform, low: 1, high: 8}", "did you mean 'int'"),
        ("{type: log_uniform, low: -9, high: -2}", "exponents"),
        ("{type: categorical, values: [1, 2]}", "did you mean 'choice'"),
        ("int_uniform(1, 8)", "did you mean 'int'"),
        ("{distribution: uniform, low: 0, high: 1}", "did you mean 'type'?"),
        ("{min: 0, max: 1}", "type: uniform (floats) or type: int"),
    ],
)
def test_parameter_hints(param: str, words: str) -> None:
    msg = err(HEAD + f"space:\n  lr: {param}\n")
    assert words in msg, msg
    assert msg.startswith("s.yaml:")


def test_log_uniform_hint_spells_out_the_exponent_semantics() -> None:
    msg = err(HEAD + "space:\n  lr: {type: log_uniform, low: -9, high: -2}\n")
    assert "e^-9" in msg and "loguniform" in msg


def test_wandb_values_and_value_without_a_type_are_accepted() -> None:
    spec = load_text(
        "name: demo\ncommand: python t.py --lr {lr} --e {epochs}\n"
        "objective: {metric: loss, goal: minimize}\n"
        "space:\n  lr: {values: [0.1, 0.01]}\n  epochs: {value: 27}\n",
        "s.yaml",
    )
    assert spec.space.to_spec() == {"lr": {"choice": [0.1, 0.01]}, "epochs": 27}


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("python t.py --lr ${{search_space.lr}}", "write {lr}"),
        ("python t.py --lr ${{ inputs.x }}", "write {name}"),
        ("python t.py ${args}", "W&B"),
    ],
)
def test_foreign_placeholders_in_a_native_command_never_reach_the_script(
    command: str, words: str
) -> None:
    msg = err(
        f"name: demo\ncommand: '{command}'\nobjective: {{metric: loss, goal: minimize}}\n"
        "space: {lr: uniform(0, 1)}\n"
    )
    assert words in msg and "would reach the script" in msg, msg
