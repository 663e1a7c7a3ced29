import subprocess
import sys


def test_import_does_not_load_heavy_libraries():
    code = (
        "import sys, jupyter_speechcustom as s; "
        "heavy = [m for m in ('torch', 'nemo', 'lightning', 'matplotlib', 'ipywidgets') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve_lazily():
    import jupyter_speechcustom as s

    assert callable(s.load_base_model)
    assert callable(s.install_kenlm_builders)
    assert "load_base_model" in dir(s)
    try:
        s.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("unknown attribute did not raise")
