"""Pure domain logic of the profile service: no I/O, time passed in as ``now``.

Modules:

* ``identity`` / ``resolution``: canonical identifiers and the create / attach /
  merge planner.
* ``facts``: order facts and their convergent reducer; ``attributes``,
  ``consent`` and ``activity`` do the same for customer attributes, consent
  and suppression, engagement and subscriptions.
* ``traits``, ``rfm``, ``purchases``: traits recomputed from facts.
* ``redaction``: erasing personal data; ``merging``: two records becoming one.
* ``snapshot``: the flat segmentable snapshot of ``profile.changed``.
"""

from crm_profile.domain.activity import (
    EngagementFact,
    EngagementKind,
    SubscriptionFact,
    apply_subscription_event,
    engagement_fact_of,
)
from crm_profile.domain.attributes import (
    PERSONAL_FIELDS,
    Attributes,
    Property,
    apply_customer_event,
)
from crm_profile.domain.consent import (
    ConsentRecord,
    Permissions,
    Suppression,
    SuppressionReason,
    apply_consent_event,
    lift_suppression,
    suppress,
)
from crm_profile.domain.errors import (
    FactMismatchError,
    NoIdentifiersError,
    ProfileDomainError,
    UnsupportedEventError,
)
from crm_profile.domain.facts import (
    ORDER_EVENT_TYPES,
    Cancellation,
    LineFact,
    OrderDetails,
    OrderFact,
    RefundFact,
    apply_order_event,
    fold_order_events,
)
from crm_profile.domain.identity import (
    Identifier,
    IdentifierKind,
    identifiers_of,
    identifiers_of_event,
)
from crm_profile.domain.merging import merge_attributes, merge_permissions
from crm_profile.domain.purchases import Acquisition
from crm_profile.domain.redaction import redact
from crm_profile.domain.resolution import (
    Conflict,
    ConflictReason,
    PlanAction,
    ProfileRef,
    ResolutionPlan,
    plan_resolution,
)
from crm_profile.domain.rfm import RfmScores, RfmThresholds, score_rfm
from crm_profile.domain.snapshot import build_snapshot, segmentable_attributes
from crm_profile.domain.traits import Traits, compute_traits, f_stage
from crm_profile.domain.versions import Stamp, Stamped

__all__ = [
    "ORDER_EVENT_TYPES",
    "PERSONAL_FIELDS",
    "Acquisition",
    "Attributes",
    "Cancellation",
    "Conflict",
    "ConflictReason",
    "ConsentRecord",
    "EngagementFact",
    "EngagementKind",
    "FactMismatchError",
    "Identifier",
    "IdentifierKind",
    "LineFact",
    "NoIdentifiersError",
    "OrderDetails",
    "OrderFact",
    "Permissions",
    "PlanAction",
    "ProfileDomainError",
    "ProfileRef",
    "Property",
    "RefundFact",
    "ResolutionPlan",
    "RfmScores",
    "RfmThresholds",
    "Stamp",
    "Stamped",
    "SubscriptionFact",
    "Suppression",
    "SuppressionReason",
    "Traits",
    "UnsupportedEventError",
    "apply_consent_event",
    "apply_customer_event",
    "apply_order_event",
    "apply_subscription_event",
    "build_snapshot",
    "compute_traits",
    "engagement_fact_of",
    "f_stage",
    "fold_order_events",
    "identifiers_of",
    "identifiers_of_event",
    "lift_suppression",
    "merge_attributes",
    "merge_permissions",
    "plan_resolution",
    "redact",
    "score_rfm",
    "segmentable_attributes",
    "suppress",
]
