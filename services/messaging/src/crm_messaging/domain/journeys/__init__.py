"""Journeys: definitions, validation, the pure interpreter and installable templates.

problems = validate_journey(defn)            # [(step_id, message), ...]
action = next_action(defn, run, facts, now)  # WaitUntil | SendMessage | GoTo | ...
"""

from crm_messaging.domain.journeys.entry import reentry_allowed, run_key
from crm_messaging.domain.journeys.interpreter import evaluate, goal_reached, next_action
from crm_messaging.domain.journeys.models import *  # noqa: F403
from crm_messaging.domain.journeys.models import __all__ as _model_names
from crm_messaging.domain.journeys.state import (
    Action,
    EngagementFact,
    ExitRun,
    Facts,
    GoTo,
    OrderFact,
    RunState,
    SendMessage,
    UpdateProfile,
    WaitUntil,
)
from crm_messaging.domain.journeys.templates import (
    JOURNEY_TEMPLATES,
    abandoned_checkout,
    f2_step_mail,
    winback_escalation,
)
from crm_messaging.domain.journeys.validation import JourneyProblem, validate_journey
from crm_messaging.domain.journeys.waits import wait_until

__all__ = [
    "JOURNEY_TEMPLATES",
    "Action",
    "EngagementFact",
    "ExitRun",
    "Facts",
    "GoTo",
    "JourneyProblem",
    "OrderFact",
    "RunState",
    "SendMessage",
    "UpdateProfile",
    "WaitUntil",
    "abandoned_checkout",
    "evaluate",
    "f2_step_mail",
    "goal_reached",
    "next_action",
    "reentry_allowed",
    "run_key",
    "validate_journey",
    "wait_until",
    "winback_escalation",
    *_model_names,
]
