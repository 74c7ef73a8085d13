"""`make bench`: throughput and latency of each stage, as ratios to the raw limits.

Every stage appends rows ``{"stage", "metric", "value", "unit", "limit_ratio"}``;
the raw limits (Kafka produce/consume with aiokafka, Postgres insert/upsert
with asyncpg) are measured first in the same run, so ratios compare like with
like on a noisy shared machine.
"""
