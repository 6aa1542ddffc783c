"""The shape of a change of parameters after creation (the edit page, and the API's PATCH).

It is the creation request's shape minus the KAM and the email: the article says the email
cannot be modified later, so sending one is an error, not something silently ignored. Load
with `partial=True` for a PATCH that names only what changes.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

from shared.schemas import CustomerSchema, PhoneNumber, SetupSchema, Text, yes_no

EMAIL_IS_FIXED = "The email cannot be modified: it is the customer's login."


class CustomerChangeSchema(CustomerSchema):
    class Meta:
        unknown = RAISE
        exclude = ("email",)

    @pre_load
    def refuse_email(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and "email" in data:
            raise ValidationError({"email": [EMAIL_IS_FIXED]})
        return data


class AccountChangeSchema(Schema):
    class Meta:
        unknown = RAISE

    customer = fields.Nested(CustomerChangeSchema)
    setup = fields.Nested(SetupSchema)


class CustomerPatchSchema(CustomerChangeSchema):
    """The API's PATCH: every field optional (send only what changes), none blank."""

    company = Text(max_length=200, not_blank=True)
    last_name = Text(max_length=100, not_blank=True)
    first_name = Text(max_length=100, not_blank=True)
    phone = PhoneNumber()
    is_demo = yes_no()


class AccountPatchSchema(AccountChangeSchema):
    customer = fields.Nested(CustomerPatchSchema)
