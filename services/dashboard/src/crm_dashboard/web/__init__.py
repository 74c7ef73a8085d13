"""Server-rendered pages of the console (one router per area)."""
