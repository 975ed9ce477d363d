"""DigitalOcean's OpenAPI spec as a judge of Shoal's responses.

Every response is checked against the schema the spec gives for its
operation and status (``default`` when the status is not listed), with
the spec's ``$ref``s resolved in ``bundled.json`` itself. OpenAPI 3.0's
``nullable`` is rewritten as JSON Schema's ``null`` type; the rest of the
3.0 schema dialect is draft 4. Region slugs are the operator's to choose,
so the spec's closed list of DigitalOcean's own regions is opened up. And
the spec's YAML writes the droplet status ``off`` bare, which YAML 1.1
reads as ``false``; in a list of words it is the word again.

Protocol rules of Shoal's own (rate-limit headers and request id on every
response, DigitalOcean's error body on every error) are checked whether
the spec is at hand or not.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path

import httpx
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = Path(
    os.environ.get(
        "SHOAL_DO_OPENAPI",
        REPO.parent / "shared" / "reference" / "do-openapi" / "bundled.json",
    )
)
URI = "urn:digitalocean:openapi"
METHODS = {"get", "put", "post", "delete", "patch", "head"}
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


_YAML11_WORDS = {False: "off", True: "on"}


def _as_draft4(node):
    """OpenAPI 3.0 schemas as draft 4 understands them, regions opened."""
    if isinstance(node, list):
        return [_as_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _as_draft4(value) for key, value in node.items()}
    enum = converted.get("enum") or []
    if "nyc3" in enum:
        del converted["enum"]
    elif any(isinstance(v, str) for v in enum):
        converted["enum"] = [
            _YAML11_WORDS[v] if isinstance(v, bool) else v for v in enum
        ]
    if converted.pop("nullable", None) is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


class Spec:
    def __init__(self, document: dict):
        self.document = _as_draft4(document)
        resource = Resource.from_contents(self.document, default_specification=DRAFT4)
        self.registry = Registry().with_resource(URI, resource)
        self.routes = sorted(
            (
                (template.count("{"), template, self._regex(template))
                for template in self.document["paths"]
            ),
        )

    @staticmethod
    def _regex(template: str) -> re.Pattern:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        return re.compile(f"^{pattern}$")

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        """The spec's operation for a request, literal paths first."""
        path = path.rstrip("/") or "/"
        for _, template, regex in self.routes:
            operation = self.document["paths"][template].get(method.lower())
            if operation is not None and regex.match(path):
                return template, operation
        return None

    def _response_pointer(self, template: str, method: str, status: str) -> str:
        responses = self.document["paths"][template][method]["responses"]
        key = status if status in responses else "default"
        if key not in responses:
            return ""
        response = responses[key]
        if "$ref" in response:
            return response["$ref"].removeprefix("#")
        return f"/paths/{_escape(template)}/{method}/responses/{key}"

    def _at(self, pointer: str):
        node = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    @cache  # noqa: B019 - one Spec lives for the whole session
    def validator(self, template: str, method: str, status: int):
        """A validator for the body, None for "no body", or a reason why not."""
        method = method.lower()
        responses = self.document["paths"][template][method]["responses"]
        if str(status) not in responses and 200 <= status < 300:
            return f"status {status} is not one the spec gives for {template}"
        pointer = self._response_pointer(template, method, str(status))
        if not pointer:
            return f"status {status} is not one the spec gives for {template}"

        response = self._at(pointer)
        content = response.get("content", {}).get("application/json")
        if content is None or "schema" not in content:
            return None
        ref = f"{URI}#{pointer}/content/application~1json/schema"
        return Draft4Validator({"$ref": ref}, registry=self.registry)

    def error_validator(self):
        return Draft4Validator(
            {"$ref": f"{URI}#/components/schemas/error"}, registry=self.registry
        )


@cache
def load_spec() -> Spec | None:
    if not SPEC_PATH.is_file():
        return None
    return Spec(json.loads(SPEC_PATH.read_text()))


def _describe(response: httpx.Response) -> str:
    request = response.request
    return (
        f"{request.method} {request.url.path} -> {response.status_code}: "
        + (response.text[:2000])
    )


def check_protocol(response: httpx.Response) -> list[str]:
    """Shoal's own rules for every response, spec or no spec."""
    problems = [f"no {h} header" for h in RATE_HEADERS if h not in response.headers]
    if "x-request-id" not in response.headers:
        problems.append("no x-request-id header")
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            return [*problems, "error body is not JSON"]
        if not isinstance(body, dict) or not body.get("id") or not body.get("message"):
            problems.append("error body lacks id or message")
        elif "detail" in body:
            problems.append("error body has FastAPI's detail")
    return problems


def check_spec(spec: Spec, response: httpx.Response) -> list[str]:
    request = response.request
    found = spec.operation(request.method, request.url.path)
    if found is None:
        # Not a DigitalOcean path (Shoal's own, or a deliberate miss):
        # only errors have a shape to keep.
        if response.status_code >= 400:
            return _errors(spec.error_validator(), response)
        return []

    template, _ = found
    validator = spec.validator(template, request.method, response.status_code)
    if isinstance(validator, str):
        return [validator]
    if validator is None:
        return [] if not response.content else ["the spec gives no body here"]
    return _errors(validator, response)


def _errors(validator: Draft4Validator, response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return ["body is not JSON"]
    return [_explain(error) for error in validator.iter_errors(body)]


def _explain(error) -> str:
    # A oneOf/anyOf failure says little; the branch that got furthest into
    # the body before failing says why.
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    where = "/".join(map(str, error.absolute_path)) or "<root>"
    return f"{where}: {error.message[:300]}"


def check(response: httpx.Response, spec: Spec | None) -> None:
    """Fail with the response body when the response breaks a rule."""
    response.read()
    problems = check_protocol(response)
    if spec is not None:
        problems += check_spec(spec, response)
    assert not problems, f"{_describe(response)}\n  " + "\n  ".join(problems)
