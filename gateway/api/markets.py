"""GET /api/v1/markets: the catalogue, and what the caller's organisation offers of it."""

from flask import g
from marshmallow import Schema, fields

from gateway.api.auth import authenticate
from gateway.api.parsing import Blueprint
from shared import rules
from shared.markets import CATALOGUE, as_dict
from shared.schemas import MarketCatalogueSchema

blp = Blueprint("markets", __name__, url_prefix="/api/v1", description="The market catalogue")
blp.before_request(authenticate)


class OfferedMarketSchema(MarketCatalogueSchema):
    offered = fields.Boolean(metadata={"description": "Your organisation offers this market."})
    manager_forecast = fields.Boolean(
        metadata={"description": "Your manager inserted forecasts for it: the 'manager' forecast can be shared."}
    )


class MarketListSchema(Schema):
    items = fields.List(fields.Nested(OfferedMarketSchema))


@blp.get("/markets")
@blp.response(200, MarketListSchema)
def list_markets():
    offered = rules.offered_markets(g.organisation.id)
    with_manager = rules.markets_with_manager_forecasts(g.organisation.id)
    return {
        "items": [
            {**as_dict(m), "offered": m.id in offered, "manager_forecast": m.id in with_manager}
            for m in CATALOGUE.values()
        ]
    }
