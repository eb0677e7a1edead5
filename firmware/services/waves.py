"""A campaign's waves: the rules are ``core.waves``' (shared with the rollouts of any command)."""

from core.waves import WAVE_ITEM_SPLIT, campaign_waves_parse, wave_sizes

__all__ = ["WAVE_ITEM_SPLIT", "campaign_waves_parse", "wave_sizes"]
