"""The quote route's query parsing agrees with the standard library's on every query string."""

from __future__ import annotations

from urllib.parse import parse_qsl

from hypothesis import given
from hypothesis import strategies as st

from solbot.api._quotes import query_params

_PIECES = st.sampled_from(
    ["inputMint", "amount", "=", "&", "&&", "SOL", "%20", "%E2%82%AC", "+", "%zz", "a", "1", ""]
)


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_query_params_equal_the_standard_librarys_for_any_query(query: str) -> None:
    assert query_params(query.encode()) == dict(parse_qsl(query, keep_blank_values=True))


@given(st.text(max_size=40))
def test_query_params_equal_the_standard_librarys_for_arbitrary_text(text: str) -> None:
    raw = text.encode("utf-8")
    assert query_params(raw) == dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def test_a_plain_quote_query_is_split_into_its_parameters() -> None:
    raw = b"inputMint=SOL&outputMint=USDC&amount=1500000000&slippageBps="
    assert query_params(raw) == {
        "inputMint": "SOL",
        "outputMint": "USDC",
        "amount": "1500000000",
        "slippageBps": "",
    }
