"""internals.config.read_toml_config: the one TOML reader behind every config's `from_toml`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from internals import InternalsError
from internals.analyses.cutoff import CutoffConfig
from internals.analyses.factcheckmate import ProbeConfig
from internals.config import read_toml_config


@dataclass
class _Config:
    name: str
    n: int = 1


def test_reads_the_section_or_the_top_level(tmp_path):
    (tmp_path / "a.toml").write_text('[probe]\nname = "x"\nn = 3\n')
    (tmp_path / "b.toml").write_text('name = "y"\n')
    assert read_toml_config(tmp_path / "a.toml", _Config, section="probe") == {"name": "x", "n": 3}
    assert read_toml_config(tmp_path / "b.toml", _Config, section="probe") == {"name": "y"}


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "does not exist: give the path of a TOML file"),
        ("name = ", "is not valid TOML"),
        ('name = "x"\nnn = 2\n', "unknown key(s) nn in"),
    ],
)
def test_one_error_per_mistake(tmp_path, text, message):
    path = tmp_path / "c.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InternalsError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        read_toml_config(path, _Config)
    assert "\n" not in str(err.value)


def test_both_configs_read_through_it(tmp_path):
    """The same typo gives the same message from the probe and the cutoff configs."""
    (tmp_path / "p.toml").write_text('[probe]\ndataset = "qa_wikidata"\nlayers = 3\n')
    (tmp_path / "c.toml").write_text('datasets = ["disfl_qa"]\nlayers = 3\n')
    for cls, path in ((ProbeConfig, tmp_path / "p.toml"), (CutoffConfig, tmp_path / "c.toml")):
        with pytest.raises(InternalsError, match=r"unknown key\(s\) layers in .*: use "):
            cls.from_toml(path)
    (tmp_path / "p.toml").write_text('[probe]\ndataset = "qa_wikidata"\n')
    assert ProbeConfig.from_toml(tmp_path / "p.toml").name == "p"  # the file's stem
