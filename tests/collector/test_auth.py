"""Access beyond loopback: the query API and operator deletions need the admin token; ingestion only write keys."""

from __future__ import annotations

from collector_helpers import batch, event, running

from blindai_telemetry.collector.settings import CollectorSettings

TOKEN = "admin-secret-token"


def test_a_collector_configured_beyond_loopback_guards_the_query_api_with_the_admin_token() -> None:
    # Served on 127.0.0.1 for the test, but configured as if it listened on every address.
    settings = CollectorSettings(host="0.0.0.0", admin_token=TOKEN, retention_days=0)
    with running(settings=settings) as c, c.client() as http:
        assert http.post("/v1/batch", json=batch(event())).status_code == 200  # no write key configured
        refused = http.get("/api/v1/summary")
        assert refused.status_code == 401 and "admin token" in refused.json()["error"]
        assert http.get("/api/v1/summary", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = http.get("/api/v1/summary", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["events"] == 1
        assert http.get("/healthz").status_code == 200 and http.get("/metrics").status_code == 200


def test_on_loopback_without_a_token_local_operators_are_trusted() -> None:
    with running(settings=CollectorSettings(retention_days=0)) as c, c.client() as http:
        assert http.get("/api/v1/summary").status_code == 200
        ids = [f"install-{i}" for i in range(50)]
        assert http.post("/v1/deletions", json={"install_ids": ids}).status_code == 202


def test_behind_a_local_reverse_proxy_loopback_is_no_proof_of_a_local_operator() -> None:
    # A proxy on the same machine forwards the world's requests from 127.0.0.1; its headers give it away.
    proxied = {"X-Forwarded-For": "203.0.113.9"}
    with running(settings=CollectorSettings(retention_days=0)) as c, c.client() as http:
        assert http.post("/v1/batch", json=batch(event()), headers=proxied).status_code == 200  # ingestion is open
        refused = http.get("/api/v1/summary", headers={"Forwarded": "for=203.0.113.9"})
        assert refused.status_code == 401 and "--admin-token" in refused.json()["error"]
        many = [f"install-{i}" for i in range(50)]
        assert http.post("/v1/deletions", json={"install_ids": many}, headers=proxied).status_code == 401
        # An install may still delete its own id through the proxy: the random id is the capability.
        assert http.post("/v1/deletions", json={"install_ids": ["install-1"]}, headers=proxied).status_code == 202
        assert http.get("/api/v1/summary").status_code == 200  # the local operator, straight to the port


def test_once_an_admin_token_is_set_the_query_api_wants_it_even_on_loopback() -> None:
    # The deployment guide's setup: loopback behind a proxy that adds no forwarding header (nginx's default).
    with running(settings=CollectorSettings(admin_token=TOKEN, retention_days=0)) as c, c.client() as http:
        assert http.get("/api/v1/summary").status_code == 401
        assert http.post("/v1/deletions", json={"install_ids": [f"a-{i}" for i in range(50)]}).status_code == 401
        proxied = {"X-Real-IP": "203.0.113.9"}
        assert http.get("/api/v1/summary", headers=proxied).status_code == 401
        auth = {**proxied, "Authorization": f"Bearer {TOKEN}"}
        assert http.get("/api/v1/summary", headers=auth).status_code == 200
