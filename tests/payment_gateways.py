"""A fake PayPal and a fake Lydia on one local HTTP server (pytest-httpserver), started
by the tests that need them; never shipped behaviour.

* PayPal's verification answers VERIFIED only to a postback of an IPN it "sent"
  (`paypal_sent`), byte for byte after `cmd=_notify-validate&`, else INVALID.
* Lydia answers `request/do` with a new request (recorded in `lydia_requests`) and
  `request/state` with the state a test set for it (`lydia_states`, waiting by default).
"""
import json
import uuid
from urllib.parse import parse_qsl, urlencode

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

PAYPAL_RECEIVER = "tresorerie-bde@guichet.example"  # the demo BDE account's
LYDIA_PUBLIC, LYDIA_PRIVATE = "demo-bde-public-token", "demo-bde-private-token"


class FakeGateways:
    def __init__(self):
        self.server = HTTPServer(host="127.0.0.1", port=0)
        self.paypal_sent, self.postbacks = set(), []
        self.lydia_requests, self.lydia_states = [], {}
        self.server.expect_request("/paypal/verify", method="POST").respond_with_handler(self._verify)
        self.server.expect_request("/lydia/api/request/do.json", method="POST").respond_with_handler(self._do)
        self.server.expect_request("/lydia/api/request/state.json", method="POST").respond_with_handler(self._state)

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.clear()
        self.server.stop()

    def settings(self) -> dict:
        return {"PAYPAL_IPN_VERIFY_URL": self.server.url_for("/paypal/verify"), "PAYPAL_SANDBOX": False,
                "LYDIA_URL": self.server.url_for("/lydia"), "PAYPAL_URL": "https://paypal.test/cgi-bin/webscr"}

    def reset(self):
        self.paypal_sent.clear()
        self.postbacks.clear()
        self.lydia_requests.clear()
        self.lydia_states.clear()

    # -- PayPal --

    def ipn(self, **fields) -> bytes:
        """An IPN body PayPal "sent" (so it verifies), from its fields in order."""
        body = urlencode(list(fields.items())).encode()
        self.paypal_sent.add(body)
        return body

    def _verify(self, request):
        body = request.get_data()
        self.postbacks.append(body)
        prefix = b"cmd=_notify-validate&"
        verified = body.startswith(prefix) and body[len(prefix):] in self.paypal_sent
        return Response("VERIFIED" if verified else "INVALID", content_type="text/plain")

    # -- Lydia --

    def _do(self, request):
        fields = dict(parse_qsl(request.get_data(as_text=True)))
        if fields.get("vendor_token") != LYDIA_PUBLIC:
            return Response(json.dumps({"error": "3", "message": "Unknown vendor"}), content_type="application/json")
        request_id, request_uuid = str(1000 + len(self.lydia_requests)), uuid.uuid4().hex
        self.lydia_requests.append({**fields, "request_id": request_id, "request_uuid": request_uuid})
        return Response(json.dumps({"error": "0", "request_id": request_id, "request_uuid": request_uuid,
                                    "message": "ok"}), content_type="application/json")

    def _state(self, request):
        fields = dict(parse_qsl(request.get_data(as_text=True)))
        state = self.lydia_states.get(fields.get("request_uuid"), "0")
        return Response(json.dumps({"state": state}), content_type="application/json")


@pytest.fixture(scope="module")
def gateways(app):
    """The fake gateways, and the app's settings pointing at them, for a test module."""
    fake = FakeGateways().start()
    saved = {name: app.config.get(name) for name in fake.settings()}
    app.config.update(fake.settings())
    yield fake
    app.config.update(saved)
    fake.stop()


@pytest.fixture()
def fake(gateways):
    """The fake gateways, with nothing sent nor asked yet."""
    gateways.reset()
    return gateways
