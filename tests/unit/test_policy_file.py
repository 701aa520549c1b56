"""The policy file's one reader: every part reports an unusable file the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from classifiers.policy import load_policy
from connectors.actions import actions_enabled
from connectors.settings import ConnectorSettingsError
from records.policy import PolicyError, PolicyInvalid, PolicyUnreadable, read_policy
from records.retention import load_retention
from worker.moderation.policy import load_moderation_config
from worker.sla.policy import load_sla_policy

LOADERS: dict[str, Callable[[Path], Any]] = {
    "classification": load_policy,
    "moderation": load_moderation_config,
    "sla": load_sla_policy,
    "retention": load_retention,
}


@pytest.mark.parametrize("part", sorted(LOADERS))
def test_a_missing_file_is_the_same_error_for_every_part(tmp_path, part):
    """Each part's loader refuses a missing file with PolicyUnreadable naming the file."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(PolicyUnreadable) as error:
        LOADERS[part](path)
    assert str(error.value) == f"policy file {path}: cannot read (No such file or directory)"


@pytest.mark.parametrize("part", sorted(LOADERS))
def test_bad_yaml_names_the_file_and_line_for_every_part(tmp_path, part):
    """Each part's loader refuses a file that is not YAML, naming the file and the line."""
    path = tmp_path / "policy.yaml"
    path.write_text("retention: {}\nclassification: [\n", encoding="utf-8")
    with pytest.raises(PolicyUnreadable) as error:
        LOADERS[part](path)
    assert str(error.value).startswith(f"policy file {path}: not valid YAML at line ")


@pytest.mark.parametrize("part", sorted(LOADERS))
def test_a_list_at_the_top_is_invalid_for_every_part(tmp_path, part):
    """A file whose top level is not a mapping of sections is PolicyInvalid for every part."""
    path = tmp_path / "policy.yaml"
    path.write_text("- classification\n", encoding="utf-8")
    with pytest.raises(PolicyInvalid, match="expected a mapping of sections at the top level"):
        LOADERS[part](path)


def test_a_bad_section_names_the_file_and_the_key(tmp_path):
    """A wrong value in a section is a PolicyError naming the file and the full key."""
    path = tmp_path / "policy.yaml"
    path.write_text("working_time:\n  timezone: Mars/Olympus\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=rf"^policy file {path}: working_time\.timezone: "):
        load_sla_policy(path)


def test_an_empty_file_has_no_sections(tmp_path):
    """An empty file reads as no sections, so the parts that have defaults use them."""
    path = tmp_path / "policy.yaml"
    path.write_text("", encoding="utf-8")
    assert read_policy(path) == {}
    assert load_sla_policy(path).working_time.timezone == "Europe/London"


def test_the_connectors_report_the_same_error_with_the_setting(tmp_path):
    """The actions connector passes the reader's message on, naming TRIAGE_POLICY."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConnectorSettingsError) as error:
        actions_enabled(path)
    assert str(error.value) == (
        f"policy file {path}: cannot read (No such file or directory) (TRIAGE_POLICY)"
    )
