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


def _system_prompts_by_kind(out) -> dict[str, set[str]]:
    truth = pl.read_csv(out / "truth.csv")
    requests = pl.read_ndjson(out / "requests.jsonl").join(truth, on="account_id")
    grouped = requests.filter(pl.col("system_prompt").is_not_null()).group_by("kind").agg(
        pl.col("system_prompt").unique()
    )
    return {kind: set(prompts) for kind, prompts in grouped.iter_rows()}


def test_resellers_can_run_their_own_system_prompts(tmp_path):
    simulate(tmp_path / "base", seed=3, scale="tiny", days=2, use_packages=False)
    simulate(tmp_path / "own", seed=3, scale="tiny", days=2, use_packages=False,
             knobs=CampaignKnobs(reseller_own_system_prompts=True))
    base, own = _system_prompts_by_kind(tmp_path / "base"), _system_prompts_by_kind(tmp_path / "own")
    # by default the reseller carries the hydra's system prompts; with the knob it shares none
    assert base["reseller"] & base["hydra"]
    assert own["reseller"] and not own["reseller"] & own["hydra"]
