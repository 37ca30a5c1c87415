"""Bearer-token auth on the HTTP API."""
from __future__ import annotations

import pytest

from ferro_node import request
from helpers import Api

TOKEN = "s3cret-token"


@pytest.fixture
def secured(make_node):
    return make_node(FERROCACHE_AUTH_TOKEN=TOKEN)


@pytest.mark.parametrize("method,path", [("POST", "/insert"), ("POST", "/query"), ("DELETE", "/entry/x"),
                                         ("POST", "/admin/invalidate"), ("POST", "/admin/compact"),
                                         ("GET", "/admin/entry-stats"), ("GET", "/stats"),
                                         ("GET", "/cluster/status"), ("GET", "/nope")])
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Bearer {TOKEN}x", "Basic abc", TOKEN, f"bearer{TOKEN}"])
def test_missing_or_wrong_token_is_401_on_every_protected_route(secured, method, path, header):
    headers = {"Authorization": header} if header else {}
    status, body = Api(secured.port).call(method, path, {"x": 1} if method == "POST" else None, headers=headers)
    assert status == 401
    assert body == {"error": "unauthorized"}


def test_health_and_metrics_stay_open(secured):
    assert request(secured.port, "GET", "/health")[0] == 200
    assert request(secured.port, "GET", "/metrics")[0] == 200


def test_the_right_token_opens_every_route(secured):
    api = Api(secured.port, token=TOKEN)
    assert api.insert([0.5, 0.5])[0] == 200
    assert api.query([0.5, 0.5])[1]["hit"] is True
    assert api.call("GET", "/stats")[0] == 200


def test_auth_is_checked_before_the_body_is_read(secured):
    # A huge declared body with a wrong token is refused without reading it.
    status, _, payload = request(secured.port, "POST", "/insert", raw_body=b"{}",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer no"})
    assert status == 401


def test_the_token_never_appears_in_the_log(secured):
    Api(secured.port, token=TOKEN).call("GET", "/stats")
    Api(secured.port).call("GET", "/stats", headers={"Authorization": "Bearer " + TOKEN + "zz"})
    secured.stop()
    assert TOKEN not in secured.log_tail(10**7)


def test_without_a_token_configured_everything_is_open(node):
    assert Api(node.port).call("GET", "/stats")[0] == 200
