"""X's OpenAPI description (``shared/x-api/openapi.json``) as a judge of shapes: the fake's
answers, and every request Roost itself sends, checked against what X documents.

Tests that use it skip when the description is not beside the repository.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.x_api import OPENAPI_PATH, POST_EXPANSIONS, TWEET_TO_POST_NAMES, Call

SPEC_URI = "urn:x-api:openapi"

DOCUMENTED_BEYOND_THE_SPEC = frozenset(
    {
        # expansions (X's expansions page: "Get authors of referenced posts")
        "referenced_tweets.id.author_id",
        "referenced_tweets.id.attachments.media_keys",
        # tweet.fields (X's fields page asks for them: "tweet.fields=created_at,author_id,
        # conversation_id,in_reply_to_user_id,referenced_tweets")
        "author_id",
        "in_reply_to_user_id",
        "referenced_tweets",
        "edit_history_tweet_ids",
    }
)
"""Names X's documentation lists and the live API takes, but the 2.167 snapshot's enums
leave out. The docs win."""


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())
    return spec


def spec() -> dict[str, Any]:
    """The description, or a skip when it is not there."""
    if not OPENAPI_PATH.exists():
        pytest.skip(
            f"X's OpenAPI description shared/x-api/openapi.json not found at {OPENAPI_PATH}"
        )
    return _spec()


def registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource(spec(), DRAFT202012))


def pointer(*parts: str) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def validate(registry: Registry, instance: Any, at: str) -> None:
    """Validate `instance` against the schema at JSON pointer `at` in the description."""
    Draft202012Validator({"$ref": SPEC_URI + at}, registry=registry).validate(instance)


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The described path template and operation a request goes to; fails if X documents
    no such endpoint."""
    for template, operations in spec()["paths"].items():
        pattern = "/".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in template.split("/")
        )
        if re.fullmatch(pattern, path) and method.lower() in operations:
            return template, operations[method.lower()]
    raise AssertionError(f"X documents no {method} {path}")


def _query_parameters(template: str, method: str, op: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """The operation's query parameters: name -> (pointer to its schema, the schema)."""
    found = {}
    for index, parameter in enumerate(op.get("parameters", [])):
        at = pointer("paths", template, method, "parameters", str(index))
        if "$ref" in parameter:
            at = parameter["$ref"]
            parameter = spec()["components"]["parameters"][at.rsplit("/", 1)[-1]]
        if parameter.get("in") == "query":
            found[parameter["name"]] = (at + "/schema", parameter["schema"])
    return found


def assert_call_is_described(registry: Registry, call: Call) -> None:
    """A request as the fake received it is one X's description allows: a documented
    endpoint, documented query parameters with allowed values, and a JSON body its schema
    accepts (unknown properties refused where the schema says so). The live API's
    "tweet" spellings are read as the description's "post" ones."""
    method = call.method.lower()
    template, op = operation(call.method, call.path)
    parameters = _query_parameters(template, method, op)
    spelled = {tweet: post for post, tweet in POST_EXPANSIONS.items()}
    for name, raw in call.query.items():
        spec_name = name
        if name not in parameters and name == "tweet.fields":
            spec_name = "post.fields"
        assert spec_name in parameters, f"{call.method} {template}: no parameter {name!r}"
        at, schema = parameters[spec_name]
        value: Any = raw
        if schema.get("type") == "array":
            # The description spells some endpoints' names "post" and others "tweet":
            # each name as that endpoint's enum has it, if it has either.
            enum = set(schema.get("items", {}).get("enum", ()))
            value = [_as_described(v, enum, spelled) for v in raw.split(",")]
            beyond = (
                DOCUMENTED_BEYOND_THE_SPEC if spec_name in ("post.fields", "expansions") else ()
            )
            value = [v for v in value if v in enum or not enum or v not in beyond]
            if not value:
                continue
        elif schema.get("type") == "integer":
            value = int(raw)
        validate(registry, value, at)
    content_type = call.headers.get("content-type", "")
    if call.body and content_type.startswith("application/json"):
        body = op.get("requestBody", {}).get("content", {})
        assert "application/json" in body, f"{call.method} {template} takes no JSON body"
        at = pointer("paths", template, method, "requestBody", "content", "application/json")
        validate(registry, json.loads(call.body), at + "/schema")


def _as_described(name: str, enum: set[str], spelled: dict[str, str]) -> str:
    """`name` as the parameter's enum spells it: as it is, else its "post" spelling."""
    if not enum or name in enum:
        return name
    post = TWEET_TO_POST_NAMES.get(name, spelled.get(name, name))
    return post if post in enum else name
