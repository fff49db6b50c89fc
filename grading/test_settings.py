"""Tests of the grading settings file and its loader."""

from pathlib import Path

import pytest

from grading.settings import SettingsError, load_settings


def test_the_default_settings_give_the_classic_points() -> None:
    settings = load_settings()
    names = [test.name for test in settings.points.partA]
    assert names == [f"test_basic{n}" for n in range(1, 7)] + [
        "test_count1",
        "test_count2",
        "test_slow_client1",
        "test_slow_client2",
    ]
    assert settings.points.partA[-1].nodeid == (
        "partA/test_slow_client.py::TestSlowClient::test_slow_client2"
    )
    assert (settings.points.partB, settings.points.format) == (5, 1)
    assert settings.max_score == 16
    assert "threading.Lock" in settings.rules.forbidden


def test_overrides_change_one_value_or_replace_the_partA_table() -> None:
    settings = load_settings(
        overrides={
            "runs": {"test_seconds": 5},
            "points": {"partA": {"TestCount": {"test_count1": 2}}},
        }
    )
    assert settings.runs.test_seconds == 5
    assert settings.runs.call_seconds == 10  # the others stay
    assert [(t.name, t.points) for t in settings.points.partA] == [("test_count1", 2)]
    assert settings.max_score == 8


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"runs": {"test_secs": 5}}, "unknown setting runs.test_secs"),
        ({"visibility": {"tests": "shown"}}, "visibility.tests must be one of"),
        ({"sandbox": {"network": "none"}}, 'sandbox.network must be "private"'),
        ({"points": {"partB": -1}}, "points.partB must be a number of at least 0"),
        ({"rules": {"costs_points": "yes"}}, "rules.costs_points must be true or"),
        ({"sandbox": {"processes": 1.5}}, "sandbox.processes must be a whole number"),
    ],
)
def test_a_bad_setting_is_named(overrides: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(overrides=overrides)


def test_a_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("[points\n")
    with pytest.raises(SettingsError, match="settings.toml"):
        load_settings(path)
