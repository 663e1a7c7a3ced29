"""The IBM Watson STT v1-compatible API, driven by the official ``ibm-watson`` SDK against a real server.

A real ``jupyter server`` (the extension enabled by the package's enable file, copied into the
test's own ``JUPYTER_CONFIG_DIR``) and a real ``speechcustom serve`` run on 127.0.0.1 with a
known token; the SDK talks to them unchanged (``BearerTokenAuthenticator`` and
``set_service_url(url + "speechcustom/api")``).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("ibm_watson", reason="the official IBM Watson SDK: pip install -e '.[test]'")

from helpers.audio import wav_bytes
from helpers.server import (
    DOMAIN,
    REPO,
    UPLOAD_LIMIT,
    Server,
    api_request,
    domain_test_items,
    free_port,
    jupyter_env,
    start_server,
    stop_server,
    wait_status,
)
from ibm_cloud_sdk_core.authenticators import BearerTokenAuthenticator
from ibm_watson import ApiException, SpeechToTextV1

from jupyter_speechcustom.evaluation.metrics import evaluate

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def stt(server: Server) -> SpeechToTextV1:
    return server.client()


def test_enable_file_enables_the_extension(tmp_path: Path) -> None:
    """`jupyter server extension list` finds the extension enabled and valid through the shipped enable file."""
    env = jupyter_env(tmp_path)
    out = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"], env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.stdout + out.stderr)  # no colours
    assert "jupyter_speechcustom enabled" in text, text
    assert "OK" in text.split("jupyter_speechcustom enabled", 1)[1], text
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '"etc/jupyter/jupyter_server_config.d" = ["jupyter-config/jupyter_server_config.d/' in pyproject


def test_list_and_get_models(stt: SpeechToTextV1) -> None:
    models = stt.list_models().get_result()["models"]
    assert "demo" in [m["name"] for m in models]
    demo = stt.get_model("demo").get_result()
    assert demo["name"] == "demo" and demo["rate"] == 16000
    assert demo["supported_features"]["custom_language_model"] is True
    with pytest.raises(ApiException) as err:
        stt.get_model("no-such-model")
    assert err.value.code == 404


def test_audio_without_speech_gets_no_words_and_a_warning(stt: SpeechToTextV1) -> None:
    tone = wav_bytes(3.0)
    response = stt.recognize(tone, content_type="audio/wav", model="demo").get_result()
    assert response["results"] == [] and "No speech detected" in response["warnings"][0]
    # IBM's speech_detector_sensitivity: 1.0 suppresses nothing, so the tone is decoded and not flagged.
    response = stt.recognize(tone, content_type="audio/wav", model="demo",
                             speech_detector_sensitivity=1.0).get_result()
    assert "warnings" not in response
    with pytest.raises(ApiException) as err:
        stt.recognize(tone, content_type="audio/wav", model="demo", speech_detector_sensitivity=1.5)
    assert err.value.code == 400 and "speech_detector_sensitivity" in err.value.message


def test_authentication_and_errors(server: Server, stt: SpeechToTextV1) -> None:
    # No token: refused (jupyter_server's rules: 403 for API handlers), for reads and writes.
    status, body = api_request(server, "GET", "models", token=False)
    assert status in (401, 403)
    assert body["code"] == status and "error" in body
    status, _ = api_request(server, "POST", "customizations", json.dumps({"name": "x"}).encode(),
                     {"Content-Type": "application/json"}, token=False)
    assert status in (401, 403)
    wrong = SpeechToTextV1(authenticator=BearerTokenAuthenticator("not-the-token"))
    wrong.set_service_url(server.url + "speechcustom/api")
    with pytest.raises(ApiException) as err:
        wrong.list_language_models()
    assert err.value.code in (401, 403)
    # Unknown ids: 404 in IBM's shape.
    for path in ("customizations/lm-00000000", "acoustic_customizations/am-00000000",
                 "customizations/lm-00000000/corpora"):
        status, body = api_request(server, "GET", path)
        assert status == 404, (path, body)
        assert body["code"] == 404 and body["code_description"] == "Not Found" and body["error"]
    with pytest.raises(ApiException) as err:
        stt.get_language_model("lm-12345678")
    assert err.value.code == 404
    # Bad requests: 400; unsupported media: 415.
    status, body = api_request(server, "POST", "customizations", b"{not json", {"Content-Type": "application/json"})
    assert (status, body["code"], body["code_description"]) == (400, 400, "Bad Request")
    status, body = api_request(server, "POST", "recognize", b"hello", {"Content-Type": "text/plain"})
    assert status == 415 and body["code"] == 415
    status, body = api_request(server, "POST", "recognize?customization_weight=7", b"RIFF", {"Content-Type": "audio/wav"})
    assert status == 400 and "customization_weight" in body["error"]
    status, body = api_request(server, "POST", "recognize", b"not audio at all", {"Content-Type": "audio/wav"})
    assert status == 400 and body["code"] == 400
    # Over the workspace's upload limit: 413.
    cid = stt.create_language_model("too-big", "demo").get_result()["customization_id"]
    with pytest.raises(ApiException) as err:
        stt.add_corpus(cid, "huge", io.BytesIO(b"word " * (UPLOAD_LIMIT // 5 + 10)))
    assert err.value.code == 413
    # Refused before its body was read, the connection closes: the answer says so, and the client's next
    # request goes on a new connection.
    assert err.value.http_response.headers["Connection"] == "close"
    stt.delete_language_model(cid)


def test_language_customization(server: Server, stt: SpeechToTextV1) -> None:
    cid = stt.create_language_model("ops-calls", "demo", description="cloud operations").get_result()[
        "customization_id"]
    model = stt.get_language_model(cid).get_result()
    assert (model["name"], model["base_model_name"], model["status"]) == ("ops-calls", "demo", "pending")
    assert model["description"] == "cloud operations"
    assert cid in [m["customization_id"] for m in stt.list_language_models().get_result()["customizations"]]

    corpus = (
        "kubectl rollout undo the deployment in staging\n"
        "the terraform state is locked by another apply in staging\n"
        "check the grafana dashboard for the etcd latency\n"
    )
    stt.add_corpus(cid, "ops", io.BytesIO((DOMAIN / "corpus.txt").read_bytes() + corpus.encode()))
    corpora = stt.list_corpora(cid).get_result()["corpora"]
    assert [c["name"] for c in corpora] == ["ops"]
    assert corpora[0]["total_words"] > 100 and corpora[0]["status"] == "analyzed"
    assert corpora[0]["out_of_vocabulary_words"] >= 0
    assert stt.get_corpus(cid, "ops").get_result()["name"] == "ops"
    assert stt.get_language_model(cid).get_result()["status"] == "ready"

    stt.add_words(cid, [{"word": "kubectl", "sounds_like": ["cube control"]},
                        {"word": "nginx", "sounds_like": ["engine x"], "display_as": "NGINX"}])
    stt.add_word(cid, "grafana", sounds_like=["gruh fana"])
    words = {w["word"]: w for w in stt.list_words(cid).get_result()["words"]}
    assert set(words) == {"kubectl", "nginx", "grafana"}
    assert words["nginx"]["display_as"] == "NGINX" and words["kubectl"]["sounds_like"] == ["cube control"]
    assert stt.get_word(cid, "grafana").get_result()["sounds_like"] == ["gruh fana"]
    stt.delete_word(cid, "grafana")
    with pytest.raises(ApiException) as err:
        stt.get_word(cid, "grafana")
    assert err.value.code == 404

    stt.train_language_model(cid)
    model = wait_status(stt.get_language_model, cid)
    assert model["status"] == "available", model
    assert model["progress"] == 100

    items = domain_test_items()
    refs = [text for _, text in items]
    base_hyps, custom_hyps = [], []
    for audio, _ in items:
        base = stt.recognize(audio.read_bytes(), content_type="audio/ogg", model="demo", timestamps=True,
                             word_confidence=True).get_result()
        custom = stt.recognize(audio.read_bytes(), content_type="audio/ogg", model="demo",
                               language_customization_id=cid, customization_weight=0.3, timestamps=True,
                               word_confidence=True, max_alternatives=1).get_result()
        for response in (base, custom):
            assert response["result_index"] == 0
            result = response["results"][0]
            assert result["final"] is True
            alternative = result["alternatives"][0]
            assert isinstance(alternative["transcript"], str) and 0 <= alternative["confidence"] <= 1
            words_said = alternative["transcript"].split()
            assert [t[0] for t in alternative["timestamps"]] == [w[0] for w in alternative["word_confidence"]]
            assert all(len(t) == 3 and t[1] <= t[2] for t in alternative["timestamps"])
            assert all(0 <= c <= 1 for _, c in alternative["word_confidence"])
            assert len(alternative["timestamps"]) == len(words_said)
        base_hyps.append(base["results"][0]["alternatives"][0]["transcript"])
        custom_hyps.append(custom["results"][0]["alternatives"][0]["transcript"].lower())
    base_wer, custom_wer = evaluate(refs, base_hyps).wer, evaluate(refs, custom_hyps).wer
    assert custom_wer <= base_wer, (base_wer, custom_wer, base_hyps, custom_hyps)
    assert custom_wer < 0.5, custom_hyps

    # max_alternatives: the best transcript first (as with one), then next-best ones without confidence.
    audio, _ = items[0]
    ranked = stt.recognize(audio.read_bytes(), content_type="audio/ogg", model="demo", language_customization_id=cid,
                           customization_weight=0.3, max_alternatives=3).get_result()["results"][0]["alternatives"]
    assert ranked[0]["transcript"].lower() == custom_hyps[0] and "confidence" in ranked[0]
    assert 2 <= len(ranked) <= 3 and len({a["transcript"] for a in ranked}) == len(ranked)
    assert all(set(a) == {"transcript"} for a in ranked[1:])

    # While it trains, a customization is locked (409); deleting it then works.
    stt.add_corpus(cid, "more", io.BytesIO(b"the ingress controller restarted\n"))
    assert stt.get_language_model(cid).get_result()["status"] == "ready"  # resources changed: train again
    stt.delete_corpus(cid, "more")
    stt.delete_language_model(cid)
    with pytest.raises(ApiException) as err:
        stt.get_language_model(cid)
    assert err.value.code == 404


def test_acoustic_customization(server: Server, stt: SpeechToTextV1) -> None:
    lm = stt.create_language_model("ops-for-am", "demo").get_result()["customization_id"]
    stt.add_corpus(lm, "ops", io.BytesIO((DOMAIN / "corpus.txt").read_bytes()))
    stt.train_language_model(lm)
    assert wait_status(stt.get_language_model, lm)["status"] == "available"

    aid = stt.create_acoustic_model("ops-am", "demo", description="untranscribed calls").get_result()[
        "customization_id"]
    assert stt.get_acoustic_model(aid).get_result()["status"] == "pending"
    files = sorted((DOMAIN / "train").glob("*.ogg"))[:6]
    for path in files[:4]:
        stt.add_audio(aid, path.name, path.read_bytes(), content_type="audio/ogg")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for path in files[4:]:
            zf.write(path, path.name)
    stt.add_audio(aid, "batch.zip", archive.getvalue(), content_type="application/zip",
                  contained_content_type="audio/ogg")
    listing = stt.list_audio(aid).get_result()
    assert [a["name"] for a in listing["audio"]] == [p.name for p in files[:4]] + ["batch.zip"]
    assert listing["total_minutes_of_audio"] > 0
    single = stt.get_audio(aid, files[0].name).get_result()
    assert single["details"]["type"] == "audio" and single["duration"] > 0 and single["status"] == "ok"
    assert stt.get_audio(aid, "batch.zip").get_result()["details"]["type"] == "archive"
    with pytest.raises(ApiException) as err:
        stt.add_audio(aid, "notes", b"hello", content_type="text/plain")
    assert err.value.code == 415
    with pytest.raises(ApiException) as err:
        stt.add_audio(aid, files[0].name, files[0].read_bytes(), content_type="audio/ogg")
    assert err.value.code == 409  # exists: allow_overwrite=true replaces it
    assert stt.get_acoustic_model(aid).get_result()["status"] == "ready"

    # Lightly supervised with the custom LM (2 epochs, from the server's configuration).
    stt.train_acoustic_model(aid, custom_language_model_id=lm)
    with pytest.raises(ApiException) as err:
        stt.delete_acoustic_model(aid)
    assert err.value.code == 409
    model = wait_status(stt.get_acoustic_model, aid)
    assert model["status"] == "available", model
    audio, text = domain_test_items(1)[0]
    response = stt.recognize(audio.read_bytes(), content_type="audio/ogg", model="demo",
                             acoustic_customization_id=aid, language_customization_id=lm).get_result()
    transcript = response["results"][0]["alternatives"][0]["transcript"]
    assert evaluate([text], [transcript.lower()]).wer < 0.7, transcript

    stt.delete_audio(aid, "batch.zip")
    assert [a["name"] for a in stt.list_audio(aid).get_result()["audio"]] == [p.name for p in files[:4]]
    stt.delete_acoustic_model(aid)
    stt.delete_language_model(lm)
    with pytest.raises(ApiException) as err:
        stt.get_acoustic_model(aid)
    assert err.value.code == 404


def test_speechcustom_serve(tmp_path: Path) -> None:
    """`speechcustom serve` runs a Jupyter server with this extension, prints its URL and needs the token."""
    token = secrets.token_hex(16)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    env = jupyter_env(tmp_path / "jupyter")
    cmd = [sys.executable, "-m", "jupyter_speechcustom.cli", "serve", "--port", str(port), "--token", token,
           "--workspace", str(tmp_path / "ws"), "--allow-root"]
    proc = start_server(cmd, env, tmp_path, log, url, token)
    try:
        server = Server(url=url, token=token, workspace=tmp_path / "ws", log=log)
        assert "demo" in [m["name"] for m in server.client().list_models().get_result()["models"]]
        assert api_request(server, "GET", "models", token=False)[0] in (401, 403)
        cid = server.client().create_language_model("x", "demo").get_result()["customization_id"]
        assert (tmp_path / "ws" / "index.sqlite").is_file() and cid.startswith("lm-")
        assert f"{url}speechcustom/api" in log.read_text()
    finally:
        stop_server(proc)
    # The extension's stop closed what it opened.
    assert "speechcustom: stopped (executors shut down" in log.read_text(), log.read_text()[-2000:]
