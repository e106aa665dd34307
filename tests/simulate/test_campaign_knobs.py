"""Campaign knobs vary a world for robustness checks; their defaults change nothing."""

import polars as pl

from detector.simulate import CampaignKnobs, simulate


def _campaign_accounts(out) -> int:
    truth = pl.read_csv(out / "truth.csv")
    return truth.filter(pl.col("label") != "benign").height


def test_default_knobs_write_the_same_bytes(tmp_path):
    simulate(tmp_path / "plain", seed=3, scale="tiny", days=2, use_packages=False)
    simulate(tmp_path / "knobs", seed=3, scale="tiny", days=2, use_packages=False, knobs=CampaignKnobs())
    for name in ("requests.jsonl", "accounts.jsonl", "truth.csv"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "knobs" / name).read_bytes()


def test_size_factor_grows_the_campaigns(tmp_path):
    simulate(tmp_path / "base", seed=3, scale="tiny", days=2, use_packages=False)
    simulate(tmp_path / "big", seed=3, scale="tiny", days=2, use_packages=False,
             knobs=CampaignKnobs(size_factor=2.0))
    base, big = _campaign_accounts(tmp_path / "base"), _campaign_accounts(tmp_path / "big")
    assert big > 1.6 * base
