"""Tests of the grading settings file and its loader."""

import re
from pathlib import Path

import pytest

from grading.__main__ import main
from grading.settings import DEFAULT_PATH, SettingsError, kit_tests, load_settings


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
        ({"handout": {"platform": "moodle"}}, "handout.platform must be one of"),
        (
            {"handout": {"platform": "prairielearn"}, "partC": {"enabled": True}},
            "PrairieLearn question takes",
        ),
        ({"policy": {"cross_cutting": "sometimes"}}, "policy.cross_cutting must be"),
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


# ----- the tests a setting names, checked against the kit's ---------------------

DEFAULT = DEFAULT_PATH.read_text()


def settings_file(tmp_path: Path, old: str, new: str) -> Path:
    """The default settings file with the line ``old`` made ``new``."""
    assert old in DEFAULT
    path = tmp_path / "settings.toml"
    path.write_text(DEFAULT.replace(old, new, 1))
    return path


def settings_with(folder: Path, partA: str, **points: float) -> Path:
    """The default settings file, its partA tables replaced by ``partA`` (TOML)
    and the ``points`` given (e.g. partB=0) set; for the tests of other verbs."""
    start = DEFAULT.index("\n[points.partA.TestBasic]") + 1
    rest = DEFAULT[DEFAULT.index("[points]\n") :]
    for key, value in points.items():
        rest = re.sub(rf"^{key} = .*$", f"{key} = {value}", rest, count=1, flags=re.M)
    path = folder / "settings-with.toml"
    path.write_text(DEFAULT[:start] + partA + "\n\n" + rest)
    return path


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def test_the_kit_tests_are_collected_by_pytest() -> None:
    known = kit_tests()
    assert "partA/test_basic.py::TestBasic::test_basic6" in known
    # a module's functions, a parametrized one once, without its cases
    assert "partA/test_robustness.py::test_bad_line_is_skipped" in known
    assert "partA/test_fuzz.py::test_valid_requests_cut_anywhere" in known
    assert not any("[" in nodeid for nodeid in known)


def test_the_kits_own_settings_name_only_tests_the_kit_has() -> None:
    """Reading the kit's own settings collects nothing (see _the_kits_own):
    this is where the tests they name are checked."""
    from grading.settings import check_test

    path = DEFAULT_PATH
    for test in load_settings().points.partA:
        check_test(test, path, path.read_text(encoding="utf-8"))


def test_a_misspelt_test_is_refused_with_its_line_and_close_names(
    tmp_path: Path,
) -> None:
    path = settings_file(
        tmp_path, "test_basic6 = 1\n", "test_basic6 = 1\ntest_basik7 = 1\n"
    )
    with pytest.raises(SettingsError) as refused:
        load_settings(path)
    said = str(refused.value)
    assert f"{path}:{line_of(path, 'test_basik7 = 1')}:" in said
    assert "points.partA.TestBasic.test_basik7 names no test of the kit" in said
    assert "did you mean TestBasic.test_basic" in said


def test_a_class_named_for_a_module_test_points_to_the_module(
    tmp_path: Path,
) -> None:
    path = settings_file(
        tmp_path,
        "[points.partA.TestCount]",
        "[points.partA.TestRobustness]\ntest_bad_line_is_skipped = 1\n\n"
        "[points.partA.TestCount]",
    )
    with pytest.raises(SettingsError, match=r"did you mean test_robustness\."):
        load_settings(path)


def test_a_test_of_a_module_is_named_by_its_module(tmp_path: Path) -> None:
    path = settings_file(
        tmp_path,
        "[points.partA.TestCount]",
        "[points.partA.test_robustness]      # functions of the module\n"
        "test_bad_line_is_skipped = 2\n\n[points.partA.TestCount]",
    )
    tests = {test.name: test for test in load_settings(path).points.partA}
    robust = tests["test_bad_line_is_skipped"]
    assert robust.nodeid == "partA/test_robustness.py::test_bad_line_is_skipped"
    assert robust.points == 2
    assert load_settings(path).max_score == 18


def test_a_misspelt_test_in_the_overrides_is_refused() -> None:
    partA = {"TestBasic": {"test_basic1": 1}, "test_fuzz": {"test_fuz": 1}}
    with pytest.raises(SettingsError, match="or its overrides.*test_fuzz.test_fuz"):
        load_settings(overrides={"points": {"partA": partA}})


@pytest.mark.parametrize(
    "verb",
    [
        ["grade", "{tmp}/alice.zip"],
        ["batch", "{tmp}"],
        ["autograder", "{tmp}/p0.zip"],
        ["prairielearn", "{tmp}/course"],
        ["selfcheck"],
        ["handout", "{tmp}/student"],
    ],
)
def test_every_verb_refuses_a_misspelt_test(
    tmp_path: Path, verb: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = settings_file(tmp_path, "test_count2 = 1", "test_count3 = 1")
    argv = [arg.format(tmp=tmp_path) for arg in verb]
    assert main([*argv, "--settings", str(path)]) == 2
    said = capsys.readouterr().err
    assert f"{verb[0]}: {path}:{line_of(path, 'test_count3 = 1')}: " in said
    assert "did you mean TestCount.test_count" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["settings.toml"]


def test_without_the_test_tools_the_settings_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kit's tests cannot be collected: say so, and how to fix it."""
    from grading import settings

    monkeypatch.setattr(settings, "TEST_TOOLS", ("pytest", "no_such_tool"))
    with pytest.raises(SettingsError, match="no_such_tool not installed for .*test"):
        settings.collect_tests(settings.KIT_ROOT, "a digest of files no one has seen")


def test_settings_with_replaces_the_partA_tables(tmp_path: Path) -> None:
    partA = "[points.partA.test_fuzz]\ntest_valid_requests_cut_anywhere = 3"
    settings = load_settings(settings_with(tmp_path, partA, partB=0))
    assert [(t.suite, t.name, t.points) for t in settings.points.partA] == [
        ("test_fuzz", "test_valid_requests_cut_anywhere", 3)
    ]
    assert (settings.points.partB, settings.points.format) == (0, 1)
