"""Every purpose the service writes has the priority it needs (crisisline.delivery_kinds)."""

from __future__ import annotations

from crisisline import (
    delivery_kinds,
    escalation_engine,
    floods,
    rota_notices,
    sms_commands,
    sms_conversations,
    staff,
)
from crisisline.delivery_kinds import PARTICIPANT, ROUTINE, STAFF_ALERT, kind_of


def test_what_a_participant_sent_or_is_sent_goes_first_and_is_retried_through_outages() -> None:
    for purpose in (
        sms_conversations.RELAY_TO_STAFF,
        sms_conversations.ACKNOWLEDGEMENT,
        sms_conversations.FALLBACK,
        sms_commands.STAFF_REPLY,
    ):
        assert kind_of(purpose) == delivery_kinds.DeliveryKind(PARTICIPANT, crisis=True)


def test_staff_chased_for_an_escalation_come_next_and_are_retried_through_outages() -> None:
    for purpose in (
        escalation_engine.PURPOSE,
        escalation_engine.BUNDLE_PURPOSE,
        "escalation_incident",
    ):
        assert kind_of(purpose) == delivery_kinds.DeliveryKind(STAFF_ALERT, crisis=True)


def test_notices_to_staff_about_what_is_happening_now_come_before_routine() -> None:
    for purpose in (sms_conversations.STAFF_NOTICE, floods.NOTICE_PURPOSE):
        assert kind_of(purpose).priority == STAFF_ALERT


def test_reminders_and_test_messages_are_routine() -> None:
    for purpose in (rota_notices.REMINDER, rota_notices.GAP_NEW, staff.TEST_MESSAGE_PURPOSE):
        assert kind_of(purpose) == delivery_kinds.DeliveryKind(ROUTINE, crisis=False)
