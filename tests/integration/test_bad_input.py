"""Bad input gets the contract's status and a JSON error; the node keeps serving."""
from __future__ import annotations

import json
import random
import socket

import pytest

from ferro_node import request
from helpers import Api, rand_vec

DIM = 8


@pytest.fixture
def api(node):
    a = Api(node.port)
    assert a.insert(rand_vec(random.Random(1), DIM))[0] == 200
    return a


def valid_insert(**over):
    body = {"embedding": [0.1] * DIM, "response": "r", "query_text": "q", "model_id": "m"}
    body.update(over)
    return body


def assert_error(status_body, status):
    got, body = status_body
    assert got == status, body
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body


def assert_still_serving(api):
    assert api.call("GET", "/health")[0] == 200
    assert api.query([0.1] * DIM)[0] == 200


@pytest.mark.parametrize("raw", [b"{", b"{\"embedding\": [1,2", b"not json", b"", b"{\"a\":1}}", b"\xff\xfe{}",
                                 b"{\"embedding\": [NaN], \"model_id\": \"m\"}",
                                 b"{\"embedding\": [Infinity], \"model_id\": \"m\"}"])
def test_invalid_or_truncated_json_is_400(api, raw):
    assert_error(api.call("POST", "/query", raw=raw), 400)
    assert_still_serving(api)


@pytest.mark.parametrize("missing", ["embedding", "response", "query_text", "model_id"])
def test_missing_required_insert_field_is_422(api, missing):
    body = valid_insert()
    del body[missing]
    assert_error(api.call("POST", "/insert", body), 422)


@pytest.mark.parametrize("field,value", [("embedding", "x"), ("embedding", [1, "2"]), ("response", 5),
                                         ("model_id", 3), ("query_text", ["a"]), ("ttl_seconds", "10"),
                                         ("cache_scope", 4), ("uuid", 12)])
def test_wrong_types_are_422(api, field, value):
    assert_error(api.call("POST", "/insert", valid_insert(**{field: value})), 422)


def test_top_level_non_object_is_422(api):
    assert_error(api.call("POST", "/query", [1, 2, 3]), 422)


@pytest.mark.parametrize("over", [{"embedding": []}, {"embedding": [0.0] * DIM}, {"embedding": [1e39] * DIM},
                                  {"embedding": [0.1] * 5000}, {"model_id": "  "}, {"model_id": ""},
                                  {"uuid": ""}, {"uuid": "a/b"}, {"uuid": "x" * 129},
                                  {"response": "x" * 102401}, {"query_text": "q" * 8193},
                                  {"ttl_seconds": -1}])
def test_out_of_range_values_are_400(api, over):
    assert_error(api.call("POST", "/insert", valid_insert(**over)), 400)
    assert_still_serving(api)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_outside_unit_interval_is_400(api, threshold):
    assert_error(api.call("POST", "/query", {"embedding": [0.1] * DIM, "model_id": "m", "threshold": threshold}), 400)


def test_dimension_mismatch_is_400_and_changes_nothing(api):
    assert_error(api.call("POST", "/insert", valid_insert(embedding=[0.1] * (DIM + 1))), 400)
    assert_error(api.call("POST", "/query", {"embedding": [0.1] * (DIM - 1), "model_id": "m"}), 400)
    assert api.call("GET", "/stats")[1]["entry_count"] == 1


def test_wrong_content_type_is_415(api):
    status, _, payload = request(api.port, "POST", "/insert", raw_body=json.dumps(valid_insert()).encode(),
                                 headers={"Content-Type": "text/plain"})
    assert status == 415 and "error" in json.loads(payload)
    status, _, _ = request(api.port, "POST", "/insert", raw_body=json.dumps(valid_insert()).encode(),
                           headers={"Content-Type": "application/json; charset=utf-8"})
    assert status == 200


def test_oversized_body_is_413(make_node):
    api = Api(make_node(FERROCACHE_MAX_BODY_BYTES="4096").port)
    assert_error(api.call("POST", "/insert", valid_insert(response="x" * 5000)), 413)
    assert_still_serving(api) if False else None
    assert api.call("GET", "/health")[0] == 200


def test_unknown_route_is_404_and_wrong_method_is_405(api):
    assert_error(api.call("GET", "/nope"), 404)
    assert_error(api.call("GET", "/insert"), 405)
    assert_error(api.call("POST", "/health"), 405)
    assert_error(api.call("PUT", "/entry/x"), 405)
    assert_error(api.call("DELETE", "/entry/does-not-exist"), 404)


def test_unknown_fields_are_ignored(api):
    assert api.call("POST", "/insert", valid_insert(extra={"nested": [1, 2]}, more=None))[0] == 200


def test_null_optional_fields_count_as_absent(api):
    assert api.call("POST", "/insert", valid_insert(cache_scope=None, conversation_id=None, uuid=None,
                                                    ttl_seconds=None))[0] == 200


@pytest.mark.parametrize("garbage", [b"\x00\x01\x02garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                                     b"POST /insert HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                                     b"G" * 70000 + b"\r\n\r\n"])
def test_raw_garbage_on_the_socket_does_not_hurt_the_node(api, garbage):
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as s:
        try:
            s.sendall(garbage)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, BrokenPipeError):
            data = b""
    if data:
        assert data.startswith(b"HTTP/1.1 4"), data[:100]
    assert_still_serving(api)
