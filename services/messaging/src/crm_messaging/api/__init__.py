"""HTTP routers; deps.py holds the Annotated dependency aliases."""
