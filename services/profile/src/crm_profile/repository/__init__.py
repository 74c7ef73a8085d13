"""All SQL of the profile service. Functions flush through the caller's session
and never commit: the boundary (a consumed batch, a request) owns the transaction.

* ``records``: profiles and identifiers (row locks, claims, merges).
* ``facts``: orders, subscriptions, engagement and the timeline.
* ``reads``: queries behind the REST API.
* ``settings``: per-tenant RFM thresholds and currency.
* ``due``: profiles whose time-dependent traits need recomputing.
"""
