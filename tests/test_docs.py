"""Every registered loss's docstring carries a formula and an example that runs as a doctest."""

import doctest

import pytest

import losskit as lk

NAMES = lk.available(aliases=False)


@pytest.mark.parametrize("name", NAMES)
def test_docstring_example_runs(name):
    fn = lk.get(name)
    doc = fn.__doc__ or ""
    assert ">>>" in doc, f"{name}: no doctest example"
    test = doctest.DocTestParser().get_doctest(doc, {}, name, None, 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0 and runner.tries > 0, runner.summarize(verbose=False)


@pytest.mark.parametrize("name", NAMES)
def test_record_metadata_is_complete(name):
    rec = lk.get(name).record
    assert rec.summary and rec.inputs and rec.task
    assert rec.structure in ("elementwise", "distribution", "overlap")
    doc = rec.doc.lower()
    assert "peers:" in doc or any(peer in doc for peer in ("torch", "keras", "optax", "monai", "sklearn", "scipy")), (
        f"{name}: the docstring names no peer convention"
    )
