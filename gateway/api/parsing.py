"""How the API reads a request's input: webargs' FlaskParser (through flask-smorest), with what
it lacks. Every API blueprint is this module's `Blueprint`, so each JSON body and each query
string is read the same way.

- A JSON number of more digits than Python converts (`sys.get_int_max_str_digits()`, 4,300) makes
  `json.loads` raise a plain ValueError, which webargs does not take for invalid JSON: it was a
  500 on every JSON endpoint. It is the 400 of any other unreadable body.
"""

from __future__ import annotations

import json
import sys
import typing

import flask_smorest
from webargs.flaskparser import FlaskParser, abort


class ApiParser(FlaskParser):
    """webargs' parser, reading an over-long integer as an unreadable body (see the module)."""

    def _raw_load_json(self, req: typing.Any) -> typing.Any:
        try:
            return super()._raw_load_json(req)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise  # webargs' own answer: 400, or an empty body read as no body
        except ValueError as error:  # an integer past the int-string conversion limit
            limit = sys.get_int_max_str_digits()
            abort(400, exc=error, messages={"json": [f"Invalid JSON body: a number has more than {limit} digits."]})


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint reading its arguments with ApiParser."""

    ARGUMENTS_PARSER = ApiParser()
