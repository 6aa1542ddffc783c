"""Setting up organisations, their people and their API tokens (the CLI and the demo seed)."""

from __future__ import annotations

import re

from marshmallow import ValidationError

from shared import password_policy, permissions, security, sessions
from shared.db import Prepared, database, param
from shared.markets import CATALOGUE
from shared.models import ApiToken, CustomerAccount, Organisation, OrganisationMarket, User, utcnow
from shared.schemas import EmailAddress, Text


class SetupError(Exception):
    """A CLI/admin action that cannot be done as asked; the message says why."""


#: A slug is what `--org` takes and `kamflow list-orgs` shows, typed in shells and scripts:
#: lower-case letters and digits, with hyphens inside, as the column holds (64 characters).
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def checked_text(label: str, value: str, max_length: int, *, required: bool = True) -> str:
    """`value` without surrounding spaces, checked as every name kamflow stores is
    (schemas.Text: printable, at most `max_length`, not blank when `required`). Raises
    SetupError naming `label`: a name the column cannot hold would otherwise be a database
    error (PostgreSQL refuses it), a blank one a row nobody can name again."""
    try:
        return Text(max_length=max_length, required=required).deserialize(value)
    except ValidationError as error:
        raise SetupError(f"{label}: {' '.join(error.messages)}") from None


def create_organisation(slug: str, name: str, markets: list[str]) -> Organisation:
    """Create an organisation offering `markets` (ids of the catalogue), in one transaction.
    Raises SetupError for a slug that is not one (SLUG) or is taken, a blank or too long name,
    no market or an unknown one; writes nothing then."""
    if not SLUG.fullmatch(slug):
        raise SetupError(f"slug {slug!r}: use 1 to 64 lower-case letters, digits and inner hyphens, e.g. acme-energy")
    name = checked_text("name", name, Organisation.name.max_length)
    if not markets:
        raise SetupError(f"no market: name at least one of {', '.join(CATALOGUE)}")
    unknown = sorted(set(markets) - set(CATALOGUE))
    if unknown:
        raise SetupError(f"unknown market(s): {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    with database.atomic():
        if Organisation.select().where(Organisation.slug == slug).exists():
            raise SetupError(f"an organisation with slug {slug!r} exists already")
        organisation = Organisation.create(slug=slug, name=name)
        for market in sorted(set(markets)):
            OrganisationMarket.create(organisation=organisation, market=market)
    return organisation


def get_organisation(slug: str) -> Organisation:
    """The organisation with this slug. Raises SetupError when there is none."""
    organisation = Organisation.get_or_none(Organisation.slug == slug)
    if organisation is None:
        raise SetupError(f"no organisation with slug {slug!r}")
    return organisation


def overview() -> list[dict]:
    """Every organisation with its markets and how many staff and customer accounts it has."""
    found = []
    for organisation in Organisation.select().order_by(Organisation.slug):
        markets = [
            row.market for row in OrganisationMarket.select().where(OrganisationMarket.organisation == organisation)
        ]
        found.append(
            {
                "slug": organisation.slug,
                "name": organisation.name,
                "markets": [m for m in CATALOGUE if m in markets],
                "staff": User.select()
                .where((User.organisation == organisation) & User.role.in_(permissions.STAFF_ROLES))
                .count(),
                "accounts": CustomerAccount.select().where(CustomerAccount.organisation == organisation).count(),
            }
        )
    return found


def create_staff_user(
    organisation: Organisation, email: str, role: str, password: str, first_name: str = "", last_name: str = ""
) -> User:
    """Create a manager, KAM or operator login of `organisation` with this password (hashed).
    The email is validated and lower-cased. Raises SetupError, writing nothing, for a role that
    is not staff, names that are too long or not printable, a password the policy refuses, an
    invalid email or one that is a login already."""
    if role not in permissions.STAFF_ROLES:
        raise SetupError(f"role must be one of {', '.join(permissions.STAFF_ROLES)}")
    first_name = checked_text("first name", first_name, User.first_name.max_length, required=False)
    last_name = checked_text("last name", last_name, User.last_name.max_length, required=False)
    if (reason := password_policy.problem(password, (email, first_name, last_name, organisation.name))) is not None:
        raise SetupError(f"the password is refused: {reason}")
    try:
        email = EmailAddress().deserialize(email)
    except ValidationError as error:
        raise SetupError(f"{email!r}: {' '.join(error.messages)}") from None
    if User.select().where(User.email == email).exists():
        raise SetupError(f"a user with email {email!r} exists already")
    return User.create(
        organisation=organisation,
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        password_hash=security.hash_password(password),
    )


def set_staff_password(user: User, password: str) -> None:
    """Replace the user's password hash (no policy check: the caller ran it) and end every
    session opened with the old one, in one transaction: a new password is given because the
    old one may be known to someone else, whose browser must not stay logged in."""
    with database.atomic():
        User.update(password_hash=security.hash_password(password)).where(User.id == user.id).execute()
        sessions.end_sessions(user.id)


def create_api_token(organisation: Organisation, name: str) -> str:
    """Make a token and return it: this is the only time it exists in clear. Raises SetupError
    for a blank, too long or unprintable name (the name is how it is listed and revoked)."""
    name = checked_text("token name", name, ApiToken.name.max_length)
    token = security.new_token("kf_")
    ApiToken.create(organisation=organisation, name=name, token_hash=security.token_digest(token), prefix=token[:8])
    return token


def live_api_token(token: str) -> ApiToken | None:
    """The live (not revoked) token with this value, with its organisation; None otherwise.
    The one lookup of a bearer token, for the API and for the API documents."""
    token = token.strip()
    if not token or len(token) > 200:
        return None
    return _LIVE_TOKEN.first(digest=security.token_digest(token))


_LIVE_TOKEN = Prepared(
    lambda: (
        ApiToken.select(ApiToken, Organisation)
        .join(Organisation)
        .where((ApiToken.token_hash == param("digest", ApiToken.token_hash)) & ApiToken.revoked_at.is_null())
        .limit(1)
    )
)


def revoke_api_tokens(organisation: Organisation, name: str) -> int:
    """Revoke the organisation's live tokens named `name` (they stop working at their next
    request); returns how many were revoked, 0 when none matched."""
    return (
        ApiToken.update(revoked_at=utcnow())
        .where((ApiToken.organisation == organisation) & (ApiToken.name == name) & ApiToken.revoked_at.is_null())
        .execute()
    )


def api_tokens(organisation: Organisation) -> list[ApiToken]:
    """Every token of the organisation, revoked ones included, oldest first (only hashes and
    prefixes: a token is in clear only when created)."""
    return list(ApiToken.select().where(ApiToken.organisation == organisation).order_by(ApiToken.created_at))
