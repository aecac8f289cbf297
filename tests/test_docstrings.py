"""The examples in the public docstrings run and print what they say."""
import doctest
import importlib

import pytest

MODULES = ["annokit.model", "annokit.errors", "annokit.fileio", "annokit.geometry",
           "annokit.progress", "annokit.checks", "annokit.split", "annokit.points",
           "annokit.evaluate", "annokit.labels", "annokit.checks.registry", "annokit.images",
           "annokit.formats", "annokit.formats.layout",
           "annokit.bits", "annokit.formats.target"]  # modules whose examples need no data


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no runnable example"
    assert result.failed == 0, f"{result.failed} docstring examples failed in {name}"
