"""Use cases of the profile service, inside one transaction owned by the caller.

* ``batch``: the unit of work of one tenant's events (locked profiles, facts).
* ``identity``: create / attach / merge against the database.
* ``effects``: what each event type does to a profile.
* ``publish``: traits recomputed, versions bumped, ``profile.changed`` enqueued.
* ``process``: the consumer's batch handler and the entry point shared with the API.
* ``commands``: PATCH / DELETE from the API, recorded as canonical events.
* ``analytics``: the console's aggregates (overview, RFM, rank movement); read only.
"""
