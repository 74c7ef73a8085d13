""" "Bought together" product recommendations from a tenant's order history.

Score of a candidate = number of baskets in which it appears together with at
least one product the person already bought. A basket is one order
(``scope="order"``) or everything one customer ever bought (``scope="customer"``,
denser for shops whose orders are mostly a single item). Ties break by overall
popularity (baskets containing the product), then by product id, so the same
history always gives the same list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class OrderBasket:
    profile_id: str
    product_ids: tuple[str, ...]


def _baskets(
    order_history: Iterable[OrderBasket], scope: Literal["order", "customer"]
) -> Iterator[frozenset[str]]:
    if scope == "order":
        for order in order_history:
            yield frozenset(order.product_ids)
        return
    per_customer: dict[str, set[str]] = {}
    for order in order_history:
        per_customer.setdefault(order.profile_id, set()).update(order.product_ids)
    for products in per_customer.values():
        yield frozenset(products)


def recommend(
    profile_products: Iterable[str],
    order_history: Iterable[OrderBasket],
    k: int,
    scope: Literal["order", "customer"] = "order",
) -> list[str]:
    """Up to ``k`` product ids most often bought together with ``profile_products``,
    never one of them. Fewer (or none) when too little co-occurs: pair with
    :func:`popular` for a fallback."""
    if k < 0:
        raise ValueError("k must be >= 0")
    owned = frozenset(profile_products)
    together: Counter[str] = Counter()
    popularity: Counter[str] = Counter()
    for basket in _baskets(order_history, scope):
        popularity.update(basket)
        if basket & owned:
            together.update(basket - owned)
    ranked = sorted(together, key=lambda p: (-together[p], -popularity[p], p))
    return ranked[:k]


def popular(order_history: Iterable[OrderBasket], k: int, exclude: Iterable[str] = ()) -> list[str]:
    """Up to ``k`` products in the most orders, excluding ``exclude``; ties by product id."""
    if k < 0:
        raise ValueError("k must be >= 0")
    skip = frozenset(exclude)
    counts: Counter[str] = Counter()
    for basket in _baskets(order_history, "order"):
        counts.update(basket - skip)
    return sorted(counts, key=lambda p: (-counts[p], p))[:k]
