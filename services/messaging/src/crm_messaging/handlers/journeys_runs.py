"""Advance claimed runs: ask the interpreter, perform its actions (send through the
sending door, ``Enqueuer``; update the profile through the outbox), save state and
history, for a whole batch of runs in a few statements.

Runs inside the worker's transaction, so a crash loses nothing and repeats nothing:
the message id is derived from (journey, step, run), enqueueing twice is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import stable_event_id
from crm_common.events.customers import CustomerData, CustomerUpserted
from crm_messaging.domain.ids import journey_source_id
from crm_messaging.domain.journeys import (
    ExitRun,
    Facts,
    GoTo,
    JourneyDefinition,
    RunState,
    SendMessage,
    UpdateProfile,
    WaitUntil,
    evaluate,
    next_action,
)
from crm_messaging.handlers.errors import HandlerError
from crm_messaging.handlers.events import SOURCE, identity_of, publish
from crm_messaging.handlers.journeys_entry import ENTRY_REJECTED
from crm_messaging.metrics_journeys import RUNS_FINISHED, STEPS
from crm_messaging.repository import journey_runs as runs_repo
from crm_messaging.sending.enqueue import Enqueuer, MessageRequest

# A run moves through sends and branches at most this far in one round (no loop
# without a wait is valid, so this only bounds very long instant chains).
MAX_MOVES = 100

History = list[tuple[str | None, str, dict[str, Any], datetime]]


@dataclass
class Progress:
    state: RunState
    history: History = field(default_factory=list)
    status: str = "active"
    exit_reason: str | None = None
    wake_at: datetime | None = None


def state_of(run: RowMapping) -> RunState:
    return RunState(
        run_id=run["run_id"],
        profile_id=run["profile_id"],
        entered_at=run["entered_at"],
        current_step_id=run["current_step_id"],
        step_entered_at=run["step_entered_at"],
        visited=dict(run["visited"] or {}),
        context=dict(run["context"] or {}),
    )


def _move(progress: Progress, target: str | None, now: datetime) -> None:
    state = progress.state
    visited = dict(state.visited)
    if target is not None:
        visited[target] = now
    progress.state = state.model_copy(
        update={"current_step_id": target, "step_entered_at": now, "visited": visited}
    )


def _finish(progress: Progress, reason: str, now: datetime) -> None:
    if reason == "completed":
        progress.status = "completed"
    elif reason.startswith("goal:"):
        progress.status = "goal_reached"
    else:
        progress.status = "exited"
    progress.exit_reason = reason
    step = progress.state.current_step_id
    progress.history.append((step, progress.status, {"reason": reason}, now))
    RUNS_FINISHED.labels(progress.status).inc()


async def _send(
    enqueuer: Enqueuer,
    run: RowMapping,
    action: SendMessage,
    context: dict[str, str],
) -> dict[str, Any]:
    intent = MessageRequest(
        source_kind="journey",
        source_id=run["journey_id"],
        step_id=action.step_id,
        dedupe_key=journey_source_id(run["journey_id"], action.step_id, run["run_id"]),
        profile_id=run["profile_id"],
        channel=action.channel,
        purpose=action.purpose,
        template_id=action.template_id,
        context=dict(context),
    )
    message_id = await enqueuer.add(run["tenant_id"], intent)
    return {
        "channel": action.channel.value,
        "template_id": action.template_id,
        "message_id": message_id,
    }


async def _update_profile(
    session: AsyncSession, run: RowMapping, action: UpdateProfile, now: datetime
) -> dict[str, Any]:
    """``customer.upserted`` naming the profile directly (``crm`` external id); profile
    merges properties per key."""
    event = CustomerUpserted(
        event_id=stable_event_id("journey-update", run["run_id"], action.step_id),
        tenant_id=run["tenant_id"],
        source=SOURCE,
        occurred_at=now,
        received_at=now,
        identity=identity_of(run["profile_id"]),
        data=CustomerData(properties={action.property: action.value}, updated_at=now),
    )
    await publish(session, [event])
    return {"property": action.property, "value": action.value}


async def _perform(
    enqueuer: Enqueuer,
    run: RowMapping,
    progress: Progress,
    action: SendMessage | UpdateProfile | GoTo,
    now: datetime,
) -> None:
    step = progress.state.current_step_id
    if isinstance(action, GoTo):
        progress.history.append((step, "moved", {"to": action.step_id, "why": action.reason}, now))
        _move(progress, action.step_id, now)
        return
    if isinstance(action, SendMessage):
        detail = await _send(enqueuer, run, action, progress.state.context)
        progress.history.append((step, "sent", detail, now))
    else:
        detail = await _update_profile(enqueuer.session, run, action, now)
        progress.history.append((step, "updated_profile", detail, now))
    STEPS.labels("send" if isinstance(action, SendMessage) else "update_profile").inc()
    _move(progress, action.next_step_id, now)


Item = tuple[RowMapping, JourneyDefinition, Facts]


async def advance(
    session: AsyncSession, run: RowMapping, defn: JourneyDefinition, facts: Facts, now: datetime
) -> Progress:
    """Move the run as far as it can go at ``now`` and save it."""
    return (await advance_many(session, [(run, defn, facts)], now))[0]


async def advance_many(
    session: AsyncSession, items: Sequence[Item], now: datetime
) -> list[Progress]:
    """:func:`advance` for a batch of runs, their writes made together: the messages
    (one ``Enqueuer`` flush), the run states (one executemany) and their history."""
    last = await runs_repo.last_entries(session, [run["run_id"] for run, _, _ in items])
    enqueuer = Enqueuer(session, now)
    done = []
    for run, defn, facts in items:
        done.append(await _advance(enqueuer, run, defn, facts, now, last.get(run["run_id"])))
    await enqueuer.flush()
    saved = [_saved(run, p, now) for (run, _, _), p in zip(items, done, strict=True)]
    await runs_repo.save_runs(session, saved)
    await runs_repo.add_histories(
        session,
        [
            (run["run_id"], run["tenant_id"], _next_seq(last.get(run["run_id"])), p.history)
            for (run, _, _), p in zip(items, done, strict=True)
            if p.history
        ],
    )
    return done


def _next_seq(last: RowMapping | None) -> int:
    return (last["seq"] if last is not None else 0) + 1


async def _advance(
    enqueuer: Enqueuer,
    run: RowMapping,
    defn: JourneyDefinition,
    facts: Facts,
    now: datetime,
    last: RowMapping | None,
) -> Progress:
    progress = Progress(state_of(run))
    if not _admitted(defn, progress, facts, now):
        return progress
    for _ in range(MAX_MOVES):
        try:
            action = next_action(defn, progress.state, facts, now)
            if isinstance(action, ExitRun):
                _finish(progress, action.reason, now)
                break
            if isinstance(action, WaitUntil):
                progress.wake_at = action.until
                _note_wait(progress, action.until, now, last)
                break
            await _perform(enqueuer, run, progress, action, now)
        except HandlerError as exc:
            # A send the pipeline refuses outright (template deleted, wrong channel):
            # the run cannot go on; say why instead of retrying forever.
            _finish(progress, f"error:{exc.code}", now)
            break
    else:
        progress.wake_at = now  # a very long instant chain: go on next round
    return progress


def _admitted(defn: JourneyDefinition, progress: Progress, facts: Facts, now: datetime) -> bool:
    """The deferred entry condition, on the run's first round (nothing visited yet)."""
    state = progress.state
    if defn.entry_condition is None or state.visited:
        return True
    if not evaluate(defn.entry_condition, state, facts):
        _finish(progress, ENTRY_REJECTED, now)
        return False
    progress.history.append((state.current_step_id, "admitted", {}, now))
    _move(progress, state.current_step_id, now)
    return True


def _note_wait(progress: Progress, until: datetime, now: datetime, last: RowMapping | None) -> None:
    # Once per arrival at a wait step; re-arming after a wake-up (a fact arrived) is
    # silent. ``last``: the run's last history entry when the round began.
    step = progress.state.current_step_id
    if (
        not progress.history
        and last is not None
        and (last["step_id"], last["action"]) == (step, "waiting")
    ):
        return
    progress.history.append((step, "waiting", {"until": until.isoformat()}, now))


def _saved(run: RowMapping, progress: Progress, now: datetime) -> dict[str, Any]:
    state = progress.state
    ended = progress.status != "active"
    return {
        "run_id": run["run_id"],
        "status": progress.status,
        "current_step_id": state.current_step_id,
        "step_entered_at": state.step_entered_at,
        "visited": {k: v.isoformat() for k, v in state.visited.items()},
        "next_wake_at": None if ended else progress.wake_at,
        "exit_reason": progress.exit_reason,
        "finished_at": now if ended else None,
        "updated_at": now,
    }


async def _save(session: AsyncSession, run: RowMapping, progress: Progress, now: datetime) -> None:
    values = _saved(run, progress, now)
    await runs_repo.save_run(session, values.pop("run_id"), **values)
    await runs_repo.add_history(session, run["run_id"], run["tenant_id"], progress.history)


async def fail_run(
    session: AsyncSession, run: RowMapping, now: datetime, reason: str = "error:internal"
) -> None:
    """End a run the worker could not advance (a bug or bad data), with the reason.

    It reads nothing of the run's stored state: a state that cannot be parsed is one
    of the reasons a run fails, and failing to end it would fail every round."""
    await runs_repo.save_run(
        session,
        run["run_id"],
        status="exited",
        next_wake_at=None,
        exit_reason=reason,
        finished_at=now,
        updated_at=now,
    )
    history = [(run["current_step_id"], "exited", {"reason": reason}, now)]
    await runs_repo.add_history(session, run["run_id"], run["tenant_id"], history)
    RUNS_FINISHED.labels("exited").inc()
