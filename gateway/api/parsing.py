"""How the API reads a request's input: webargs' FlaskParser (through flask-smorest), with what
it lacks. Every API blueprint is this module's `Blueprint`, so each JSON body and each query
string is read the same way.

- A JSON number of more digits than Python converts (`sys.get_int_max_str_digits()`, 4,300) makes
  `json.loads` raise a plain ValueError, which webargs does not take for invalid JSON: it was a
  500 on every JSON endpoint. It is the 400 of any other unreadable body.
- A query parameter given twice (`?status=active&status=rejected`, `page=1&page=2`) was read as
  its first value, silently: what was answered was not what was asked. A parameter that is not
  a list is refused when repeated (422, by its name).
"""

from __future__ import annotations

import json
import sys
import typing

import flask_smorest
from marshmallow import Schema, ValidationError
from webargs.flaskparser import FlaskParser, abort
from webargs.multidictproxy import MultiDictProxy

REPEATED = "Give this parameter once."


class ApiParser(FlaskParser):
    """webargs' parser, reading an over-long integer as an unreadable body and refusing a
    repeated query parameter (see the module)."""

    def _raw_load_json(self, req: typing.Any) -> typing.Any:
        try:
            return super()._raw_load_json(req)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise  # webargs' own answer: 400, or an empty body read as no body
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
