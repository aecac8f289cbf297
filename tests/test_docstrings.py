"""The examples in every module's docstrings run and print what they say."""
import doctest
import importlib
import pkgutil

import pytest

import annokit

ALL_MODULES = sorted(m.name for m in pkgutil.walk_packages(annokit.__path__, "annokit."))
# modules whose examples need no data: each must have at least one that runs
RUNNABLE = ["annokit.model", "annokit.errors", "annokit.fileio", "annokit.geometry",
            "annokit.progress", "annokit.checks", "annokit.split", "annokit.points",
            "annokit.evaluate", "annokit.labels", "annokit.checks.registry", "annokit.images",
            "annokit.formats", "annokit.formats.layout", "annokit.bits",
            "annokit.formats.target", "annokit.parallel", "annokit.score.calibrate",
            "annokit.score.contract", "annokit.score.match", "annokit.score.overlap",
            "annokit.score.registry", "annokit.score.samples", "annokit.score.features",
            "annokit.score.models", "annokit.score.detection", "annokit.edit.where",
            "annokit.edit.classes", "annokit.edit.merge", "annokit.integrations.fiftyone.app",
            "annokit.integrations.fiftyone.build", "annokit.integrations.fiftyone.database",
            "annokit.integrations.fiftyone.documents", "annokit.integrations.fiftyone.fields",
            "annokit.integrations.fiftyone.files", "annokit.integrations.fiftyone.provenance",
            "annokit.integrations.fiftyone.tables"]


@pytest.mark.parametrize("name", ALL_MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as e:  # an optional extra (FiftyOne, torch) is not installed
        pytest.skip(f"{name} needs {e.name}, not installed here")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring examples failed in {name}"
    if name in RUNNABLE:
        assert result.attempted > 0, f"{name} has no runnable example"


def test_the_runnable_list_names_real_modules():
    assert set(RUNNABLE) <= set(ALL_MODULES)
