"""The dispatcher: claim due messages, decide, render, send, record.

See :mod:`crm_messaging.dispatch.worker` for the loop and
:mod:`crm_messaging.dispatch.recovery` for the crash policy.
"""
