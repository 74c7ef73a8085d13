"""Sending, the hot path as one package: a message intent in, a provider call out.

``enqueue.enqueue_message`` is the only door in (journeys, campaigns and the API
call it inside their own transaction). From there: the dispatcher
(:mod:`.dispatcher`) claims due messages, decides them at send time and renders
them (:mod:`.prepare`, :mod:`.render_pool`), sends through a channel adapter
(:mod:`.channels`) and records each transition with its ``message.*`` event
(:mod:`.transitions`, :mod:`.repository`); :mod:`.recovery` is the crash policy.
"""
