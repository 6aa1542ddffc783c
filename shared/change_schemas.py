"""The shape of a change of parameters after creation (the edit page, and the API's PATCH).

It is the creation request's shape minus the KAM and the email: the article says the email
cannot be modified later, so sending one is an error, not something silently ignored. Load
as `CustomerPatchSchema` (a `PatchSchema`) for a PATCH that names only what changes.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

from shared.schemas import CustomerSchema, PatchSchema, SetupSchema

EMAIL_IS_FIXED = "The email cannot be modified: it is the customer's login."


class CustomerChangeSchema(CustomerSchema):
    """The customer step of an edit: the creation's fields and rules, without the email."""

    class Meta:
        unknown = RAISE
        exclude = ("email",)

    @pre_load
    def refuse_email(self, data: Any, **kwargs: Any) -> Any:
        """Refuse an `email` key with EMAIL_IS_FIXED (a ValidationError on the field) before
        loading: the email is the login and never changes. Returns the data untouched otherwise."""
        if isinstance(data, dict) and "email" in data:
            raise ValidationError({"email": [EMAIL_IS_FIXED]})
        return data


class AccountChangeSchema(Schema):
    """An edit of the account (the edit page): customer and/or setup, no KAM, no email;
    unknown keys are refused."""

    class Meta:
        unknown = RAISE

    customer = fields.Nested(CustomerChangeSchema)
    setup = fields.Nested(SetupSchema)


class CustomerPatchSchema(PatchSchema, CustomerChangeSchema):
    """The API's PATCH: every field optional (send only what changes, the rest is left alone),
    none blank; an explicit null or blank reference clears it."""


class AccountPatchSchema(AccountChangeSchema):
    """The API's PATCH body: as AccountChangeSchema, with every customer field optional."""

    customer = fields.Nested(CustomerPatchSchema)
