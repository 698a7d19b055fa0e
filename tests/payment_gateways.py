"""A fake PayPal and a fake Lydia on one local HTTP server (pytest-httpserver), started
by the tests that need them; never shipped behaviour.

* PayPal's verification answers VERIFIED only to a postback of an IPN it "sent"
  (`paypal_sent`), byte for byte after `cmd=_notify-validate&`, else INVALID.
* Lydia answers `request/do` with a new request (recorded in `lydia_requests`) and
  `request/state` with the state a test set for it (`lydia_states`, waiting by default).
* PayPal's checkout (`PAYPAL_URL`): the payment button's form shows a page with a "Pay"
  button; paying sends the Completed IPN to the button's `notify_url`, twice, as PayPal
  repeats it, then returns the buyer to its `return` address. Both addresses are the
  site's public ones: the fake reaches them on `site_url` (the test's live server).

The fake listens on a port chosen when the test session starts (`PORT`), so that the
session's app is created with its addresses (the Content-Security-Policy lets forms post
to PAYPAL_URL, and a live server forked from the app knows where to verify an IPN).
"""
import html
import json
import urllib.request
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Response

from .helpers import free_port

PAYPAL_RECEIVER = "tresorerie-bde@guichet.example"  # the demo BDE account's
LYDIA_PUBLIC, LYDIA_PRIVATE = "demo-bde-public-token", "demo-bde-private-token"
PORT = free_port()


def settings(port=PORT) -> dict:
    """The app's gateway settings for a fake listening on `port`."""
    base = f"http://127.0.0.1:{port}"
    return {"PAYPAL_IPN_VERIFY_URL": f"{base}/paypal/verify", "PAYPAL_SANDBOX": False,
            "LYDIA_URL": f"{base}/lydia", "PAYPAL_URL": f"{base}/paypal/webscr"}


class FakeGateways:
    def __init__(self, port=PORT):
        self.server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
        self.paypal_sent, self.postbacks, self.ipn_answers = set(), [], []
        self.lydia_requests, self.lydia_states = [], {}
        self.site_url = None
        self.server.expect_request("/paypal/verify", method="POST").respond_with_handler(self._verify)
        self.server.expect_request("/paypal/webscr", method="POST").respond_with_handler(self._checkout)
        self.server.expect_request("/paypal/pay", method="POST").respond_with_handler(self._pay)
        self.server.expect_request("/lydia/api/request/do.json", method="POST").respond_with_handler(self._do)
        self.server.expect_request("/lydia/api/request/state.json", method="POST").respond_with_handler(self._state)

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.clear()
        self.server.stop()

    def settings(self) -> dict:
        return settings(self.server.port)

    def reset(self):
        self.paypal_sent.clear()
        self.postbacks.clear()
        self.ipn_answers.clear()
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

    def _on_site(self, url) -> str:
        """A public address of the site, as the live server serves it."""
        parts = urlsplit(url)
        return self.site_url + parts.path + (f"?{parts.query}" if parts.query else "")

    def _checkout(self, request):
        """PayPal's page for the button's form: what is paid, to whom, and "Pay"."""
        fields = request.form
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in fields.items(multi=True))
        page = (f'<!DOCTYPE html><html lang="en"><head><title>Fake PayPal</title></head><body><main>'
                f'<h1>Pay {html.escape(fields.get("amount", ""))} {html.escape(fields.get("currency_code", ""))}'
                f' to {html.escape(fields.get("business", ""))}</h1><p>{html.escape(fields.get("item_name", ""))}</p>'
                f'<form method="post" action="/paypal/pay">{hidden}<button type="submit">Pay</button></form>'
                f'</main></body></html>')
        return Response(page, content_type="text/html; charset=utf-8")

    def _pay(self, request):
        """The buyer paid: the Completed IPN, twice, to notify_url, then back to `return`."""
        fields = request.form
        body = self.ipn(mc_gross=fields["amount"], payment_status="Completed", charset="UTF-8",
                        custom=fields["custom"], payer_email="buyer@example.org",
                        txn_id=uuid.uuid4().hex[:17].upper(), receiver_email=fields["business"],
                        business=fields["business"], txn_type="web_accept", item_name=fields.get("item_name", ""),
                        mc_currency=fields["currency_code"])
        for _ in range(2):
            notification = urllib.request.Request(self._on_site(fields["notify_url"]), data=body, method="POST",
                                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
            with urllib.request.urlopen(notification, timeout=30) as answer:
                self.ipn_answers.append((answer.status, answer.read()))
        return Response(status=302, headers={"Location": self._on_site(fields["return"])})

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
