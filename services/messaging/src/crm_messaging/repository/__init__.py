"""All SQL of the messaging service, one module per table family.

Functions take the caller's session and flush; the boundary (request, batch,
dispatcher step) owns the transaction and commits.
"""
