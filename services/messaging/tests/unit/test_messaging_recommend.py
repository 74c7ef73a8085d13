import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_messaging.domain.recommend import OrderBasket, popular, recommend

HISTORY = [
    OrderBasket("p1", ("tea", "cup", "kettle")),
    OrderBasket("p2", ("tea", "cup")),
    OrderBasket("p3", ("tea", "cookie")),
    OrderBasket("p4", ("cookie",)),
    OrderBasket("p4", ("cookie", "cup")),
    OrderBasket("p5", ("tea", "tea", "honey")),
    OrderBasket("p6", ("coffee", "filter")),
    OrderBasket("p6", ("honey",)),
]


def test_co_occurrence_ranked_with_popularity_then_id_tie_break() -> None:
    # with tea: cup 2, cookie 1, honey 1, kettle 1; ties by popularity: cookie 3 orders,
    # honey 2, kettle 1
    assert recommend(["tea"], HISTORY, 10) == ["cup", "cookie", "honey", "kettle"]
    assert recommend(["tea"], HISTORY, 2) == ["cup", "cookie"]


def test_already_bought_products_are_excluded() -> None:
    assert recommend(["tea", "cup"], HISTORY, 10) == ["cookie", "honey", "kettle"]


def test_customer_scope_joins_a_customers_orders() -> None:
    # p6 bought honey in another order than coffee; honey is with 2 customers, filter 1
    assert recommend(["coffee"], HISTORY, 10, scope="order") == ["filter"]
    assert recommend(["coffee"], HISTORY, 10, scope="customer") == ["honey", "filter"]


def test_nothing_co_occurs_and_popular_fallback() -> None:
    assert recommend(["unknown"], HISTORY, 5) == []
    assert recommend(["tea"], HISTORY, 0) == []
    assert popular(HISTORY, 3, exclude=["tea"]) == ["cookie", "cup", "honey"]
    with pytest.raises(ValueError):
        recommend(["tea"], HISTORY, -1)


_ids = st.sampled_from(["a", "b", "c", "d", "e", "f"])
_baskets = st.lists(
    st.builds(OrderBasket, st.sampled_from(["p1", "p2", "p3"]), st.tuples(_ids, _ids, _ids)),
    max_size=20,
)


@given(owned=st.lists(_ids, max_size=3), history=_baskets, k=st.integers(0, 6))
def test_deterministic_bounded_and_never_owned(
    owned: list[str], history: list[OrderBasket], k: int
) -> None:
    result = recommend(owned, history, k)
    assert result == recommend(list(reversed(owned)), list(reversed(history)), k)
    assert len(result) <= k
    assert not set(result) & set(owned)
    assert len(set(result)) == len(result)
