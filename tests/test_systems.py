"""The System value type: names, what each system uses, and unknown names refused with the choices."""

from __future__ import annotations

import pytest

from jupyter_speechcustom.errors import InvalidOptionError
from jupyter_speechcustom.services.explorer import system_name
from jupyter_speechcustom.services.systems import SYSTEMS, System


def test_each_system_says_what_it_uses():
    assert [s.name for s in SYSTEMS] == ["base", "+LM", "+AM", "+AM+LM"]
    assert [(s.lm, s.am, s.acoustic) for s in SYSTEMS] == [
        (False, False, "base"), (True, False, "base"), (False, True, "am"), (True, True, "am")]
    assert [System.parse(s.name) for s in SYSTEMS] == list(SYSTEMS)
    assert System.all(["+AM+LM", System()]) == [System(lm=True, am=True), System()]
    assert str(System(am=True)) == "+AM" and system_name(lm=True, am=False) == "+LM"


@pytest.mark.parametrize("name", ["LM", "+lm", "base+LM", "", "+AM+LM "])
def test_an_unknown_system_is_refused_with_the_choices(name):
    with pytest.raises(InvalidOptionError, match=r"unknown system .*choose from base, \+LM, \+AM, \+AM\+LM"):
        System.parse(name)
