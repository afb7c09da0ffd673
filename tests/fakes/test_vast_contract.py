"""Contract test: the official ``vastai`` SDK must work against FakeVast, sending what the
fake expects and accepting what it answers.

If one of these fails after an SDK upgrade, the fake has drifted from the real service: fix
the fake, not the test. The second half checks the fake's own scripting (state machine,
hooks, faults) through the SDK, so what Hark's client tests rely on is pinned here too.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from vastai import VastAI

from tests.fakes.vast import DEFAULT_KEY, FakeInstance, FakeVast

IMAGE = "ghcr.io/hark/server:1.0"


@pytest.fixture
def fake() -> Iterator[FakeVast]:
    with FakeVast() as server:
        yield server


def sdk_for(fake: FakeVast, key: str = DEFAULT_KEY, retry: int = 3) -> VastAI:
    return VastAI(api_key=key, server_url=fake.url, retry=retry, raw=True, quiet=True)


@pytest.fixture
def sdk(fake: FakeVast) -> VastAI:
    return sdk_for(fake)


def create(sdk: VastAI, offer_id: int = 1001, **extra: Any) -> int:
    args: dict[str, Any] = {
        "image": IMAGE,
        "disk": 40,
        "env": {"-p 8443:8443": "1", "HARK_API_KEY": "k" * 40},
        "onstart_cmd": "bash /opt/hark/onstart.sh",
        "label": "hark-test",
        "cancel_unavail": True,
        "runtype": "args",
    }
    answer = sdk.create_instance(offer_id, **{**args, **extra})
    assert answer["success"] is True
    return int(answer["new_contract"])


def status_error(exc: pytest.ExceptionInfo[requests.HTTPError]) -> tuple[int, Any]:
    response = exc.value.response
    assert response is not None
    return response.status_code, response.json()


# --- what the SDK sends, and what it makes of the answers ---------------------------------------


def test_search_turns_a_query_into_a_filter_object_and_parses_offers(
    fake: FakeVast, sdk: VastAI
) -> None:
    offers = sdk.search_offers(
        query="gpu_ram>=24 reliability>0.98 direct_port_count>=2 cuda_vers>=12.4 "
        "inet_down>=200 dph<=2",
        order="dph_total",
        limit=5,
    )
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v0/bundles/")
    assert sent.body["gpu_ram"] == {"gte": 24000.0}  # GB in the query, MB on the wire
    assert sent.body["cuda_max_good"] == {"gte": "12.4"}  # a string version
    assert sent.body["reliability"] == {"gt": "0.98"}
    assert sent.body["dph_total"] == {"lte": "2"}
    assert sent.body["rentable"] == {"eq": True}
    assert sent.body["order"] == [["dph_total", "asc"]]
    assert (sent.body["type"], sent.body["limit"]) == ("on-demand", 5)
    # 1002 has CUDA 12.2, 1004 12 GB: filtered out; the rest cheapest first.
    assert [o["id"] for o in offers] == [1001, 1003]
    assert offers[0]["gpu_name"] == "RTX 4090"
    assert offers[0]["dph_total"] == 0.35


def test_offers_may_carry_numbers_as_strings(fake: FakeVast, sdk: VastAI) -> None:
    fake.add_offer(id=77, gpu_ram=16384, dph_total=0.05, strings=True)
    offers = sdk.search_offers(query="gpu_ram>=16 dph<0.06", order="dph_total")
    assert [o["id"] for o in offers] == [77]
    assert offers[0]["dph_total"] == "0.05"
    assert offers[0]["gpu_ram"] == "16384"


def test_create_sends_image_env_dict_onstart_and_returns_the_contract(
    fake: FakeVast, sdk: VastAI
) -> None:
    answer = sdk.create_instance(
        1001,
        image=IMAGE,
        disk=40,
        env="-p 8443:8443 -e HARK_MODEL=llama3.2:3b",  # the SDK turns this into a dict
        onstart_cmd="bash /opt/hark/onstart.sh",
        label="hark-abc",
        cancel_unavail=True,
        runtype="args",
    )
    sent = fake.requests[-1]
    assert (sent.method, sent.path) == ("PUT", "/api/v0/asks/1001/")
    assert sent.body["env"] == {"-p 8443:8443": "1", "HARK_MODEL": "llama3.2:3b"}
    assert sent.body["onstart"] == "bash /opt/hark/onstart.sh"
    assert (sent.body["image"], sent.body["disk"], sent.body["label"]) == (IMAGE, 40, "hark-abc")
    assert (sent.body["cancel_unavail"], sent.body["runtype"]) == (True, "args")
    assert answer["success"] is True
    inst = fake.instance(answer["new_contract"])
    assert inst.env["HARK_MODEL"] == "llama3.2:3b"
    assert inst.container_ports == ["8443/tcp"]


@pytest.mark.parametrize(
    ("offer_id", "extra", "status", "error"),
    [
        (555, {}, 404, "no_such_ask"),
        (1001, {"env": {"CERT_0": "x" * 257}}, 400, "invalid_args"),
        (1001, {"onstart_cmd": "x" * 4097}, 400, "invalid_args"),
        (1001, {"disk": 5000}, 400, "invalid_args"),
    ],
)
def test_create_errors_have_the_service_shape(
    fake: FakeVast, sdk: VastAI, offer_id: int, extra: dict[str, Any], status: int, error: str
) -> None:
    with pytest.raises(requests.HTTPError) as exc:
        create(sdk, offer_id, **extra)
    code, body = status_error(exc)
    assert (code, body["success"], body["error"]) == (status, False, error)
    assert body["msg"]
    assert fake.live_instances() == []


def test_a_rented_offer_and_a_scripted_failure_are_refused(fake: FakeVast, sdk: VastAI) -> None:
    create(sdk, 1001)
    with pytest.raises(requests.HTTPError) as exc:
        create(sdk, 1001)
    assert status_error(exc)[1]["error"] == "no_such_ask"
    fake.fail_create(1002, status=402, error="insufficient_credit", msg="add credit")
    with pytest.raises(requests.HTTPError) as exc:
        create(sdk, 1002)
    assert status_error(exc) == (
        402,
        {"success": False, "error": "insufficient_credit", "msg": "add credit"},
    )
    create(sdk, 1002)  # the failure was for one create only
    assert len(fake.live_instances()) == 2


def test_show_instance_follows_the_state_machine_and_ports_appear_when_running(
    fake: FakeVast, sdk: VastAI
) -> None:
    iid = create(sdk)
    first = sdk.show_instance(iid)
    assert fake.requests[-1].path == f"/api/v0/instances/{iid}/"
    assert fake.requests[-1].query == {"owner": "me"}
    assert first is not None
    assert (first["actual_status"], first["intended_status"]) == (None, "running")
    assert "ports" not in first
    assert first["extra_env"] == {"HARK_API_KEY": "k" * 40}  # the SDK turned pairs into a dict
    assert fake.advance(iid) == "loading"
    fake.advance_until(iid, "running")
    running = sdk.show_instance(iid)
    assert running is not None
    assert running["actual_status"] == "running"
    bindings = running["ports"]["8443/tcp"]
    assert [b["HostIp"] for b in bindings] == ["0.0.0.0", "::"]
    assert isinstance(bindings[0]["HostPort"], str)
    assert bindings[0]["HostPort"] == bindings[1]["HostPort"]
    assert running["public_ipaddr"] == "127.0.0.1"
    assert fake.instance(iid).history == [None, "loading", "running"]


def test_show_instances_pages_through_next_token(fake: FakeVast, sdk: VastAI) -> None:
    fake.page_size = 2
    for offer_id in (1001, 1002, 1003, 1004):
        create(sdk, offer_id)
    fake.add_offer(id=1005)
    create(sdk, 1005)
    rows = sdk.show_instances()
    assert len(rows) == 5
    assert sorted(r["id"] for r in rows) == [r["id"] for r in rows]
    pages = [r for r in fake.requests if r.path == "/api/v1/instances/"]
    assert len(pages) == 3
    assert "after_token" not in pages[0].query
    assert pages[1].query["after_token"] != pages[2].query["after_token"]
    assert pages[0].query["limit"] == "25"


def test_stop_keeps_the_instance_and_start_brings_new_ports(fake: FakeVast, sdk: VastAI) -> None:
    iid = create(sdk)
    fake.advance_until(iid)
    before = fake.instance(iid).ports
    assert sdk.stop_instance(iid) == {"success": True}
    assert fake.requests[-1].method == "PUT"
    assert fake.requests[-1].body == {"state": "stopped"}
    stopping = sdk.show_instance(iid)
    assert stopping is not None
    assert (stopping["actual_status"], stopping["intended_status"]) == ("running", "stopped")
    fake.advance(iid)
    stopped = sdk.show_instance(iid)
    assert stopped is not None
    assert (stopped["actual_status"], stopped["intended_status"]) == ("exited", "stopped")
    assert stopped["cur_state"] == "stopped"
    assert "ports" not in stopped
    assert [i.id for i in fake.live_instances()] == [iid]  # a stopped one still bills
    assert sdk.start_instance(iid) == {"success": True}
    assert fake.requests[-1].body == {"state": "running"}
    assert fake.advance(iid) == "running"
    assert fake.instance(iid).ports != before


def test_destroy_removes_it(fake: FakeVast, sdk: VastAI) -> None:
    iid = create(sdk)
    assert sdk.destroy_instance(iid) == {"success": True}
    assert (fake.requests[-1].method, fake.requests[-1].path) == (
        "DELETE",
        f"/api/v0/instances/{iid}/",
    )
    assert sdk.show_instance(iid) is None  # {"instances": null}
    assert sdk.show_instances() == []
    assert fake.live_instances() == []
    assert fake.instances[iid].destroyed
    with pytest.raises(requests.HTTPError) as exc:
        sdk.destroy_instance(iid)
    assert status_error(exc)[0] == 404


def test_logs_come_from_the_result_url(fake: FakeVast, sdk: VastAI) -> None:
    iid = create(sdk)
    fake.set_logs(iid, "one\ntwo\nthree\nfour")
    fake.logs_pending_polls = 1  # the SDK polls the URL until it is ready
    assert sdk.logs(iid, tail="2") == "three\nfour\n"
    asked = next(r for r in fake.requests if r.path.startswith("/api/v0/instances/request_logs"))
    assert (asked.method, asked.path, asked.body) == (
        "PUT",
        f"/api/v0/instances/request_logs/{iid}/",
        {"tail": "2"},
    )
    polls = [r for r in fake.requests if r.path.startswith("/logs/")]
    assert [r.status for r in polls] == [404, 200]


@pytest.mark.parametrize("status", [401, 404])
def test_a_bad_key_is_an_auth_error(fake: FakeVast, status: int) -> None:
    fake.bad_key_status = status
    with pytest.raises(requests.HTTPError) as exc:
        sdk_for(fake, key="wrong").show_instances()
    code, body = status_error(exc)
    assert (code, body["success"], body["error"]) == (status, False, "auth_error")
    assert fake.requests[-1].key_valid is False


def test_the_key_is_sent_as_bearer_and_never_recorded(fake: FakeVast, sdk: VastAI) -> None:
    sdk.show_instances()
    assert fake.requests[-1].headers["authorization"] == "Bearer <redacted>"
    assert fake.requests[-1].key_valid is True
    answer = requests.get(f"{fake.url}/api/v0/instances/?api_key={DEFAULT_KEY}", timeout=5)
    assert answer.json() == {"instances": []}  # the older query-parameter form works too
    assert fake.requests[-1].query["api_key"] == "<redacted>"
    assert DEFAULT_KEY not in repr(fake.requests)


# --- scripted faults, as the SDK meets them ------------------------------------------------------


def test_429_json_and_text_and_5xx_are_retried_by_the_sdk(fake: FakeVast, sdk: VastAI) -> None:
    fake.fail_next("GET /api/v1/instances/", 429, headers={"Retry-After": "0"})
    fake.fail_next("GET /api/v1/instances/", 429, text="Too Many Requests")
    assert sdk.show_instances() == []
    assert [r.status for r in fake.requests] == [429, 429, 200]
    fake.fail_next("", 503, count=2)
    assert sdk.search_offers(query="gpu_ram>=80")[0]["id"] == 1003
    assert [r.status for r in fake.requests[3:]] == [503, 503, 200]


def test_a_dropped_connection_and_a_lost_create_answer(fake: FakeVast) -> None:
    sdk = sdk_for(fake, retry=1)
    fake.fail_next("PUT /api/v0/asks/", drop=True)
    with pytest.raises(requests.ConnectionError):
        create(sdk)
    assert fake.live_instances() == []
    fake.fail_next("PUT /api/v0/asks/", lose_response=True)
    with pytest.raises(requests.ConnectionError):
        create(sdk)
    [orphan] = fake.live_instances()  # created, though the client never heard of it
    assert orphan.label == "hark-test"


def test_slow_answers_let_clients_time_out(fake: FakeVast) -> None:
    fake.slow_next("GET", 2.0)
    with pytest.raises(requests.Timeout):
        requests.get(
            f"{fake.url}/api/v1/instances/",
            headers={"Authorization": f"Bearer {DEFAULT_KEY}"},
            timeout=0.2,
        )


def test_step_on_poll_moves_an_instance_each_time_it_is_shown(fake: FakeVast, sdk: VastAI) -> None:
    fake.step_on_poll = True
    iid = create(sdk)
    seen = []
    for _ in range(4):
        row = sdk.show_instance(iid)
        assert row is not None
        seen.append(row["actual_status"])
    assert seen == [None, "loading", "running", "running"]


def test_on_running_sets_the_ports_and_on_stopped_follows(fake: FakeVast, sdk: VastAI) -> None:
    started: list[FakeInstance] = []
    stopped: list[int] = []

    def on_running(inst: FakeInstance) -> dict[Any, Any]:
        started.append(inst)
        return {8443: 43210}

    fake.on_running = on_running
    fake.on_stopped = lambda inst: stopped.append(inst.id)
    iid = create(sdk)
    fake.advance_until(iid)
    row = sdk.show_instance(iid)
    assert row is not None
    assert row["ports"]["8443/tcp"][0]["HostPort"] == "43210"
    assert started[0].env["HARK_API_KEY"] == "k" * 40
    assert started[0].onstart == "bash /opt/hark/onstart.sh"
    sdk.destroy_instance(iid)
    assert stopped == [iid]


def test_a_broken_on_running_hook_shows_as_an_exited_instance(fake: FakeVast, sdk: VastAI) -> None:
    def on_running(inst: FakeInstance) -> None:
        raise RuntimeError("server stack failed")

    fake.on_running = on_running
    iid = create(sdk)
    fake.advance_until(iid, "exited")
    assert "server stack failed" in fake.instance(iid).status_msg
    assert len(fake.hook_errors) == 1


def test_a_dud_runs_but_its_port_refuses_connections(fake: FakeVast, sdk: VastAI) -> None:
    iid = create(sdk)
    fake.dud(iid)
    fake.advance_until(iid)
    row = sdk.show_instance(iid)
    assert row is not None
    port = int(row["ports"]["8443/tcp"][0]["HostPort"])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    other = create(sdk, 1002)
    fake.dud(other, ports=False)
    fake.advance_until(other)
    row = sdk.show_instance(other)
    assert row is not None
    assert row["actual_status"] == "running"
    assert "ports" not in row


@pytest.mark.parametrize("fault", ["exit", "offline"])
def test_exited_and_offline_instances_never_recover(
    fake: FakeVast, sdk: VastAI, fault: str
) -> None:
    iid = create(sdk)
    fake.advance_until(iid)
    if fault == "exit":
        fake.exit_instance(iid)
    else:
        fake.offline_instance(iid)
    fake.advance_all()
    row = sdk.show_instance(iid)
    assert row is not None
    assert row["actual_status"] == ("exited" if fault == "exit" else "offline")
    assert row["intended_status"] == "running"
    assert "ports" not in row
    assert fake.live_instances()  # still billing until destroyed
