"""Shortcuts on the hot HTTP paths give the same answers as the general code they skip."""

from __future__ import annotations

import uuid

import pytest

from overworld.api.http.edge import RequestMetrics
from overworld.api.http.fastpath import auth_query
from overworld.errors import InvalidArgument
from overworld.sessions.tokens import _uuid4


@pytest.mark.parametrize(
    "query, expected",
    [
        (b"", (True, "")),
        (b"create=true", (True, "")),
        (b"create=1", (True, "")),
        (b"create=false", (False, "")),
        (b"create=0", (False, "")),
        # Not in the table of common queries: parsed.
        (b"create=FALSE", (False, "")),
        (b"create=false&username=bob", (False, "bob")),
        (b"username=al%20ice", (True, "al ice")),
        (b"create=true&create=false", (False, "")),
    ],
)
def test_auth_query(query, expected):
    assert auth_query({"query_string": query}) == expected
    # The same query, forced through the parser (an extra ignored parameter), agrees.
    assert auth_query({"query_string": query + b"&x=1"}) == expected


def test_auth_query_rejects_a_bad_create():
    with pytest.raises(InvalidArgument, match="create: expected true or false"):
        auth_query({"query_string": b"create=maybe"})


def test_token_ids_are_version_4_uuids():
    seen = set()
    for _ in range(2000):
        text = _uuid4()
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
        seen.add(text)
    assert len(seen) == 2000
    # Every value of the two random variant bits occurs.
    assert {text[19] for text in seen} == set("89ab")


def test_request_metrics_families_match_prometheus_histograms():
    metrics = RequestMetrics()  # not registered: only its own numbers
    for seconds in (0.0005, 0.0006, 0.3, 7.0):
        metrics.observe("GET", "/v2/account", 200, seconds)
    metrics.observe("GET", "/v2/account", 401, 0.001)
    metrics.in_progress = 2
    families = {family.name: family for family in metrics.collect()}
    counts = {
        tuple(sorted(s.labels.items())): s.value
        for s in families["overworld_requests"].samples
        if s.name.endswith("_total")
    }
    assert counts == {
        (("method", "GET"), ("path", "/v2/account"), ("status_code", "200")): 4,
        (("method", "GET"), ("path", "/v2/account"), ("status_code", "401")): 1,
    }
    buckets = {
        s.labels["le"]: s.value
        for s in families["overworld_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    # Cumulative, upper bounds inclusive, as prometheus_client's Histogram counts.
    assert buckets["0.0005"] == 1 and buckets["0.001"] == 3 and buckets["0.25"] == 3
    assert buckets["0.5"] == 4 and buckets["5.0"] == 4 and buckets["+Inf"] == 5
    sums = [
        s.value for s in families["overworld_request_duration_seconds"].samples if s.name.endswith("_sum")
    ]
    assert sums == [pytest.approx(0.0005 + 0.0006 + 0.3 + 7.0 + 0.001)]
    assert families["overworld_requests_in_progress"].samples[0].value == 2
