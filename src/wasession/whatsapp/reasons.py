"""Why a send failed, in words an agent can act on, from the Cloud API error code.

Meta's own titles change and read like "(#131047) Re-engagement message"; the code is the stable
part (see `errors.py`), so the words are keyed on it. An error without a code is one of ours: the
request never left (`RequestNotSentError`) or could not be built.
"""

from __future__ import annotations

_BY_CODE: dict[int, str] = {
    0: "The channel's access token is invalid or expired; an administrator must enter a new one.",
    190: "The channel's access token has expired; an administrator must enter a new one.",
    3: "The Meta app lacks a permission this send needs.",
    10: "The Meta app lacks a permission this send needs.",
    4: "The Meta app sent too many requests; WhatsApp asked to slow down.",
    80007: "The WhatsApp Business Account hit its rate limit; WhatsApp asked to slow down.",
    130429: "The number is sending faster than WhatsApp allows; it will be retried more slowly.",
    131056: "Too many messages to this customer in a short time; wait before sending again.",
    131048: "WhatsApp restricted sending because earlier messages were blocked or reported as spam.",
    131064: "WhatsApp limited this number's messages after template-category violations.",
    131057: "The WhatsApp account is in maintenance mode for a moment.",
    1: "WhatsApp could not process the request.",
    2: "WhatsApp is temporarily down or overloaded.",
    131000: "WhatsApp could not send the message for an unknown reason.",
    131016: "WhatsApp's service is temporarily unavailable.",
    131047: "More than 24 hours passed since the customer last wrote: only an approved template can reach them.",
    131026: "WhatsApp could not deliver to this number: it may not be on WhatsApp or use an old app.",
    131049: "WhatsApp did not deliver this message to limit marketing to this customer; try again after 24 hours.",
    131050: "The customer has stopped marketing messages from this business.",
    131051: "WhatsApp does not support this type of message.",
    131021: "The customer's number is the channel's own number.",
    131042: "The WhatsApp Business Account has a payment problem.",
    131045: "The channel's phone number is not registered with WhatsApp.",
    131031: "The WhatsApp Business Account is locked or restricted.",
    368: "The number is temporarily blocked for policy violations.",
    130497: "The business may not message customers in this country.",
    130403: "The business has blocked this customer; unblock them first.",
    130472: "WhatsApp held this message back: the customer is in a Meta experiment group.",
    131062: "This kind of message cannot be sent to a customer known only by a WhatsApp user id.",
    100: "WhatsApp refused a parameter of the message.",
    131008: "A required parameter of the message is missing.",
    131009: "A parameter of the message has a value WhatsApp does not accept.",
    132000: "The template's parameters do not match the approved template.",
    132001: "The template does not exist in this language or is not approved.",
    132005: "The template's text is too long once its parameters are filled in.",
    132007: "The template breaks WhatsApp's formatting rules.",
    132012: "A template parameter has the wrong format.",
    132015: "The template is paused because of low quality.",
    132016: "The template is disabled because of low quality.",
}

# Graph's answer for a phone number id the token cannot use: code 100 with a detail like "Unsupported
# post request. Object with ID '123' does not exist, cannot be loaded due to missing permissions ...".
_NO_SUCH_OBJECT = "does not exist"
WRONG_NUMBER_ID = (
    "Meta knows no phone number with the channel's phone number id that its access token may use: "
    "an administrator must correct the channel's phone number id (or token)."
)
# Codes whose details say what to fix: parameters and templates.
_DETAILED = frozenset({100, 131008, 131009, 131051, 132000, 132001, 132005, 132007, 132012})


def _clip(detail: str, limit: int = 200) -> str:
    text = " ".join(detail.split()).rstrip(".")
    return text if len(text) <= limit else text[: limit - 1] + "…"


NOT_SENT = "Could not reach WhatsApp (the connection failed): the message was not sent."
MAYBE_SENT = "The connection broke while sending: WhatsApp may or may not have received the message."


def in_words(code: int | None, title: str | None = None, detail: str | None = None) -> str:
    """A sentence for the agent; unknown codes fall back to Meta's title so nothing reads `None`."""
    if code is None:
        # No Cloud API error object: the request never left, or Meta's answer was unreadable.
        if title == "RequestNotSentError":
            return NOT_SENT
        return f"The message was not sent: {detail}." if detail else "The message was not sent."
    if code == 100 and detail and _NO_SUCH_OBJECT in detail.casefold():
        return WRONG_NUMBER_ID
    if code in _BY_CODE:
        words = _BY_CODE[code]
        # For a request to fix, Meta's details name the part that is wrong (the template, the count).
        return f"{words[:-1]}: {_clip(detail)}." if detail and code in _DETAILED else words
    if 200 <= code <= 299:
        return _BY_CODE[10]
    if 132000 <= code <= 132999:
        return f"WhatsApp refused the template (WhatsApp error {code})."
    return f"{title or detail or 'WhatsApp refused the message'} (WhatsApp error {code})."
