"""nnsight's remote path to NDIF: the request is built and serialised here; nothing is sent."""

from __future__ import annotations

import json

import pytest

from internals import capture


class _Sent(Exception):
    pass


def test_remote_request_is_built_for_the_hub_id(tiny_dirs, monkeypatch):
    import nnsight.modeling.huggingface as hf

    from internals import load_model

    tiny_llama = load_model(tiny_dirs["llama"], device="cpu")  # its own copy: the aborted trace is not reused
    from nnsight.intervention.backends.remote import RemoteBackend

    repo = "HuggingFaceTB/SmolLM2-135M-Instruct"
    monkeypatch.setitem(hf._ID_CACHE, repo, repo)  # the hub lookup that canonicalises ids needs network
    seen = {}

    def fake_request(self, request, tracer):
        seen.update(blob=self._serialize(tracer), key=request.model_key, host=self.host, api_key=self.api_key)
        raise _Sent

    monkeypatch.setattr(RemoteBackend, "request", fake_request)
    with pytest.raises(_Sent):
        capture(
            tiny_llama,
            ["The capital of France is"],
            "resid_post.1",
            backend="nnsight",
            remote=True,
            repo_id=repo,
            host="https://ndif.example",
            api_key="secret",
        )
    cls, _, key = seen["key"].partition(":")
    assert cls.endswith("TransformersModel")
    assert json.loads(key)["repo_id"] == repo
    assert seen["host"] == "https://ndif.example" and seen["api_key"] == "secret"
    assert isinstance(seen["blob"], bytes) and len(seen["blob"]) > 100
    # the local model keeps its own id for local traces
    from internals.capture.backends.nnsight import wrapped

    assert wrapped(tiny_llama).repo_id != repo
