"""The exclusions of natter's schemathesis run (tests/tests/suite/openapi.rs): each is
a request the check calls valid that natter is right to refuse, and that the OpenAPI
document cannot rule out. The README ("The OpenAPI document") says the same.
"""

import os
import re
import unicodedata

import schemathesis

# Each text field's most characters, from the domain's constants (the test passes
# them as "content=4000,title=100,…").
LIMITS = {
    name: int(most)
    for name, most in (
        pair.split("=") for pair in os.environ.get("NATTER_LIMITS", "").split(",") if pair
    )
}


def _error(response):
    try:
        body = response.json()
    except ValueError:
        return {}
    return body.get("error", {}) if isinstance(body, dict) else {}


def _within_limit_once_normalized(failure, case):
    """Whether an over-long text is not over-long as natter counts: after trimming
    and NFC (which composes a letter and its combining mark into one character), with
    each `\r\n` one line break."""
    found = re.search(r"violates `maxLength` at /properties/(\w+)", failure.message)
    if not found or not isinstance(case.body, dict):
        return False
    name = found.group(1)
    value = case.body.get(name)
    if name not in LIMITS or not isinstance(value, str):
        return False
    value = value.replace("\r\n", "\n").strip()
    return len(unicodedata.normalize("NFC", value)) <= LIMITS[name]


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure (True) but the refusals and acceptances below."""
    if failure.code == "ST201":
        # Lengths are counted after trimming and NFC: JSON Schema counts code points.
        return not _within_limit_once_normalized(failure, case)
    if failure.code != "ST202":
        return True
    error = _error(response)
    field, message = error.get("field"), error.get("message", "")
    # A JSON number written with a fraction, even `1.0`, is not an integer id to
    # natter (ids are read as 64-bit integers); JSON Schema counts 1.0 as an integer.
    if response.status_code == 400 and "invalid type: floating point" in message:
        return False
    # A person who is not registered (or not a member, for a transfer), a message
    # that is not of this conversation or is deleted, files that are not my own
    # unattached uploads: facts of the data at the time, which no schema can state.
    # A push endpoint's host (loopback or not) and a key that is a point on P-256:
    # patterns can only approximate them.
    data_facts = ("user_id", "member_ids", "reply_to_id", "from_message_id", "attachment_ids",
                  "endpoint", "keys.p256dh")
    if response.status_code == 422 and field in data_facts:
        return False
    # A nickname of letters, marks, digits, `. _ - '` and single inner spaces: JSON
    # Schema's patterns have no Unicode categories to say it (the document's pattern
    # rules out control and invisible characters, and its description says the rest).
    if response.status_code == 422 and field == "nickname":
        return False
    # A page is before, after or around a message, one of them: parameters cannot say
    # that each excludes the others.
    if response.status_code == 400 and message == "give one of before, after and around":
        return False
    return True
