"""The fault run (``make chaos``): a shop's traffic against the cluster while a seeded
schedule kills, stops and restarts its parts; then an invariant checker, written apart
from the services (it reads only their APIs, the topics and the sinks), compares what
the system holds with the load generator's own record and prints ``lost N,
duplicated N`` per stage."""
