"""Real-shaped venue bodies, from wire-formats.md and the specs' own examples.

Kept as JSON text (not dicts) so the tests see exactly what arrives on the wire.
"""

# ruff: noqa: E501  (wire bodies are kept as the venues send them, long lines and all)

from __future__ import annotations

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
USER = "BQ72nSv9f3PRyRKCBnHLVrerrv37CYTHm5h3s9VSGQDV"
SOL_FEED = "ef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"
USDC_FEED = "eaa020c61cc479712813461ce153894a96a6c00b21ed0cfc2798d1f9a9e9c94a"

# docs swap/v1/get-quote.mdx (wire-formats.md §2.3): no feeAmount, a mostReliableAmms report.
JUPITER_QUOTE_DOCS = """{"inputMint":"So11111111111111111111111111111111111111112","inAmount":"100000000",
 "outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","outAmount":"16198753",
 "otherAmountThreshold":"16117760","swapMode":"ExactIn","slippageBps":50,"platformFee":null,"priceImpactPct":"0",
 "routePlan":[{"swapInfo":{"ammKey":"5BKxfWMbmYBAEWvyPZS9esPducUba9GqyMjtLCfbaqyF","label":"Meteora DLMM",
   "inputMint":"So11111111111111111111111111111111111111112","outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
   "inAmount":"100000000","outAmount":"16198753"},"percent":100}],
 "contextSlot":299283763,"timeTaken":0.015257836,
 "mostReliableAmmsQuoteReport":{"info":{"BZtgQEyS6eXUXicYPHecYQ7PybqodXQMvkjUbP4R8mUU":"16195832","Czfq3xZZDmsdGdUyrNLtRhGc47cXcZtLG4crryfu44zE":"16190214"}}}"""

# specs/jupiter-swap-v1.yaml, /quote 200 example: platformFee object, feeAmount/feeMint present.
JUPITER_QUOTE_SPEC = """{"inputMint":"So11111111111111111111111111111111111111112","inAmount":"100000000",
 "outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","outAmount":"17057460",
 "otherAmountThreshold":"16886885","swapMode":"ExactIn","slippageBps":100,"priceImpactPct":"0.0001",
 "platformFee":{"amount":"0","feeBps":0},
 "routePlan":[{"swapInfo":{"ammKey":"HXpGFJGCEEFdV31tDmjDBaJMEB1fKLiAoKoWr3Fnonid","label":"Meteora DLMM",
   "inputMint":"So11111111111111111111111111111111111111112","outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
   "inAmount":"100000000","outAmount":"17057460","feeAmount":"1285",
   "feeMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"},"percent":100}],
 "contextSlot":324307186,"timeTaken":0.012}"""

# Two hops through BONK, percent null with bps, a DynamicSwap step whose details must round-trip,
# and fields this client has never heard of.
JUPITER_QUOTE_DRIFT = """{"inputMint":"So11111111111111111111111111111111111111112","inAmount":"1000000000",
 "outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","outAmount":"147480000",
 "otherAmountThreshold":"146742600","swapMode":"ExactIn","slippageBps":50,"platformFee":null,
 "priceImpactPct":null,"instructionVersion":"V2","swapUsdValue":"147.48","someFutureField":{"x":[1,2.5,null]},
 "routePlan":[
  {"swapInfo":{"ammKey":"DynamicSwap11111111111111111111111111111112","label":"DynamicSwap",
    "inputMint":"So11111111111111111111111111111111111111112","outputMint":"DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263",
    "inAmount":"600000000","outAmount":"4000000000000","feeAmount":null,"feeMint":null,
    "details":{"dynamicSwapV2":{"candidates":["a","b"],"weights":[0.25,0.75],"nonce":18446744073709551615}}},
   "percent":null,"bps":6000},
  {"swapInfo":{"ammKey":"whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc","label":"Whirlpool",
    "inputMint":"So11111111111111111111111111111111111111112","outputMint":"DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263",
    "inAmount":"400000000","outAmount":"2666000000000"},"percent":null,"bps":4000},
  {"swapInfo":{"ammKey":"CAMMCzo5YL8w4VFF8KVHrK22GGUsp5VTaW7grrKgrWqK","label":"Raydium CLMM",
    "inputMint":"DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263","outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
    "inAmount":"6666000000000","outAmount":"147480000"},"percent":null,"bps":10000}],
 "contextSlot":348004023,"timeTaken":0.02}"""

# wire-formats.md §2.6 (jupiter-swap-api-client swap.rs and the docs example).
JUPITER_SWAP = """{"swapTransaction":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAgAAEN",
 "lastValidBlockHeight":279632475,"prioritizationFeeLamports":9999,"computeUnitLimit":388876,
 "prioritizationType":{"computeBudget":{"microLamports":25715,"estimatedMicroLamports":785154}},
 "dynamicSlippageReport":{"slippageBps":50,"otherAmount":20612318,"simulatedIncurredSlippageBps":-18,"amplificationRatio":"1.5","categoryName":"lst","heuristicMaxSlippageBps":100},
 "simulationError":null}"""

JUPITER_SWAP_SIMULATION_FAILED = """{"swapTransaction":"AQAAAA==","lastValidBlockHeight":279632475,
 "prioritizationFeeLamports":0,"computeUnitLimit":0,
 "simulationError":{"errorCode":"TRANSACTION_ERROR","error":"custom program error: 0x1771"}}"""

# specs/jupiter-price-v3.yaml example.
JUPITER_PRICES = """{"So11111111111111111111111111111111111111112":{"createdAt":"2024-06-05T08:55:25.527Z",
  "liquidity":621679197.67,"usdPrice":147.48,"blockId":348004023,"decimals":9,"priceChange24h":1.29},
 "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v":{"createdAt":"2024-06-05T08:55:25.527Z",
  "liquidity":522175174.66,"usdPrice":0.9999,"blockId":348004025,"decimals":6,"priceChange24h":-0.003}}"""

# wire-formats.md §4.1, built from DFlow's QuoteResponse schema.
DFLOW_QUOTE = """{"inputMint":"So11111111111111111111111111111111111111112","inAmount":"1000000000",
 "outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","outAmount":"147480000",
 "otherAmountThreshold":"147185040","minOutAmount":"147185040","slippageBps":20,"priceImpactPct":"0.0001",
 "platformFee":null,"contextSlot":348004023,"requestId":"req-7f3a","routingSlot":348004021,
 "routePlan":[{"venue":"Orca Whirlpool","marketKey":"Czfq3xZZDmsdGdUyrNLtRhGc47cXcZtLG4crryfu44zE",
   "inputMint":"So11111111111111111111111111111111111111112","outputMint":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
   "inAmount":"1000000000","outAmount":"147480000","inputMintDecimals":9,"outputMintDecimals":6}]}"""

# DFlow SwapResponse: every field required except prioritizationType.
DFLOW_SWAP = """{"swapTransaction":"AQAAAAAAAAAAAAAA","lastValidBlockHeight":348004173,"computeUnitLimit":200000,
 "prioritizationFeeLamports":5000,"prioritizationType":{"computeBudget":{"microLamports":25000,"estimatedMicroLamports":25000}}}"""

# wire-formats.md §5.2 (Kyber QuoteResult), on Solana with a ready transaction.
HASHFLOW_RFQ = """{"status":"success","rfqId":"rfq-19ac","quotes":[{"quoteData":{
   "baseChain":{"chainType":"solana","chainId":1},"quoteChain":{"chainType":"solana","chainId":1},
   "baseToken":"So11111111111111111111111111111111111111112","baseTokenAmount":"1000000000",
   "quoteToken":"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v","quoteTokenAmount":"147300000",
   "trader":"BQ72nSv9f3PRyRKCBnHLVrerrv37CYTHm5h3s9VSGQDV","effectiveTrader":"BQ72nSv9f3PRyRKCBnHLVrerrv37CYTHm5h3s9VSGQDV",
   "txid":"0x01","pool":"HfPooL1111111111111111111111111111111111111","quoteExpiry":1718000030,"nonce":1718000000123,
   "externalAccount":"Ext1111111111111111111111111111111111111111"},
  "signature":"0xabc","marketMaker":"mm-sim","transaction":"AQIDBA=="}]}"""
