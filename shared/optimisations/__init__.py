"""After creation: what a customer account is for.

This subpackage owns the forecasts (CSV uploads per market: the application's reference curve,
the manager's, the client's), the optimisations (one fixing-advice calendar each), the calendar
itself (a pure function of the parameters, the forecast curve and the recorded fixings), the
fixings, and the limits the KAM set in step 2 (markets, access windows, number per market,
editor) applied to them.
"""
