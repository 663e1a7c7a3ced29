import shutil

import pytest

from jupyter_speechcustom import load_base_model
from jupyter_speechcustom.demo import model_path as demo_model_path
from jupyter_speechcustom.errors import ModelLoadError, ModelNotFoundError


def test_demo_model_loads_with_identity(demo_model):
    # The demo is of the family users bring: a hybrid TDT + CTC FastConformer with a BPE tokenizer.
    assert demo_model.name == "demo"
    assert type(demo_model.family).__name__ == "HybridFamily"
    assert type(demo_model.asr_model).__name__ == "EncDecHybridRNNTCTCBPEModel"
    assert not demo_model.is_character_model
    assert len(demo_model.vocabulary) == 256 and demo_model.blank_id == 256
    assert demo_model.ids_to_text(demo_model.text_to_ids("the kubectl pod")) == "the kubectl pod"
    assert demo_model.sample_rate == 16_000
    assert len(demo_model.fingerprint) == 16
    assert demo_model_path().stat().st_size <= 25 * 1024 * 1024


def test_character_demo_model_loads_with_identity():
    model = load_base_model("demo-char")
    assert model.name == "demo-char"
    assert model.vocabulary == [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]
    assert model.blank_id == 28
    assert model.is_character_model
    assert model.text_to_ids("ab c") == [1, 2, 0, 3]
    assert model.path.stat().st_size <= 10 * 1024 * 1024


def test_nemo_path_loads_same_fingerprint(tmp_path, demo_model):
    copy = tmp_path / "copy.nemo"
    shutil.copy(demo_model_path(), copy)
    model = load_base_model(copy)
    assert model.fingerprint == demo_model.fingerprint
    assert model.path == copy.resolve()


def test_unknown_name_suggests_and_explains():
    with pytest.raises(ModelNotFoundError) as err:
        load_base_model("stt_en_conformer_ctc_smal")
    message = str(err.value)
    assert "stt_en_conformer_ctc_small" in message  # close match offered
    assert ".nemo" in message and "'demo'" in message


def test_hub_name_without_network_says_how_to_work_offline():
    with pytest.raises(ModelNotFoundError) as err:
        load_base_model("nvidia/no-such-model-for-speechcustom-tests")
    assert ".nemo" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model file"):
        load_base_model(tmp_path / "missing.nemo")


def test_corrupt_nemo(tmp_path):
    junk = tmp_path / "junk.nemo"
    junk.write_bytes(b"not a tar archive" * 100)
    with pytest.raises(ModelLoadError, match="not a .nemo archive"):
        load_base_model(junk)


def test_truncated_nemo(tmp_path):
    truncated = tmp_path / "truncated.nemo"
    data = demo_model_path().read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError) as err:
        load_base_model(truncated)
    assert "re-download or re-export" in str(err.value)
