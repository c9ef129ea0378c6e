"""The simnet: a local Solana world (chain, market, venues, faults) reached only over the wire."""

from solbot.sim._simnet import Simnet, SimnetEndpoints

__all__ = ["Simnet", "SimnetEndpoints"]
