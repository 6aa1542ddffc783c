"""How the API reads a request's input: webargs' FlaskParser (through flask-smorest), with what
it lacks. Every API blueprint is this module's `Blueprint`, so each JSON body and each query
string is read the same way.

- A JSON number of more digits than Python converts (`sys.get_int_max_str_digits()`, 4,300) makes
  `json.loads` raise a plain ValueError, which webargs does not take for invalid JSON: it was a
  500 on every JSON endpoint. It is the 400 of any other unreadable body.
- A query parameter given twice (`?status=active&status=rejected`, `page=1&page=2`) was read as
  its first value, silently: what was answered was not what was asked. A parameter that is not
  a list is refused when repeated (422, by its name).
- A key given twice in one JSON object (`{"name": "a", "name": "b"}`) was read as its last value,
  silently, like the repeated query parameter: whichever copy the CRM meant, the other was
  dropped without a word. It is refused (400), by its path in the body.
- `NaN`, `Infinity` and `-Infinity` are no JSON (RFC 8259), though Python's decoder reads them as
  numbers: a body holding one is unreadable (400), as another JSON parser would find it, rather
  than a number refused by whichever field it reached.
"""

from __future__ import annotations

import collections
import json
import sys
import typing

import flask_smorest
from marshmallow import Schema, ValidationError
from webargs.core import missing
from webargs.flaskparser import FlaskParser, abort, is_json_request
from webargs.multidictproxy import MultiDictProxy
from werkzeug.exceptions import BadRequest

REPEATED = "Give this parameter once."
REPEATED_KEY = "Give this key once in its object."


class _NotJsonNumber(ValueError):
    """A NaN or Infinity constant, which JSON does not have."""


def _refuse_constant(name: str) -> typing.NoReturn:
    raise _NotJsonNumber(name)


class _RepeatedKeys(dict):
    """A JSON object that gave some of its keys more than once (kept to name them)."""

    repeated: list[str]


def _repeated_keys(value: typing.Any) -> dict:
    """Where keys are repeated, nested as marshmallow nests a field's errors (a list item by its
    index): `{"customer": {"name": [REPEATED_KEY]}}`. Empty when no key is."""
    errors: dict = {key: [REPEATED_KEY] for key in getattr(value, "repeated", ())}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if (inner := _repeated_keys(item)) and key not in errors:
            errors[key] = inner
    return errors


def read_json(data: bytes) -> typing.Any:
    """The body as JSON (as webargs reads it), refusing a key repeated in any of its objects."""
    found = False

    def read_object(pairs: list[tuple[str, typing.Any]]) -> dict:
        nonlocal found
        read = dict(pairs)
        if len(read) == len(pairs):
            return read
        found = True
        counts = collections.Counter(key for key, _value in pairs)
        marked = _RepeatedKeys(read)
        marked.repeated = [key for key in read if counts[key] > 1]
        return marked

    value = json.loads(  # UnicodeDecodeError: webargs' 400
        data.decode("utf-8"), object_pairs_hook=read_object, parse_constant=_refuse_constant
    )
    if found:
        error = BadRequest("The JSON body gives a key more than once in one object: see `errors`.")
        error.data = {"messages": {"json": _repeated_keys(value)}}
        raise error
    return value


class ApiParser(FlaskParser):
    """webargs' parser, reading an over-long integer as an unreadable body and refusing a
    repeated query parameter or JSON key (see the module)."""

    def _raw_load_json(self, req: typing.Any) -> typing.Any:
        if not is_json_request(req):
            return missing
        try:
            return read_json(req.get_data(cache=True))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise  # webargs' own answer: 400, or an empty body read as no body
        except _NotJsonNumber as error:
            abort(400, exc=error, messages={"json": [f"Invalid JSON body: {error} is not a JSON number."]})
        except ValueError as error:  # an integer past the int-string conversion limit
            limit = sys.get_int_max_str_digits()
            abort(400, exc=error, messages={"json": [f"Invalid JSON body: a number has more than {limit} digits."]})

    def pre_load(self, location_data: typing.Mapping, *, schema: Schema, req: typing.Any, location: str):
        if location == "query" and isinstance(location_data, MultiDictProxy):
            repeated = sorted(
                key
                for key in location_data.data
                if key not in location_data.multiple_keys and len(location_data.data.getlist(key)) > 1
            )
            if repeated:
                raise ValidationError({key: [REPEATED] for key in repeated})
        return location_data


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint reading its arguments with ApiParser."""

    ARGUMENTS_PARSER = ApiParser()
