"""A workspace's rate card: what Meta charges per delivered message, by market and category (R23).

Meta prices a billable message by the template's category (or `service`) and the recipient's market,
found from the country calling code of the recipient's phone number (the longest matching prefix), and
publishes the prices as a rate card per currency that changes on the first day of a quarter. No price
lives in this code: an operator imports the card, in one of two forms:

- **Meta's rate card as downloaded** (CSV): any title lines, then a header row starting with `Market`
  and `Currency` followed by one column per category (`Marketing`, `Utility`, `Authentication`,
  `Authentication-International`, `Service`; `Marketing Lite` if present); one row per market, prices
  possibly written `$0.0250`, an empty cell or `n/a` where the market has no such rate, `Free` for 0.
  Markets are Meta's names ("Brazil", "North America", "Rest of Africa", "Other", …), turned into
  calling codes by `MARKETS`; "Other" covers every calling code no other row names.
- **The long form** (CSV): header `calling_code,category,price,currency`, one rate per line; a calling
  code of `*` covers every calling code no other line names.

A card is refused as a whole, naming the line and column, for a negative or unreadable price, an
unknown category or market, a calling code given twice for one category, or more than one currency.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from wasession.domain.errors import ValidationError

FIELD = "rates"
ANY = ""  # the prefix every number has: Meta's "Other", the long form's `*`

# What a card may price, as Meta's statuses spell the category; `authentication-international` is
# stored with an underscore, the way the statuses' older spelling and our columns write it.
CATEGORIES = ("marketing", "marketing_lite", "utility", "authentication", "authentication_international", "service")
FREE_WORDS = frozenset({"free", "0"})
NO_RATE_WORDS = frozenset({"", "n/a", "na", "-", "—", "not applicable"})
MAX_PREFIX_DIGITS = 6
MAX_LINES = 20_000

# Meta's markets and the country calling codes each covers (Meta's pricing page, "Markets"). Named
# countries are one code each; regional markets list their members; "Other" is every code left over.
# fmt: off
_REGIONS: dict[str, tuple[str, ...]] = {
    "north america": ("1",),
    "rest of africa": (
        "213", "244", "229", "267", "226", "257", "237", "235", "242", "243", "253", "240", "291", "251",
        "241", "220", "233", "245", "225", "254", "266", "231", "218", "261", "265", "223", "222", "212",
        "258", "264", "227", "250", "221", "232", "252", "211", "249", "268", "255", "228", "216", "256",
        "260", "263", "236", "269", "230", "238", "239", "248", "262",
    ),
    "rest of asia pacific": (
        "93", "61", "880", "855", "86", "852", "679", "81", "856", "853", "976", "95", "977", "64", "675",
        "63", "65", "94", "886", "992", "66", "993", "670", "998", "84", "673", "975", "960", "850", "82",
    ),
    "rest of central & eastern europe": (
        "355", "374", "994", "375", "387", "359", "385", "420", "995", "30", "36", "371", "370", "389",
        "373", "382", "48", "40", "381", "421", "386", "380", "383",
    ),
    "rest of latin america": (
        "591", "506", "593", "503", "502", "509", "504", "1876", "505", "507", "595", "1787", "598", "58",
        "53", "1809", "1829", "1849", "592", "597", "501", "1868", "1246", "1242", "297", "599",
    ),
    "rest of middle east": ("973", "964", "962", "965", "961", "968", "974", "963", "967", "970", "98"),
    "rest of western europe": (
        "43", "32", "45", "358", "354", "353", "352", "356", "47", "351", "46", "41", "357", "376", "423",
        "377", "378", "350", "298", "299",
    ),
    "other": (ANY,),
}
# fmt: on
_COUNTRIES: dict[str, str] = {
    "argentina": "54",
    "brazil": "55",
    "chile": "56",
    "colombia": "57",
    "egypt": "20",
    "france": "33",
    "germany": "49",
    "india": "91",
    "indonesia": "62",
    "israel": "972",
    "italy": "39",
    "malaysia": "60",
    "mexico": "52",
    "netherlands": "31",
    "nigeria": "234",
    "pakistan": "92",
    "peru": "51",
    "russia": "7",
    "saudi arabia": "966",
    "south africa": "27",
    "spain": "34",
    "turkey": "90",
    "türkiye": "90",
    "united arab emirates": "971",
    "united kingdom": "44",
}
MARKETS: Mapping[str, tuple[str, ...]] = {**{k: (v,) for k, v in _COUNTRIES.items()}, **_REGIONS}


@dataclass(frozen=True)
class Rate:
    calling_code: str  # digits, or ANY
    category: str
    price: Decimal


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str

    def to_public(self) -> dict[str, str]:
        return {"amount": format_amount(self.amount), "currency": self.currency}

    def __str__(self) -> str:
        return f"{format_amount(self.amount)} {self.currency}"


@dataclass(frozen=True)
class RateCard:
    currency: str
    rates: tuple[Rate, ...]

    def price(self, phone_digits: str | None, category: str | None) -> Decimal | None:
        """The price of one billable message in `category` to this number, in its market (the longest
        calling-code prefix the card names); None when the number is unknown (a BSUID-only contact) or the
        card has no rate for it. `service` falls back to the market's `utility` rate, which Meta says
        service messages cost from 2026-10-01, when the card has no service column."""
        if not phone_digits or category is None:
            return None
        prices = self._by_market()
        market = next(
            (
                phone_digits[:n]
                for n in range(min(len(phone_digits), MAX_PREFIX_DIGITS), -1, -1)
                if phone_digits[:n] in prices
            ),
            None,
        )
        if market is None:
            return None
        wanted = normalise_category(category)
        found = prices[market].get(wanted)
        if found is None and wanted == "service":
            found = prices[market].get("utility")
        return found

    def _by_market(self) -> dict[str, dict[str, Decimal]]:
        table: dict[str, dict[str, Decimal]] = {}
        for r in self.rates:
            table.setdefault(r.calling_code, {})[r.category] = r.price
        return table

    def to_rows(self) -> list[tuple[str, str, str]]:
        return [(r.calling_code or "*", r.category, str(r.price)) for r in self.rates]


def normalise_category(category: str) -> str:
    """Meta writes `authentication-international` in statuses and rate cards alike, and `marketing_lite`
    for Marketing Messages Lite; `referral_conversion` and anything unknown stay as they are."""
    return category.strip().lower().replace("-", "_").replace(" ", "_")


def format_amount(amount: Decimal) -> str:
    """At least two decimals, more when the amount has them (Meta prices to four): '41.20', '0.0125'."""
    reduced = amount.normalize()
    exponent = reduced.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return format(reduced.quantize(Decimal("0.01")), "f")
    return format(reduced, "f")


def from_rows(currency: str, rows: Iterable[tuple[str, str, str]]) -> RateCard:
    """A card as stored (rows written by `RateCard.to_rows`)."""
    return RateCard(currency, tuple(Rate("" if c == "*" else c, cat, Decimal(p)) for c, cat, p in rows))


# -- parsing -------------------------------------------------------------------------------------------------


def _refuse(line: int, column: int, header: str, message: str) -> ValidationError:
    return ValidationError(FIELD, f"line {line}, column {column} ({header}): {message}", "invalid_rate_card")


def _price(text: str, line: int, column: int, header: str) -> Decimal | None:
    """None for "no rate in this market"; a refusal for anything not a non-negative number."""
    cleaned = text.strip().replace(",", "").lstrip("$€£₹").strip()
    if cleaned.lower() in NO_RATE_WORDS:
        return None
    if cleaned.lower() == "free":
        return Decimal(0)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise _refuse(line, column, header, f"{text.strip()!r} is not a price") from None
    if not value.is_finite():
        raise _refuse(line, column, header, f"{text.strip()!r} is not a price")
    if value < 0:
        raise _refuse(line, column, header, f"a price cannot be negative; got {text.strip()}")
    return value


def parse_rate_card(text: str) -> RateCard:
    """Meta's downloaded rate card or the long form (see the module's docstring)."""
    if len(text) > 5_000_000:
        raise ValidationError(FIELD, "a rate card is at most 5 MB", "invalid_rate_card")
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error as exc:
        raise ValidationError(FIELD, f"the rate card is not CSV: {exc}", "invalid_rate_card") from None
    if len(rows) > MAX_LINES:
        raise ValidationError(FIELD, f"a rate card has at most {MAX_LINES} lines", "invalid_rate_card")
    for index, row in enumerate(rows):
        cells = [c.strip().lower() for c in row]
        if cells[:1] == ["calling_code"]:
            return _long_form(rows, index)
        if cells[:2] == ["market", "currency"]:
            return _meta_form(rows, index)
    raise ValidationError(
        FIELD,
        "no header found: expected Meta's rate card (a row starting `Market,Currency,…`) or the long form "
        "(`calling_code,category,price,currency`)",
        "invalid_rate_card",
    )


class _Collector:
    def __init__(self) -> None:
        self.currency: str | None = None
        self.rates: dict[tuple[str, str], Rate] = {}

    def currency_of(self, value: str, line: int, column: int, header: str) -> None:
        code = value.strip().upper()
        if len(code) != 3 or not code.isascii() or not code.isalpha():
            raise _refuse(line, column, header, f"{value.strip()!r} is not a currency code like USD")
        if self.currency is None:
            self.currency = code
        elif code != self.currency:
            raise _refuse(line, column, header, f"one card has one currency: {self.currency} above, {code} here")

    def add(self, rate: Rate, line: int, column: int, header: str) -> None:
        key = (rate.calling_code, rate.category)
        if key in self.rates:
            where = "*" if not rate.calling_code else "+" + rate.calling_code
            raise _refuse(line, column, header, f"{rate.category} for {where} is priced twice")
        self.rates[key] = rate

    def card(self) -> RateCard:
        if self.currency is None or not self.rates:
            raise ValidationError(FIELD, "the rate card has no rates", "invalid_rate_card")
        return RateCard(self.currency, tuple(self.rates.values()))


def _long_form(rows: list[list[str]], header_index: int) -> RateCard:
    header = [c.strip().lower() for c in rows[header_index]]
    expected = ["calling_code", "category", "price", "currency"]
    if header[:4] != expected:
        raise _refuse(header_index + 1, 1, "header", f"the long form's header is {','.join(expected)}")
    out = _Collector()
    for index in range(header_index + 1, len(rows)):
        row, line = rows[index], index + 1
        if not any(c.strip() for c in row):
            continue
        if len(row) < 4:
            raise _refuse(line, len(row) + 1, expected[min(len(row), 3)], "missing")
        code = row[0].strip().lstrip("+")
        if code != "*" and (not code.isdigit() or not code.isascii() or len(code) > MAX_PREFIX_DIGITS):
            raise _refuse(line, 1, "calling_code", f"{row[0].strip()!r} is not a calling code (1-6 digits, or *)")
        category = normalise_category(row[1])
        if category not in CATEGORIES:
            raise _refuse(line, 2, "category", f"unknown category {row[1].strip()!r}; known: {', '.join(CATEGORIES)}")
        price = _price(row[2], line, 3, "price")
        if price is None:
            raise _refuse(line, 3, "price", "a price is required")
        out.currency_of(row[3], line, 4, "currency")
        out.add(Rate(ANY if code == "*" else code, category, price), line, 1, "calling_code")
    return out.card()


def _meta_form(rows: list[list[str]], header_index: int) -> RateCard:
    header = [c.strip() for c in rows[header_index]]
    categories: list[tuple[int, str]] = []
    for column, name in enumerate(header[2:], start=2):
        if not name:
            continue
        category = normalise_category(name)
        if category not in CATEGORIES:
            raise _refuse(header_index + 1, column + 1, name, f"unknown category; known: {', '.join(CATEGORIES)}")
        categories.append((column, category))
    if not categories:
        raise _refuse(header_index + 1, 3, "header", "no category columns after Market,Currency")
    out = _Collector()
    for index in range(header_index + 1, len(rows)):
        row, line = rows[index], index + 1
        if not any(c.strip() for c in row):
            continue
        market = row[0].strip()
        codes = MARKETS.get(" ".join(market.lower().split()))
        if codes is None:
            if len(row) < 2 or not row[1].strip():
                continue  # a footnote under the table
            raise _refuse(line, 1, "Market", f"unknown market {market!r}")
        if len(row) < 2:
            raise _refuse(line, 2, "Currency", "missing")
        out.currency_of(row[1], line, 2, "Currency")
        for column, category in categories:
            price = _price(row[column] if column < len(row) else "", line, column + 1, header[column])
            if price is None:
                continue
            for code in codes:
                out.add(Rate(code, category, price), line, column + 1, header[column])
    return out.card()


@dataclass(frozen=True)
class Estimate:
    """What a set of billable messages cost by a card, and how many it could not price, and why."""

    amount: Decimal = Decimal(0)
    priced: int = 0
    unknown_market: int = 0  # recipients known only by a BSUID: no calling code, so no market
    no_rate: int = 0  # a market the card has no rate for in that category

    def plus(self, other: Estimate) -> Estimate:
        return Estimate(
            self.amount + other.amount,
            self.priced + other.priced,
            self.unknown_market + other.unknown_market,
            self.no_rate + other.no_rate,
        )


def estimate(card: RateCard, number: str | None, category: str | None, count: int) -> Estimate:
    """`count` billable messages in `category` to `number` (or the leading digits of one)."""
    if not number:
        return Estimate(unknown_market=count)
    price = card.price(number, category)
    if price is None:
        return Estimate(no_rate=count)
    return Estimate(amount=price * count, priced=count)


AUTOMATED_SEND_CATEGORY = "service"  # reminders and closing messages are free-form replies in the window


def spent(card: RateCard, sends: Iterable[tuple[str | None, bool | None, str | None, int]]) -> Decimal:
    """What a month's automated sends cost so far, for the budget: (category, charged, number, count),
    `charged` as Meta's statuses said, or None while no status priced the send yet, which is then
    estimated as a service message so a burst queued before any status cannot overshoot the budget."""
    total = Decimal(0)
    for category, charged, number, count in sends:
        if charged is False:
            continue
        price = card.price(number, category if charged else AUTOMATED_SEND_CATEGORY)
        if price is not None:
            total += price * count
    return total
