"""gmq over HTTP with Python's standard library alone. Every route, its
method and its parameters come from the node's /openapi.json, and every
request and reply is checked against the document's schemas (64-bit
integers are decimal strings there).

    GMQ_HTTP=http://127.0.0.1:9504 python3 clients/http/walkthrough.py
"""

import base64
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

BASE = os.environ.get("GMQ_HTTP", "http://127.0.0.1:9504")


def fetch(method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


_, SPEC = fetch("GET", "/openapi.json")
OPS = {op["operationId"]: (method.upper(), path, op) for path, item in SPEC["paths"].items() for method, op in item.items()}


def resolve(schema):
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return schema


def check(value, schema, where: str) -> None:
    """Checks value against the subset of JSON Schema the document uses."""
    schema = resolve(schema)
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict), f"{where}: not an object: {value!r}"
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            extra = set(value) - set(props)
            assert not extra, f"{where}: fields not in the schema: {extra}"
        for k, v in value.items():
            if k in props:
                check(v, props[k], f"{where}.{k}")
    elif kind == "array":
        assert isinstance(value, list), f"{where}: not an array"
        for i, v in enumerate(value):
            check(v, schema.get("items", {}), f"{where}[{i}]")
    elif kind == "string":
        assert isinstance(value, str), f"{where}: not a string: {value!r}"
        if "pattern" in schema:
            assert re.search(schema["pattern"], value), f"{where}: {value!r} does not match {schema['pattern']}"
        if schema.get("format") == "byte":
            base64.b64decode(value, validate=True)
    elif kind == "integer":
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: not an integer: {value!r}"
        assert value >= schema.get("minimum", value), f"{where}: below minimum"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{where}: not a boolean"


def call(op_id: str, path_params=None, query=None, body=None):
    """Calls an operation by its operationId; returns (status, reply), both checked against the document."""
    method, template, op = OPS[op_id]
    params = op.get("parameters", [])
    path_params = path_params or {}
    assert {p["name"] for p in params if p["in"] == "path"} == set(path_params), f"{op_id}: path parameters"
    path = template
    for k, v in path_params.items():
        path = path.replace("{" + k + "}", urllib.parse.quote(str(v), safe=""))
    if query:
        assert set(query) <= {p["name"] for p in params if p["in"] == "query"}, f"{op_id}: query parameters"
        path += "?" + urllib.parse.urlencode(query)
    if body is not None:
        check(body, op["requestBody"]["content"]["application/json"]["schema"], f"{op_id} request")
    status, reply = fetch(method, path, body)
    response = op["responses"]["200" if status == 200 else "default"]
    check(reply, response["content"]["application/json"]["schema"], f"{op_id} reply ({status})")
    return status, reply


def ok(what: str, cond: bool, detail="") -> None:
    if not cond:
        raise SystemExit(f"FAILED: {what} {detail}")
    print(f"ok  {what}")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


topic = f"http-py-{uuid.uuid4().hex[:10]}"
status, reply = call("Ping")
ok("ping answers with the node id", status == 200 and reply["nodeId"] == 1, reply)
status, reply = call("DeclareQueue", {"topic": topic, "bind_key": "paid"})
ok("declares a queue", reply == {"name": f"{topic}_paid", "created": True}, reply)

status, reply = call("Push", {"topic": topic}, body={"routeKey": "paid", "body": b64("order 1")})
first = reply["id"]
ok("push returns the id as a decimal string above 2^53", isinstance(first, str) and int(first) > 2**53, reply)
status, reply = call(
    "PushBatch", {"topic": topic}, body={"messages": [{"routeKey": "paid", "body": b64(f"order {i}")} for i in (2, 3)]}
)
ok("push batch returns the ids as strings", [type(i) for i in reply["ids"]] == [str, str], reply)

status, reply = call("Pop", {"topic": topic, "bind_key": "paid"}, query={"wait_ms": 1000})
msg = reply["message"]
ok("pop returns the first message with its exact id", msg["id"] == first and base64.b64decode(msg["body"]) == b"order 1", msg)
status, reply = call("Ack", {"topic": topic, "bind_key": "paid", "id": msg["id"]})
ok("ack by the id string", status == 200, reply)
status, reply = call("Ack", {"topic": topic, "bind_key": "paid", "id": msg["id"]})
ok("a second ack is NOT_FOUND", status == 404 and reply["code"] == "NOT_FOUND", reply)

start = time.monotonic()
status, reply = call("Push", {"topic": topic}, body={"routeKey": "paid", "body": b64("later"), "delayMs": "1000"})
later = reply["id"]
seen = []
while later not in seen:  # long polls; the two batch messages come first
    status, reply = call("Pop", {"topic": topic, "bind_key": "paid"}, query={"wait_ms": 5000})
    if status == 200:
        seen.append(reply["message"]["id"])
        call("Ack", {"topic": topic, "bind_key": "paid", "id": reply["message"]["id"]})
ok("a delayed message (delayMs as a string) arrives after its delay", time.monotonic() - start >= 1.0)

status, reply = call("Push", {"topic": topic}, body={"routeKey": "nowhere", "body": b64("x")})
ok("a push no queue matches is FAILED_PRECONDITION", reply["code"] == "FAILED_PRECONDITION", reply)
status, reply = call("Push", {"topic": "bad topic!"}, body={"body": b64("x")})
ok("a bad topic name is INVALID_ARGUMENT", status == 400 and reply["code"] == "INVALID_ARGUMENT", reply)
status, reply = call("GetTopicStat", {"topic": f"{topic}-missing"})
ok("an unknown topic is NOT_FOUND", status == 404 and reply["code"] == "NOT_FOUND", reply)
status, reply = call("GetTopicStat", {"topic": topic})
ok("topic stat counts uint64 as strings", reply["stat"]["pushed"] == "4" and reply["stat"]["acked"] == "4", reply)
print("Python walkthrough passed")
