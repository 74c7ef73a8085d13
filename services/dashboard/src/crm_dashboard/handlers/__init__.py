"""Console commands: users and sign-in."""
