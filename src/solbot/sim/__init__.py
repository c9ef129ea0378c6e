"""The simnet: a local Solana world (chain, market, venues, faults) reached only over the wire."""
