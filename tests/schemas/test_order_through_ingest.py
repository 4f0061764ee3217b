"""The same shapes sent in another order, through native ingest, end at the same version."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.schemas.support import api_schema, send
from tests.schemas.test_shapes import details

pytestmark = pytest.mark.django_db

_types = itertools.count()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(details, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_the_same_shapes_in_another_order_give_the_same_versions_apart_from_numbering(client, auth, events, rng):
    shuffled = list(events)
    rng.shuffle(shuffled)
    first, second = f"Ordered{next(_types)}", f"Shuffled{next(_types)}"
    for detail_type, sequence in ((first, events), (second, shuffled)):
        for detail in sequence:  # one request each: each may start a version
            send(client, auth, detail, detail_type=detail_type)
    ordered, reordered = api_schema(client, auth, first), api_schema(client, auth, second)
    assert ordered["events"] == reordered["events"] == len(events)
    latest, other = ordered["versions"][-1], reordered["versions"][-1]
    other["schema"]["title"] = latest["schema"]["title"]  # the title names the type and its number
    assert latest["schema"] == other["schema"]
