"""Recording deletion in the fake and console adapters, and the shared reading of a recording
URL: the fake records deletions and fails when told; the console names a recording by the last
four characters of its SID only."""

from __future__ import annotations

import io
import logging

import pytest

from crisisline.telephony import (
    ConsoleTelephony,
    FakeTelephony,
    PermanentTelephonyError,
    TransientTelephonyError,
    masked_recording,
    recording_sid,
)

ACCOUNT = "AC" + "1" * 32
SID = "RE" + "0123456789abcdef" * 2
RECORDING = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{SID}"


def test_the_fake_forgets_a_deleted_recording_and_lists_the_deletion() -> None:
    fake = FakeTelephony()
    fake.recordings[RECORDING] = b"ID3 audio"
    fake.delete_recording(RECORDING)
    assert fake.recordings == {}
    assert fake.deleted_recordings == [RECORDING]
    assert fake.deletion_attempts == [RECORDING]


def test_the_fake_takes_a_recording_it_does_not_hold_as_already_gone() -> None:
    fake = FakeTelephony()
    fake.delete_recording(RECORDING)
    assert fake.deleted_recordings == [RECORDING]


def test_the_fake_fails_the_next_deletions_when_told_and_keeps_the_recording() -> None:
    fake = FakeTelephony()
    fake.recordings[RECORDING] = b"ID3 audio"
    fake.fail_next_deletions(TransientTelephonyError("Twilio error 20500", code=20500), times=2)
    for _ in range(2):
        with pytest.raises(TransientTelephonyError):
            fake.delete_recording(RECORDING)
    assert fake.recordings == {RECORDING: b"ID3 audio"}
    assert fake.deleted_recordings == []
    fake.delete_recording(RECORDING)
    assert fake.deleted_recordings == [RECORDING]
    assert fake.deletion_attempts == [RECORDING] * 3


def test_deletion_failures_do_not_touch_sends_and_send_failures_do_not_touch_deletions() -> None:
    fake = FakeTelephony()
    fake.fail_next_deletions(PermanentTelephonyError("refused", code=20003))
    fake.send_sms("+447700900101", "+447700900000", "Test", None)
    with pytest.raises(PermanentTelephonyError):
        fake.delete_recording(RECORDING)


def test_every_adapter_refuses_a_url_naming_no_recording() -> None:
    calls = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls/CA" + "2" * 32
    for adapter in (FakeTelephony(), ConsoleTelephony(io.StringIO())):
        with pytest.raises(PermanentTelephonyError):
            adapter.delete_recording(calls)


@pytest.mark.hazard("H276")
def test_the_console_names_the_recording_by_the_last_four_characters_of_its_sid_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.StringIO()
    console = ConsoleTelephony(out)
    with caplog.at_level(logging.INFO, logger="crisisline.telephony.console"):
        console.delete_recording(RECORDING)
    printed = out.getvalue()
    logged = caplog.text
    for text in (printed, logged):
        assert "...cdef" in text
        assert SID not in text
        assert ACCOUNT not in text
        assert "api.twilio.com" not in text
    assert "DELETE recording ...cdef" in printed


@pytest.mark.parametrize("suffix", ["", ".json", ".mp3", ".wav"])
def test_the_sid_is_read_from_every_form_of_a_recording_url(suffix: str) -> None:
    assert recording_sid(RECORDING + suffix) == SID


@pytest.mark.parametrize(
    "url",
    [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA" + "1" * 32,
        "https://api.twilio.com/Recordings/" + SID,
        "not a url",
        "",
    ],
)
def test_a_url_that_names_no_recording_has_no_sid_and_is_masked_whole(url: str) -> None:
    assert recording_sid(url) is None
    assert masked_recording(url) == "a recording"


def test_a_recording_is_masked_to_the_last_four_characters_of_its_sid() -> None:
    assert masked_recording(RECORDING + ".mp3") == "recording ...cdef"
