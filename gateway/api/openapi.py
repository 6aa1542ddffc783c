"""The OpenAPI document as integrators' tools need it (a generated client, a fuzzer).

flask-smorest writes the document from the marshmallow schemas; this module adds, in one place,
what the decorators would otherwise repeat on every operation:

- every error status an operation can answer, each with the typed error body (`Error`): 401 and
  429 and 503 (with `Retry-After`) everywhere, 400/413/415/422 where there is a JSON body (413/415 on every
  POST, PUT and PATCH: a body sent to one that reads none is refused alike), 422 where there
  are query parameters, 404 where the path names a resource. No `default` response: a client
  must be told when a status is not declared;
- an `operationId` naming what each operation does (generated clients name functions by it);
- the `setup` rule of the article as `oneOf`: without access only `app_access: false`, with
  access `editor` and `markets` are required;
- the webhooks and their payload (OpenAPI 3.1 `webhooks`), signed per Standard Webhooks.

Answers without a declared operation are JSON too: an unknown method is a 405 with `Allow`.
"""

from __future__ import annotations

import copy
import re

from flask import current_app
from flask_smorest import Api
from marshmallow import Schema, fields, validate

from shared import webhook_signing, webhooks
from shared.schemas import UtcDateTime

#: What each operation does, by Flask endpoint; an endpoint missing here gets its view's name.
OPERATION_IDS = {
    "customer_accounts.create": "createCustomerAccount",
    "customer_accounts.get_one": "getCustomerAccount",
    "customer_accounts.list_all": "listCustomerAccounts",
    "customer_accounts.change": "changeCustomerAccount",
    "customer_accounts.retry": "retryCustomerAccount",
    "customer_accounts.resend_credentials": "resendCredentials",
    "markets.list_markets": "listMarkets",
    "webhooks.register": "registerWebhook",
    "webhooks.show": "getWebhook",
    "webhooks.remove": "deleteWebhook",
    "webhooks.delivery_log": "listWebhookDeliveries",
    "optimisations.list_optimisations": "listOptimisations",
    "optimisations.create": "createOptimisation",
    "optimisations.get_one": "getOptimisation",
    "optimisations.change": "changeOptimisation",
    "optimisations.delete": "deleteOptimisation",
    "optimisations.record_fixing": "recordFixing",
    "optimisations.update_fixing": "cancelFixing",
}

DESCRIPTION = """The CRM door of kamflow: create customer accounts and follow their workflow.

- Authentication: `Authorization: Bearer <token>` on every call (a token is scoped to one organisation).
- Errors: every error answer has the `Error` body (`code`, `status`, `message`, `errors` by location and
  field); each operation lists the statuses it can answer. A method a path does not have is a 405
  with an `Allow` header; over the token's rate limit, a 429 with `Retry-After`.
- Retry a creation safely with an `Idempotency-Key`; the same customer without one is a 409 naming
  the account that has it.
- Webhooks (see `webhooks`) are signed per Standard Webhooks."""

ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON, gives a key twice in one object, or a header is malformed",
    401: "Missing, invalid or revoked API token",
    404: "Not found in your organisation",
    413: "The body is too large",
    415: "The body is not sent as JSON (Content-Type: application/json)",
    422: "Invalid input: `errors` says which, by location (json, query, headers) and field",
    429: "Too many requests for this token: wait `Retry-After` seconds",
    503: "The database is unavailable for a moment: nothing was done; send the request again after `Retry-After` "
    "seconds (with the same `Idempotency-Key` for a creation)",
}


def _field_errors(where: str) -> fields.Raw:
    """Messages by field (nested objects for nested fields), or a list of messages about the whole."""
    return fields.Raw(
        metadata={
            "description": f"The errors in the {where}",
            "oneOf": [
                {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "By field: a list of messages, or an object for a nested field",
                },
                {"type": "array", "items": {"type": "string"}, "description": "About the whole"},
            ],
        }
    )


class ErrorLocationsSchema(Schema):
    """The errors by where they are (the body, the query string, a header), then by field."""

    json = _field_errors("JSON body")
    query = _field_errors("query string")
    headers = _field_errors("headers")


class ExistingAccountSchema(Schema):
    id = fields.Integer(required=True)
    links = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class ErrorSchema(Schema):
    """Every error answer of the API."""

    code = fields.Integer(required=True, metadata={"description": "The HTTP status"})
    status = fields.String(required=True, metadata={"description": "The HTTP status's name"})
    message = fields.String(required=True, metadata={"description": "What went wrong, for a person"})
    errors = fields.Nested(ErrorLocationsSchema)
    existing_account = fields.Nested(
        ExistingAccountSchema,
        metadata={"description": "On a 409: the account that already holds this email or customer reference"},
    )


class WebhookAccountSchema(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(sorted(webhooks.EVENTS)))
    company = fields.String(required=True)
    customer_reference = fields.String(required=True, allow_none=True)
    rejection_reasons = fields.Dict(
        keys=fields.String(), values=fields.List(fields.String()), required=True, allow_none=True
    )
    links = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class WebhookEventSchema(Schema):
    """The JSON body of a delivery."""

    id = fields.UUID(required=True, metadata={"description": f"The delivery id, also in `{webhook_signing.ID_HEADER}`"})
    event = fields.String(required=True, validate=validate.OneOf(sorted(webhooks.EVENTS.values())))
    created_at = UtcDateTime(required=True, metadata={"description": "When the account reached the status (UTC)"})
    account = fields.Nested(WebhookAccountSchema, required=True)


class KamflowApi(Api):
    """flask-smorest's Api with our error body and no `default` response."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _init_spec(self, *args, **kwargs):
        super()._init_spec(*args, **kwargs)
        # apispec writes a marshmallow Url as `format: url`, which no JSON Schema tool knows: `uri` is the format
        self.register_field(fields.Url, "string", "uri")
        # flask-smorest registers ERROR_SCHEMA as "Error" itself
        self.spec.components.schema("WebhookEvent", schema=WebhookEventSchema)

    def _openapi_json(self):
        return current_app.response_class(current_app.json.dumps(document(self.spec)), mimetype="application/json")


def _error(code: int, description: str | None = None) -> dict:
    response = {
        "description": description or ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if code in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds until the token may call again"
                if code == 429
                else "Seconds after which to send the request again",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def _complete(endpoint: str, view_name: str, operation: dict, path: str, method: str) -> None:
    operation["operationId"] = OPERATION_IDS.get(endpoint, view_name)
    responses = operation["responses"]
    responses.pop("default", None)
    parameters = operation.get("parameters", [])
    wanted = {401, 429, 503}
    if "requestBody" in operation:
        wanted |= {400, 413, 415, 422}
    if method in ("post", "put", "patch"):  # a body sent where none is read is still refused when it is not JSON
        wanted |= {413, 415}
    if any(p.get("in") == "query" for p in parameters):
        wanted.add(422)
    if "{" in path:
        wanted.add(404)
    for code in wanted:
        responses.setdefault(str(code), {})
    for code, response in responses.items():
        if int(code) >= 400:
            described = response.get("description")
            responses[code] = _error(int(code), described if described and "$ref" not in response else None)


def _setup_rule(schemas: dict) -> None:
    """The article's step 2: with No nothing else is asked; with Yes the editor and markets are."""
    setup = schemas.get("Setup")
    if not setup:
        return
    properties = setup["properties"]
    schemas["SetupWithoutAccess"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["app_access"],
        "properties": {"app_access": {"type": "boolean", "const": False}},
    }
    schemas["SetupWithAccess"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["app_access", "editor", "markets"],
        "properties": {
            "app_access": {"type": "boolean", "const": True},
            "editor": properties["editor"],
            "markets": {**properties["markets"], "minItems": 1},
        },
    }
    schemas["Setup"] = {
        "description": 'Step 2: `{"app_access": false}` alone, or access with its editor and markets.',
        "oneOf": [
            {"$ref": "#/components/schemas/SetupWithoutAccess"},
            {"$ref": "#/components/schemas/SetupWithAccess"},
        ],
    }


def _tidy(node) -> None:
    """Numeric bounds as numbers, and: apispec writes a nullable closed set as `type: [t, null], enum: [..., null]`, which
    generated clients turn into one enum class per type; `anyOf: [enum, null]` gives one."""
    if isinstance(node, dict):
        for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if isinstance(node.get(bound), str):  # a Decimal sent as a string: JSON Schema wants a number
                node[bound] = float(node[bound])
        kind, enum = node.get("type"), node.get("enum")
        if isinstance(kind, list) and "null" in kind and enum and None in enum:
            (base,) = [k for k in kind if k != "null"]
            del node["type"], node["enum"]
            node["anyOf"] = [{"type": base, "enum": [v for v in enum if v is not None]}, {"type": "null"}]
        for value in node.values():
            _tidy(value)
    elif isinstance(node, list):
        for value in node:
            _tidy(value)


def _webhooks() -> dict:
    headers = [
        {
            "in": "header",
            "name": webhook_signing.ID_HEADER,
            "required": True,
            "schema": {"type": "string"},
            "description": "The delivery id, the same on every retry: ignore one you have seen",
        },
        {
            "in": "header",
            "name": webhook_signing.TIMESTAMP_HEADER,
            "required": True,
            "schema": {"type": "string"},
            "description": "Unix seconds of this attempt: refuse old ones",
        },
        {
            "in": "header",
            "name": webhook_signing.SIGNATURE_HEADER,
            "required": True,
            "schema": {"type": "string"},
            "description": webhook_signing.SIGNATURE_DOC + "; two, space-separated, during a secret rotation",
        },
    ]
    operations = {}
    for status, event in webhooks.EVENTS.items():
        operations[event] = {
            "post": {
                "operationId": "on" + "".join(part.capitalize() for part in event.split(".")),
                "summary": f"The account became `{status}`",
                "description": "POSTed to your registered URL, signed per Standard Webhooks; answer 2xx to take it "
                "(otherwise it is retried with backoff, in order).",
                "parameters": headers,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WebhookEvent"}}},
                },
                "responses": {"2XX": {"description": "Taken; it will not be sent again"}},
            }
        }
    return operations


def document(spec) -> dict:
    """The served document: the generated one, completed (a copy: the spec is not changed)."""
    doc = copy.deepcopy(spec.to_dict())
    endpoints = {
        (_openapi_path(rule.rule), method.lower()): rule.endpoint
        for rule in current_app.url_map.iter_rules()
        for method in rule.methods
    }
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                endpoint = endpoints.get((path, method), "")
                _complete(endpoint, endpoint.rpartition(".")[2], operation, path, method)
    _setup_rule(doc.setdefault("components", {}).setdefault("schemas", {}))
    _tidy(doc)
    doc["webhooks"] = _webhooks()
    doc["info"]["description"] = DESCRIPTION
    doc["components"].pop("responses", None)  # flask-smorest's per-status ones: each is inline above
    return doc


def _openapi_path(rule: str) -> str:
    """Flask's `/x/<int(max=...):id>` as OpenAPI's `/x/{id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)
