"""Identity resolution planner: create, attach, merge, and refusals to merge."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events import Identity
from crm_profile.domain.errors import NoIdentifiersError
from crm_profile.domain.identity import Identifier, IdentifierKind, identifiers_of
from crm_profile.domain.resolution import (
    Conflict,
    ConflictReason,
    PlanAction,
    ProfileRef,
    ResolutionPlan,
    plan_resolution,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
K = IdentifierKind

EXT1 = Identifier(kind=K.EXTERNAL_ID, value="shopify:1")
EXT2 = Identifier(kind=K.EXTERNAL_ID, value="shopify:2")
MS9 = Identifier(kind=K.EXTERNAL_ID, value="makeshop:9")
EMAIL_A = Identifier(kind=K.EMAIL, value="a@example.jp")
EMAIL_B = Identifier(kind=K.EMAIL, value="b@example.jp")
PHONE = Identifier(kind=K.PHONE, value="+819012345678")
CART = Identifier(kind=K.CART_TOKEN, value="cart-1")
CHECKOUT = Identifier(kind=K.CHECKOUT_TOKEN, value="chk-1")
ANON = Identifier(kind=K.ANONYMOUS_ID, value="anon-1")


def ref(pid: str, day: int, *ids: Identifier) -> ProfileRef:
    return ProfileRef(
        profile_id=pid, created_at=T0 + timedelta(days=day), identifiers=frozenset(ids)
    )


def test_no_owner_creates_with_every_identifier() -> None:
    plan = plan_resolution([PHONE, EMAIL_A], [])

    assert plan == ResolutionPlan(action=PlanAction.CREATE, identifiers_to_add=(EMAIL_A, PHONE))


def test_one_owner_attaches_and_adds_the_new_identifiers() -> None:
    plan = plan_resolution([EMAIL_A, PHONE], [ref("p1", 0, EMAIL_A)])

    assert plan == ResolutionPlan(
        action=PlanAction.ATTACH, profile_id="p1", identifiers_to_add=(PHONE,)
    )


def test_oldest_survives_a_merge_of_strong_owners() -> None:
    owners = [ref("p2", 1, EMAIL_A), ref("p3", 1, PHONE), ref("p9", 0, EXT1)]

    plan = plan_resolution([EXT1, EMAIL_A, PHONE], owners)

    assert plan == ResolutionPlan(action=PlanAction.MERGE, profile_id="p9", merged_ids=("p2", "p3"))


def test_created_at_tie_is_broken_by_profile_id() -> None:
    plan = plan_resolution([EMAIL_A, PHONE], [ref("p7", 0, PHONE), ref("p5", 0, EMAIL_A)])

    assert (plan.profile_id, plan.merged_ids) == ("p5", ("p7",))


def test_different_platform_ids_are_never_merged() -> None:
    owners = [ref("p1", 0, EXT1, EMAIL_A), ref("p2", 1, EXT2, PHONE)]

    plan = plan_resolution([EMAIL_A, PHONE], owners)

    assert plan == ResolutionPlan(
        action=PlanAction.ATTACH,
        profile_id="p1",
        conflicts=(
            Conflict(
                profile_id="p2", reason=ConflictReason.PLATFORM_ID_CONFLICT, identifiers=(EXT2,)
            ),
        ),
    )


def test_event_with_another_platform_id_does_not_take_over_a_shared_email() -> None:
    plan = plan_resolution([EXT2, EMAIL_A], [ref("p1", 0, EXT1, EMAIL_A)])

    assert plan == ResolutionPlan(
        action=PlanAction.CREATE,
        identifiers_to_add=(EXT2,),
        conflicts=(
            Conflict(
                profile_id="p1", reason=ConflictReason.PLATFORM_ID_CONFLICT, identifiers=(EXT1,)
            ),
        ),
    )


def test_a_record_holding_two_ids_of_a_platform_is_found_through_either() -> None:
    """Records written before ids were kept one per platform may hold two; an event
    naming one of them must attach, not plan a creation with nothing to create."""
    owners = [ref("p1", 0, EXT1, EXT2, EMAIL_A)]

    for incoming in ([EXT1], [EXT2, EMAIL_A], [EXT1, PHONE]):
        plan = plan_resolution(incoming, owners)
        assert (plan.action, plan.profile_id, plan.conflicts) == (PlanAction.ATTACH, "p1", ())


def test_ids_on_different_platforms_merge() -> None:
    plan = plan_resolution([MS9, EMAIL_A], [ref("p1", 0, EXT1, EMAIL_A), ref("p2", 1, MS9)])

    assert (plan.action, plan.profile_id, plan.merged_ids) == (PlanAction.MERGE, "p1", ("p2",))


def test_token_links_an_anonymous_record_to_a_known_one() -> None:
    owners = [ref("anon", 0, CART, ANON), ref("known", 5, EMAIL_A)]

    plan = plan_resolution([EMAIL_A, CART], owners)

    assert (plan.action, plan.profile_id, plan.merged_ids) == (PlanAction.MERGE, "anon", ("known",))


def test_token_never_merges_two_known_records() -> None:
    owners = [ref("p1", 0, EMAIL_A, CART), ref("p2", 1, EMAIL_B, ANON)]

    plan = plan_resolution([CART, ANON], owners)

    assert plan == ResolutionPlan(
        action=PlanAction.ATTACH,
        profile_id="p1",
        conflicts=(
            Conflict(profile_id="p2", reason=ConflictReason.WEAK_LINK_ONLY, identifiers=(ANON,)),
        ),
    )


def test_token_does_not_attach_someone_else_to_a_known_record() -> None:
    plan = plan_resolution([EMAIL_B, CHECKOUT], [ref("p1", 0, EMAIL_A, CHECKOUT)])

    assert plan == ResolutionPlan(
        action=PlanAction.CREATE,
        identifiers_to_add=(EMAIL_B,),
        conflicts=(
            Conflict(
                profile_id="p1", reason=ConflictReason.WEAK_LINK_ONLY, identifiers=(CHECKOUT,)
            ),
        ),
    )


def test_owners_without_a_shared_identifier_are_ignored() -> None:
    plan = plan_resolution([EMAIL_A], [ref("p1", 0, PHONE)])

    assert plan == ResolutionPlan(action=PlanAction.CREATE, identifiers_to_add=(EMAIL_A,))


def test_an_event_without_identifiers_is_refused() -> None:
    with pytest.raises(NoIdentifiersError):
        plan_resolution([], [ref("p1", 0, EMAIL_A)])


class FakeIdentityStore:
    """What the persistence layer will do with a plan, in memory."""

    def __init__(self) -> None:
        self.owner: dict[Identifier, str] = {}
        self.created: dict[str, datetime] = {}

    def refs(self, wanted: list[Identifier]) -> list[ProfileRef]:
        pids = {self.owner[i] for i in wanted if i in self.owner}
        return [
            ProfileRef(
                profile_id=pid,
                created_at=self.created[pid],
                identifiers=frozenset(i for i, o in self.owner.items() if o == pid),
            )
            for pid in pids
        ]

    def ingest(self, identity: Identity, at: datetime) -> str:
        wanted = identifiers_of(identity)
        plan = plan_resolution(wanted, self.refs(wanted))
        pid = plan.profile_id or f"p{len(self.created) + 1}"
        self.created.setdefault(pid, at)
        for merged in plan.merged_ids:
            self.owner = {i: pid if o == merged else o for i, o in self.owner.items()}
            del self.created[merged]
        self.owner |= dict.fromkeys(plan.identifiers_to_add, pid)
        return pid


def test_checkout_then_customer_then_order_by_phone_is_one_profile() -> None:
    store = FakeIdentityStore()

    checkout = store.ingest(Identity(email="Hanako@Example.jp", checkout_token="chk-1"), T0)
    customer = store.ingest(
        Identity(email="hanako@example.jp", phone="080-1111-2222", external_ids={"shopify": "77"}),
        T0 + timedelta(hours=1),
    )
    order = store.ingest(Identity(phone="+81 80 1111 2222"), T0 + timedelta(hours=2))

    assert checkout == customer == order == "p1"
    assert list(store.created) == ["p1"]
    assert set(store.owner) == set(
        identifiers_of(
            Identity(
                email="hanako@example.jp",
                phone="08011112222",
                external_ids={"shopify": "77"},
                checkout_token="chk-1",
            )
        )
    )


def test_phone_and_email_profiles_merge_when_a_customer_names_both() -> None:
    store = FakeIdentityStore()
    by_phone = store.ingest(Identity(phone="080-1111-2222"), T0)
    by_email = store.ingest(Identity(email="hanako@example.jp"), T0 + timedelta(hours=1))

    merged = store.ingest(
        Identity(email="hanako@example.jp", phone="08011112222"), T0 + timedelta(hours=2)
    )

    assert (by_phone, by_email, merged) == ("p1", "p2", "p1")
    assert list(store.created) == ["p1"]


POOL = [EXT1, EXT2, MS9, EMAIL_A, EMAIL_B, PHONE, CART, CHECKOUT, ANON]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Identifier], list[ProfileRef]]:
    owner_of = draw(st.lists(st.sampled_from([None, 0, 1, 2, 3]), min_size=9, max_size=9))
    days = draw(st.lists(st.integers(0, 2), min_size=4, max_size=4))
    owned: dict[int, set[Identifier]] = {}
    for ident, index in zip(POOL, owner_of, strict=True):
        mine = owned.setdefault(index, set()) if index is not None else None
        if mine is not None and not any(i.platform and i.platform == ident.platform for i in mine):
            mine.add(ident)
    owners = [ref(f"p{i}", days[i], *ids) for i, ids in owned.items() if ids]
    incoming = draw(st.lists(st.sampled_from(POOL), min_size=1, unique=True))
    if EXT1 in incoming and EXT2 in incoming:
        incoming.remove(EXT2)  # an identity holds one id per platform
    return incoming, owners


@given(scenarios(), st.randoms())
def test_plan_does_not_depend_on_input_order(
    scenario: tuple[list[Identifier], list[ProfileRef]], rnd: random.Random
) -> None:
    incoming, owners = scenario
    shuffled_in, shuffled_owners = list(incoming), list(owners)
    rnd.shuffle(shuffled_in)
    rnd.shuffle(shuffled_owners)

    assert plan_resolution(shuffled_in, shuffled_owners) == plan_resolution(incoming, owners)


@given(scenarios())
def test_a_plan_never_joins_two_ids_of_one_platform_and_keeps_the_oldest(
    scenario: tuple[list[Identifier], list[ProfileRef]],
) -> None:
    incoming, owners = scenario
    plan = plan_resolution(incoming, owners)
    by_id = {p.profile_id: p for p in owners}
    group = [by_id[pid] for pid in (plan.profile_id, *plan.merged_ids) if pid is not None]
    joined = set(plan.identifiers_to_add).union(*(p.identifiers for p in group))
    platforms = [i.platform for i in joined if i.platform]

    assert len(platforms) == len(set(platforms))
    assert group == sorted(group, key=lambda p: (p.created_at, p.profile_id))
    assert {c.profile_id for c in plan.conflicts}.isdisjoint(p.profile_id for p in group)
