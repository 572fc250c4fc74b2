"""What escalation messages say: short, plain GSM-7 text that fits one SMS.

A single character outside GSM-7 (a curly quote pasted into a summary) turns a text into UCS-2
and cuts a segment from 160 to 70 characters, so every text is cleaned to plain ASCII here and
summaries are shortened until the whole message fits in one segment.

The one exception is a summary that ends with a voicemail link (a missed call with a message,
crisisline.voicemail_links): a link cut short is no link, so it is kept whole and the text may
take two segments (sent and shown as one message); the words before it are shortened as usual.
Bundled items and spoken prompts leave the link out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, Literal

from escalation.codes import format_code

SERVICE: Final = "Resettle crisis line"
SMS_SEGMENT: Final = 160
TWO_SEGMENTS: Final = 2 * 153  # a concatenated GSM-7 SMS carries 153 characters a segment
_ELLIPSIS: Final = "..."
_LOOK_ALIKES: Final = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
}
# Printable ASCII minus the characters GSM-7 keeps in its extension table (each costs two
# septets) or lacks altogether (the backtick).
_PLAIN: Final = frozenset(chr(code) for code in range(0x20, 0x7F)) - set("`^{}\\[~]|")


def plain(text: str) -> str:
    """`text` on one line in plain GSM-7: look-alikes replaced, anything else dropped."""
    replaced = "".join(_LOOK_ALIKES.get(character, character) for character in text)
    kept = "".join(
        character if character in _PLAIN else " " if character.isspace() else ""
        for character in replaced
    )
    return " ".join(kept.split())


# A voicemail link at the end of a summary: https://host[/path]/voicemail/<token>.
_VOICEMAIL_LINK: Final = re.compile(r"\s(https?://\S+/voicemail/[A-Za-z0-9._-]+)$")


# Where staff can look a flood's contacts up (crisisline.floods): for the record and the
# API, not for a text's 160 characters or a call's voice.
_API_HINT: Final = re.compile(r"\s*See GET /api/\S*$")


def split_link(summary: str) -> tuple[str, str | None]:
    """A summary's words and the voicemail link it ends with, if any (an API hint that ends
    it is left out of the words)."""
    summary = _API_HINT.sub("", summary)
    found = _VOICEMAIL_LINK.search(summary)
    if found is None:
        return summary, None
    return summary[: found.start()].rstrip(" ,;:"), found.group(1)


def spoken(summary: str) -> str:
    """A summary as a call says it: plain words, no voicemail link, no closing full stop."""
    return split_link(plain(summary))[0].rstrip(".")


def _fit(template: str, summary: str, limit: int = SMS_SEGMENT, *, with_link: bool = True) -> str:
    """Fill `{summary}` in `template`, shortening the summary so the text fits `limit`.

    A voicemail link ending the summary is kept whole (`with_link`, the text then fits two
    segments) or left out."""
    words, link = split_link(plain(summary))
    if link is not None and with_link:
        # The link is kept whole; the words before it are shortened to fit two segments.
        limit = TWO_SEGMENTS - len(": " + link)
        # Where the template puts a full stop straight after the summary, it would end the
        # link: a space keeps it apart, which no phone reads as part of the link.
        template = template.replace("{summary}.", "{summary} .", 1)
    else:
        link = None
    summary = words.rstrip(".") or "a contact needs a person"
    room = limit - len(template.format(summary=""))
    if len(summary) > room:
        # When the template puts a full stop after the summary, it completes the ellipsis.
        ellipsis = ".." if template.split("{summary}", 1)[1].startswith(".") else _ELLIPSIS
        cut = summary[: max(room - len(ellipsis), 0)]
        word_end = cut.rfind(" ")
        if word_end > len(cut) - 20:
            cut = cut[:word_end]
        summary = cut.rstrip(" ,;:-") + ellipsis
    if link is not None:
        summary = f"{summary}: {link}"
    return template.format(summary=summary)


def notification_text(subject_summary: str, code: int) -> str:
    """The SMS sent at each step: what it is about and the codes to take or close it."""
    take, close = format_code(code, "acknowledge"), format_code(code, "close")
    return _fit(
        f"{SERVICE}: {{summary}}. Reply {take} to take this, {close} to close.", subject_summary
    )


# Each item below the header starts with its take code ("4a"); the close code is the same
# number with c, which the header says in words rather than as a second code per item.
# Short enough that the header and one item of the longest kind still fit one segment.
BUNDLE_HEADER: Final = (
    f"{SERVICE}, more alerts. Reply a code below to take one; use c not a to close:"
)


def bundle_item(subject_summary: str, code: int) -> str:
    """One escalation in a bundled text: its take code and a short summary (no link)."""
    summary = split_link(plain(subject_summary))[0].rstrip(".")
    if len(summary) > 60:
        summary = summary[:57].rstrip(" ,;:-") + "..."
    return f"{format_code(code, 'acknowledge')} {summary or 'a contact needs a person'}."


PHONE_CHANGED_HEADER: Final = (
    f"{SERVICE}: this is now your registered phone. Still open for you. Reply a code below "
    "to take one; use c not a to close:"
)


def taken_by_text(
    subject_summary: str, taken_by: str, *, closed: bool = False, taken: str = "taken"
) -> str:
    """The SMS telling the others notified that someone has taken (or closed) it.

    `taken` is the word its own texts use for taking it ("acknowledged" for a risk alert)."""
    verb = "closed" if closed else taken
    name = plain(taken_by)[:40] or "a colleague"
    return _fit(
        f"{SERVICE}: {{summary}} was {verb} by {name}. No action needed.",
        subject_summary,
        with_link=False,
    )


def update_text(subject_summary: str, code: int | None, *, open_: bool) -> str:
    """The follow-up SMS to someone already told about an escalation whose summary has grown
    (a voicemail left after the missed call was escalated): the news, and their code if any."""
    if code is None:
        return _fit(f"{SERVICE} update: {{summary}}.", subject_summary)
    if not open_:
        return _fit(f"{SERVICE} update on {code}: {{summary}}.", subject_summary)
    take, close = format_code(code, "acknowledge"), format_code(code, "close")
    return _fit(
        f"{SERVICE} update: {{summary}}. Reply {take} to take this, {close} to close.",
        subject_summary,
    )


def others_told(count: int) -> str:
    """Who else heard that it was taken: nothing at all when nobody else had been alerted."""
    if count <= 0:
        return ""
    if count == 1:
        return " The other person alerted has been told."
    return f" The {count} others alerted have been told."


def acknowledged_reply_text(code: int, *, told: int, taken: str = "taken") -> str:
    """The confirmation to someone whose reply took it; `told` is how many others heard so."""
    return f"{SERVICE}: you have {taken} {code}.{others_told(told)}"


def closed_reply_text(code: int) -> str:
    """The confirmation to someone whose reply closed it."""
    return f"{SERVICE}: {code} is closed."


def already_taken_text(
    code: int, taken_by: str, *, closed: bool = False, taken: str = "taken"
) -> str:
    """The answer to a reply for an escalation someone else already took or closed."""
    name = plain(taken_by)[:40] or "a colleague"
    return f"{SERVICE}: {code} was already {'closed' if closed else taken} by {name}."


def unknown_code_text(code: int | None) -> str:
    """The answer to a reply whose code was not sent to this phone."""
    if code is None:
        return f"{SERVICE}: nothing open for this phone. Reply with the code you were sent."
    return f"{SERVICE}: no open alert {code} for this phone. Reply with the code you were sent."


def which_code_text(open_: Sequence[tuple[int, str]]) -> str:
    """The answer to a bare "a" or "c" when several codes were texted at once: which one?"""
    parts = [f"{code} ({summary[:40]})" for code, summary in sorted(open_)]
    example = min(code for code, _ in open_)
    return (
        f"{SERVICE}: NOT DONE - you have {len(parts)} open: {'; '.join(parts)}. "
        f"Reply with the code, e.g. {example}a or {example}c."
    )


def not_open_text(code: int, status: str) -> str:
    """The answer to an action on an escalation that can no longer take it."""
    return f"{SERVICE}: {code} is {status}."


def overdue_text(escalation_id: int, minutes: int) -> str:
    """To the duty managers: an escalation's next step is late (the scheduler is behind)."""
    return (
        f"URGENT {SERVICE}: escalation {escalation_id} is {minutes} min overdue. "
        "Check the scheduler."
    )


def exhausted_text(subject_summary: str) -> str:
    """The safety-incident SMS: the whole chain ran and nobody took it."""
    return _fit(
        f"URGENT {SERVICE}: nobody took {{summary}} after full escalation. Act now.",
        subject_summary,
    )


# ---- what staff hear on the phone: a crisis call reaching them, the call-back menu -------------

# Stands for the caller in the screening prompt ([voice] screening in config/crisis_line.toml)
# when the call cannot be looked up.
SCREENING_UNKNOWN_CALLER: Final = "a caller"
VOICE_CALLER_HUNG_UP: Final = "The caller has hung up. You will get a text to call them back."
VOICE_CALL_TAKEN: Final = "Someone else has taken this call. Goodbye."
VOICE_NO_MISSED_CALLS: Final = f"{SERVICE}. There are no missed calls to return. Goodbye."
VOICE_NO_CHOICE: Final = "No choice made. Goodbye."
VOICE_NOT_A_CHOICE: Final = "That is not one of the choices. Goodbye."
VOICE_THEIR_MESSAGE: Final = "Their message:"  # then the recording plays
VOICE_WITHHELD: Final = "The caller withheld their number, so they cannot be called back."


def voice_call_back_menu(labels: Sequence[str | None]) -> str:
    """The call-back menu: a key for each missed call, in order. A label is how the caller is
    announced; None is a caller who withheld their number, whose message can only be heard."""
    choices = [
        f"Press {key} to call back {label}."
        if label is not None
        else f"Press {key} to hear the message from a caller who withheld their number."
        for key, label in enumerate(labels, start=1)
    ]
    return f"{SERVICE}. " + " ".join(choices)


def voice_calling_back(label: str) -> str:
    """Said as the line rings the missed caller the staff member chose."""
    return f"Calling {label} now."


# ---- what staff hear on an escalation call ---------------------------------------------------

VOICE_NOT_FOR_THIS_PHONE: Final = "This call is not for this phone. Goodbye."
VOICE_NO_KEY: Final = "No key was pressed. If nobody takes this, the next person will be called."


def voice_already_done(subject_summary: str, by: str | None, *, closed: bool) -> str:
    """An escalation call that reached someone after another took or closed it (`by`)."""
    # The summary's words only: a voicemail link is never read out.
    words = spoken(subject_summary)
    return (
        f"{words}. This has already been {'closed' if closed else 'taken'} "
        f"by {plain(by or 'a colleague')}. Goodbye."
    )


def voice_prompt(subject_summary: str) -> str:
    """What an escalation call says: what it is about and the keys to press (a link is not
    read out)."""
    summary = spoken(subject_summary)[:200] or "a contact needs a person"
    return (
        f"This is the {SERVICE}. {summary}. "
        "Press 4 to take this. Press 5 to pass it to the next person now. Press star to repeat."
    )


def voice_confirmation(
    action: Literal["acknowledged", "escalated", "invalid"], *, told: int = 0
) -> str:
    """What a call says after a keypress: taken (4), passed on (5), or a key that does nothing.

    `told` is how many others alerted hear that it was taken (key 4): none, nothing is said."""
    if action == "acknowledged":
        if told <= 0:
            return "Thank you. You have taken this. Goodbye."
        others = "The other person alerted" if told == 1 else f"The {told} others alerted"
        return f"Thank you. You have taken this. {others} will be told. Goodbye."
    if action == "escalated":
        return "Thank you. It has been passed to the next person. Goodbye."
    return "Sorry, that key does nothing. Press 4 to take this, 5 to pass it on, star to repeat."


# ---- crisis texts: what staff read about a participant's text conversation -----------------
# (crisisline.sms_conversations relays and notices; crisisline.sms_commands answers staff texts)


def on_call_now_text(lines: Sequence[str]) -> str:
    """The answer to WHO: one "rota: names" line a rota, or that there are no rotas."""
    if not lines:
        return f"{SERVICE}: there are no rotas."
    return f"{SERVICE} on call now: " + "; ".join(lines) + "."


def opted_out_notice(who: str, word: str) -> str:
    """To staff in a participant's conversation: he texted STOP (or another opt-out word)."""
    return (
        f"{SERVICE}: {who} texted {word}. The network now blocks texts to them until they "
        "text START. Call them if you need to reach them."
    )


# Added to the relay of a participant's words when his text also ended an opt-out.
OPTED_IN_NOTE: Final = "They texted START: texts to them work again."


def refused_notice(who: str) -> str:
    """To staff in a conversation: the network refused a text to the participant (opted out)."""
    return (
        f"{SERVICE}: a text to {who} was refused: they have opted out of texts (STOP). They "
        "get nothing by text until they text START. Call them."
    )


def handed_over_notice(who: str, *, quiet_for: int | None) -> str:
    """To the staff member who had taken a conversation that has now gone to whoever is on call:
    the participant has had no reply for `quiet_for` minutes, or (None) the taker's shift ended."""
    if quiet_for is not None:
        return (
            f"{SERVICE}: {who} has had no reply for {quiet_for} minutes; it has gone "
            "to whoever is on call now as well. Reply if you can."
        )
    return (
        f"{SERVICE}: {who} texted again after your shift; it has gone to whoever is on call "
        "now. No action needed."
    )


def not_sent_opted_out_text(who: str) -> str:
    """To staff whose words were not relayed: the participant has opted out of texts."""
    return (
        f"{SERVICE}: NOT SENT. {who} has opted out of texts (STOP), so the network blocks them "
        "until they text START. Call them instead."
    )


def not_sent_number_removed_text(who: str) -> str:
    """To staff whose words were not relayed: the number is no longer on his record."""
    return (
        f"{SERVICE}: NOT SENT. This number is no longer on {who}'s record. Call him on his new "
        "number, or wait for his text from it."
    )


def _open_list(open_: Sequence[tuple[int, str]]) -> str:
    if not open_:
        return "You have no open text conversations."
    return "Open: " + "; ".join(f"{code} {who}" for code, who in open_) + "."


def not_sent_text(reason: str, open_: Sequence[tuple[int, str]]) -> str:
    """To staff whose text went to nobody: why, and their open conversations (code, who)."""
    prefix = f"{SERVICE}: NOT SENT to anyone. {reason}".rstrip() + " "
    if not open_:
        # With nothing open, "start with the code" would point at a code they do not have.
        return prefix + _open_list(open_)
    example = min(code for code, _ in open_)
    return prefix + f"Start with the code, e.g. {example} I'm here. " + _open_list(open_)


def help_text(open_: Sequence[tuple[int, str]]) -> str:
    """The answer to HELP: how to text a participant, take, close, WHO, and what is open."""
    # The examples use a code the worker holds, so they can be copied as they stand.
    n = min((code for code, _ in open_), default=3)
    return (
        f"{SERVICE}: reply CODE and your message to text a participant from the crisis line "
        f"({n} I'm here). {n}a take, {n}c close, WHO on call now. " + _open_list(open_)
    )


def staff_opted_out_notice(name: str, word: str) -> str:
    """To the duty managers: a member of staff texted STOP, so texts to them are blocked."""
    return (
        f"{SERVICE}: {name} texted {word} to the crisis line, so escalation texts to their "
        "phone are blocked until they text START."
    )


STAFF_OPTED_IN_TEXT: Final = f"{SERVICE}: texts to this phone work again."


def relayed_and_taken_text(who: str, code: int, told: int) -> str:
    """The confirmation to staff whose first reply went to the participant and so took it."""
    return (
        f"{SERVICE}: sent to {who}. You have taken {code}.{others_told(told)} "
        f"Reply {code}c to close it."
    )


def console_invitation_text(first_name: str, link: str, *, hours: int) -> str:
    """The text that invites a member of staff to set up their console sign-in."""
    return (
        f"{SERVICE}: {first_name}, you are invited to the staff console. Set your password "
        f"and sign-in code here within {hours} hours (the link works once): {link}"
    )
