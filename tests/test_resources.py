"""Resources (what a trial needs) and GpuPool (which devices a trial gets)."""

from __future__ import annotations

import pytest

from hypersweep.errors import SpecError
from hypersweep.resources import (
    GpuPool,
    Resources,
    concurrency,
    cuda_visible_devices,
    parse_devices,
    visible_devices,
)


def test_parse_reads_the_sweep_file_mapping_and_round_trips() -> None:
    r = Resources.parse({"gpus": 0.5, "cpus": 2, "custom": {"tpu": 1}}, "resources")
    assert (r.cpus, r.gpus, dict(r.custom)) == (2.0, 0.5, {"tpu": 1.0})
    assert Resources.parse(r.to_dict()) == r
    assert hash(Resources.parse(r.to_dict())) == hash(r)
    assert Resources.parse(None) == Resources(cpus=1.0, gpus=0.0)


@pytest.mark.parametrize(
    ("value", "start"),
    [
        ({"gpu": 1}, "resources.gpu: unknown key (did you mean 'gpus'?)"),
        ({"gpus": -1}, "resources.gpus: must be a finite number >= 0"),
        ({"gpus": 1.5}, "resources.gpus: below 1 is a share of one device"),
        ({"cpus": "two"}, "resources.cpus: must be a finite number"),
        ({"custom": {"tpu": -2}}, "resources.custom.tpu: must be a finite number >= 0"),
        ({"custom": [1]}, "resources.custom: must be a mapping"),
        (3, "resources: must be a mapping"),
    ],
)
def test_parse_errors_are_one_line_naming_the_key(value: object, start: str) -> None:
    with pytest.raises(SpecError) as e:
        Resources.parse(value, "resources")
    assert str(e.value).startswith(start)
    assert "\n" not in str(e.value)


def test_parse_errors_name_the_given_path() -> None:
    with pytest.raises(SpecError, match=r"^trial\.resources\.gpus: "):
        Resources.parse({"gpus": -1}, "trial.resources")


def test_half_gpus_pack_two_trials_per_device_before_using_the_next() -> None:
    pool = GpuPool(["0", "1"])
    got = [pool.acquire(0.5) for _ in range(4)]
    assert got == [["0"], ["0"], ["1"], ["1"]]
    assert pool.acquire(0.5) is None
    pool.release(["1"], 0.5)
    assert pool.acquire(0.5) == ["1"]


def test_thirds_fit_exactly_and_whole_devices_need_an_idle_device() -> None:
    pool = GpuPool(["a", "b", "c"])
    assert [pool.acquire(1 / 3) for _ in range(3)] == [["a"]] * 3
    assert pool.acquire(2) == ["b", "c"]
    assert pool.acquire(1) is None
    pool.release(["a"], 1 / 3)
    assert pool.acquire(1) is None  # "a" still holds two thirds
    assert pool.acquire(0.25) == ["a"]
    pool.release(["b", "c"], 2)
    assert pool.acquire(1) == ["b"]


def test_a_trial_without_gpus_gets_no_device() -> None:
    pool = GpuPool([])
    assert pool.acquire(0) == []
    assert pool.acquire(1) is None
    assert cuda_visible_devices([]) == ""
    assert cuda_visible_devices(["2", "3"]) == "2,3"


def test_release_of_an_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError, match="not in this pool"):
        GpuPool(["0"]).release(["7"], 1)


def test_concurrency_follows_from_gpus_and_cpus() -> None:
    assert concurrency(Resources(gpus=0.5, cpus=1), ["0", "1"], cpus=16) == 4
    assert concurrency(Resources(gpus=1, cpus=4), ["0", "1", "2", "3"], cpus=8) == 2
    assert concurrency(Resources(gpus=2, cpus=0), ["0", "1", "2"], cpus=8) == 1
    assert concurrency(Resources(gpus=1), [], cpus=8) == 0
    assert concurrency(Resources(cpus=3), [], cpus=8) == 2
    assert concurrency(Resources(cpus=16), [], cpus=8) == 1


def test_devices_come_from_the_flag_or_cuda_visible_devices() -> None:
    assert parse_devices("0,1, 2") == ["0", "1", "2"]
    assert parse_devices("none") == []
    with pytest.raises(SpecError, match="listed twice"):
        parse_devices("0,0")
    with pytest.raises(SpecError, match="empty device id"):
        parse_devices("0,,1")
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "3,1"}) == ["3", "1"]
    assert visible_devices({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_devices({"CUDA_VISIBLE_DEVICES": "-1"}) == []
