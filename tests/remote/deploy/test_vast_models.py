"""Reading Vast.ai's loose JSON: ports in every shape, numbers as strings, null instances."""

from __future__ import annotations

import pytest

from remote.vast.errors import DeployError, VastCode
from remote.vast.models import (
    Instance,
    Offer,
    OfferQuery,
    as_float,
    as_int,
    parse_ports,
    validate_create,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}]}, {8443: 41234}),
        (
            {
                "8443/tcp": [
                    {"HostIp": "0.0.0.0", "HostPort": "41234"},
                    {"HostIp": "::", "HostPort": "41299"},
                ]
            },
            {8443: 41234},
        ),
        ({"8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": 41234}]}, {8443: 41234}),
        ({"8443": [{"HostPort": "41234"}]}, {8443: 41234}),
        ({"8443/tcp": {"HostIp": "0.0.0.0", "HostPort": "41234"}}, {8443: 41234}),
        ({"8443/tcp": [{"HostPort": ""}, {"HostPort": "x"}, {"HostPort": "41235"}]}, {8443: 41235}),
        ({"8443/tcp": [{"HostPort": "0"}, {"HostPort": "70000"}]}, {}),
        ({"8443/tcp": None, "22/tcp": [{"HostPort": "40022"}]}, {22: 40022}),
        ({"8443/udp": [{"HostPort": "41234"}]}, {}),
        ({"nonsense/tcp": [{"HostPort": "41234"}]}, {}),
        ({"8443/tcp": ["41234"]}, {}),
        ({}, {}),
        (None, {}),
        ("8443:41234", {}),
        (
            {
                "8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}],
                "22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41000"}],
            },
            {8443: 41234, 22: 41000},
        ),
    ],
)
def test_ports_are_read_in_every_shape(raw: object, expected: dict[int, int]) -> None:
    assert parse_ports(raw) == expected


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        (1, 1.0),
        ("0.25", 0.25),
        (" 12.4 ", 12.4),
        ("", None),
        ("N/A", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ("nan", None),
        ([], None),
    ],
)
def test_numbers_are_read_from_strings(raw: object, number: float | None) -> None:
    assert as_float(raw) == number


def test_whole_numbers_only_for_ids() -> None:
    assert as_int("27000001") == 27000001
    assert as_int(7.0) == 7
    assert as_int("7.5") is None


def test_offer_reads_string_numbers_and_ignores_unknown_fields() -> None:
    offer = Offer.from_api(
        {
            "id": "1004",
            "gpu_name": "RTX 3060",
            "num_gpus": "1",
            "gpu_ram": "12288",
            "dph_total": "0.08",
            "reliability2": "0.97",
            "cuda_max_good": "12.0",
            "direct_port_count": "1",
            "inet_down": "100.0",
            "disk_space": "200.0",
            "geolocation": "Texas, US",
            "machine_id": 41004,
            "verified": True,
            "something_new": {"nested": [1, 2]},
        }
    )
    assert offer == Offer(
        id=1004, gpu_name="RTX 3060", num_gpus=1, gpu_ram_mb=12288.0, dph_total=0.08,
        reliability=0.97, cuda_max_good=12.0, direct_port_count=1, inet_down_mbps=100.0,
        disk_space_gb=200.0, geolocation="Texas, US", machine_id=41004, verified=True,
    )  # fmt: skip


@pytest.mark.parametrize("row", [None, [], "x", {}, {"id": None}, {"id": "abc"}])
def test_offer_without_an_id_is_skipped(row: object) -> None:
    assert Offer.from_api(row) is None


def test_null_and_odd_instances_read_as_none() -> None:
    assert Instance.from_api(None) is None
    assert Instance.from_api({"id": "x"}) is None
    assert Instance.from_api([{"id": 1}]) is None


def test_a_booting_instance_has_no_ports_and_is_loading() -> None:
    inst = Instance.from_api({"id": 5, "actual_status": None, "intended_status": "running"})
    assert inst is not None
    assert inst.ports == {}
    assert inst.host_port(8443) is None
    assert inst.is_loading
    assert not inst.is_running
    assert not inst.is_dead


def test_a_running_instance_exposes_its_host_port() -> None:
    inst = Instance.from_api(
        {
            "id": "27000001",
            "label": "hark-abc",
            "actual_status": "running",
            "intended_status": "running",
            "cur_state": "running",
            "public_ipaddr": "203.0.113.7 ",
            "ports": {"8443/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41234"}]},
            "dph_total": "0.35",
            "gpu_name": "RTX 4090",
            "start_date": "1700000000.5",
            "status_msg": "success, running",
        }
    )
    assert inst is not None
    assert (inst.id, inst.label, inst.public_ip) == (27000001, "hark-abc", "203.0.113.7")
    assert inst.is_running
    assert not inst.is_loading
    assert inst.host_port(8443) == 41234
    assert inst.dph_total == 0.35
    assert inst.start_date == 1700000000.5


@pytest.mark.parametrize("status", ["exited", "offline", "unknown", "Offline"])
def test_states_that_never_recover_are_dead(status: str) -> None:
    inst = Instance.from_api({"id": 1, "actual_status": status, "intended_status": "running"})
    assert inst is not None
    assert inst.is_dead
    assert not inst.is_loading


def test_a_stopped_instance_is_not_dead() -> None:
    inst = Instance.from_api(
        {"id": 1, "actual_status": "exited", "intended_status": "stopped", "cur_state": "stopped"}
    )
    assert inst is not None
    assert inst.is_stopped
    assert not inst.is_dead
    assert not inst.is_loading


def test_offer_query_is_shaped_like_the_official_client() -> None:
    query = OfferQuery(
        min_gpu_ram_mb=24000, min_reliability=0.98, min_direct_ports=2, min_cuda="12.4",
        max_dph=0.5, min_inet_down=200, min_disk_gb=40, limit=5, storage_gb=40,
        exclude_machine_ids=(41001,),
    )  # fmt: skip
    assert query.to_api() == {
        "verified": {"eq": True},
        "external": {"eq": False},
        "rentable": {"eq": True},
        "rented": {"eq": False},
        "num_gpus": {"eq": 1},
        "gpu_ram": {"gte": 24000},
        "reliability": {"gte": 0.98},
        "direct_port_count": {"gte": 2},
        "cuda_max_good": {"gte": "12.4"},
        "dph_total": {"lte": 0.5},
        "inet_down": {"gte": 200},
        "disk_space": {"gte": 40},
        "machine_id": {"notin": [41001]},
        "order": [["dph_total", "asc"]],
        "type": "on-demand",
        "limit": 5,
        "allocated_storage": 40,
    }


def test_an_empty_query_keeps_only_the_defaults() -> None:
    body = OfferQuery(num_gpus=None, verified_only=False).to_api()
    assert set(body) == {"rentable", "rented", "order", "type", "limit", "allocated_storage"}


def test_create_limits_are_checked_without_showing_values() -> None:
    secret = "S" * 257
    with pytest.raises(DeployError) as caught:
        validate_create({"HARK_CERT_0": secret}, [8443], "echo hi", "hark-x")
    assert caught.value.code == VastCode.INVALID
    assert "HARK_CERT_0" in caught.value.message
    assert "257" in caught.value.message
    assert secret not in str(caught.value)
    with pytest.raises(DeployError, match="onstart script is 4097 characters"):
        validate_create({}, [8443], "x" * 4097, "hark-x")
    with pytest.raises(DeployError, match="not valid"):
        validate_create({"BAD NAME": "1"}, [8443], "", "hark-x")
    with pytest.raises(DeployError, match="not a TCP port"):
        validate_create({}, [0], "", "hark-x")
    with pytest.raises(DeployError, match="label"):
        validate_create({}, [8443], "", " ")
    validate_create({"A": "v" * 256}, [8443], "x" * 4048, "hark-x")  # the limits themselves pass
