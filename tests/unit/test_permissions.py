"""The permission table and the actor: what roles hold together (the widest extent wins), what
an integration's scopes give, and the limits the roles must keep (no contact content for an
administrator alone, no staff administration for a duty manager)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crisisline.models import StaffRole
from crisisline.permissions import (
    ROLE_GRANTS,
    SCOPES,
    UNGRANTED,
    Actor,
    Extent,
    Permission,
    grants,
)

WIDTH = [Extent.OWN, Extent.HANDLED, Extent.CASELOAD, Extent.ALL]
ON_CALL, OFFICER, MANAGER, LEAD, ADMIN = (
    StaffRole.ON_CALL,
    StaffRole.RESPONSIBLE_OFFICER,
    StaffRole.DUTY_MANAGER,
    StaffRole.CLINICAL_LEAD,
    StaffRole.ADMIN,
)
CONTACT_CONTENT = {
    Permission.CONTACTS_READ,
    Permission.NOTES_WRITE,
    Permission.ALERTS_READ,
    Permission.ALERTS_WRITE,
    Permission.ESCALATIONS_READ,
    Permission.ESCALATIONS_WRITE,
    Permission.DELIVERIES_READ,
}
STAFF_ADMINISTRATION = {Permission.STAFF_WRITE, Permission.ACCOUNTS_ADMIN, Permission.TOKENS_ADMIN}


def a_person(*roles: StaffRole) -> Actor:
    return Actor(kind="person", name="Amira Okafor", staff_id=12, roles=frozenset(roles))


def an_integration(*scopes: Permission) -> Actor:
    return Actor(kind="integration", name="case-system", scopes=frozenset(scopes), token_id=3)


def test_one_role_holds_exactly_its_row_of_the_table() -> None:
    for role, granted in ROLE_GRANTS.items():
        assert grants(frozenset({role})) == dict(granted)
    assert grants(frozenset()) == {}


def test_the_widest_extent_any_role_gives_wins() -> None:
    held = grants(frozenset({ON_CALL, OFFICER}))
    assert held[Permission.PARTICIPANTS_READ] is Extent.CASELOAD  # caseload over handled
    assert held[Permission.ROTAS_READ] is Extent.OWN  # only the on-call worker's
    assert held[Permission.ALERTS_WRITE] is Extent.CASELOAD  # only the officer's
    assert grants(frozenset({OFFICER, MANAGER}))[Permission.ALERTS_READ] is Extent.ALL
    assert grants(frozenset({ON_CALL, ADMIN}))[Permission.ROTAS_READ] is Extent.ALL


@given(st.frozensets(st.sampled_from(StaffRole)), st.sampled_from(StaffRole))
def test_another_role_never_takes_a_grant_away_or_narrows_it(
    roles: frozenset[StaffRole], another: StaffRole
) -> None:
    before, after = grants(roles), grants(roles | {another})
    for permission, extent in before.items():
        assert WIDTH.index(after[permission]) >= WIDTH.index(extent)
    assert set(after) == set(before) | set(ROLE_GRANTS[another])


def test_a_person_may_what_their_roles_grant_and_nothing_else() -> None:
    worker = a_person(ON_CALL)
    for permission in SCOPES:
        assert worker.may(permission) == (permission in ROLE_GRANTS[ON_CALL])
        assert worker.extent(permission) == ROLE_GRANTS[ON_CALL].get(permission)
    nobody = a_person()
    assert not any(nobody.may(permission) for permission in SCOPES)


def test_a_persons_token_scopes_give_nothing_beyond_their_roles() -> None:
    worker = Actor(
        kind="person", name="Amira Okafor", staff_id=12, roles=frozenset({ON_CALL}), scopes=SCOPES
    )
    assert not worker.may(Permission.STAFF_WRITE)


def test_an_integration_holds_its_scopes_over_every_participant_and_nothing_else() -> None:
    reader = an_integration(Permission.CONTACTS_READ)
    assert reader.extent(Permission.CONTACTS_READ) is Extent.ALL
    assert reader.may(Permission.CONTACTS_READ)
    assert not reader.may(Permission.ROTAS_WRITE)
    # Roles on an integration are ignored: only its scopes count.
    assert not Actor(kind="integration", name="x", roles=frozenset({ADMIN})).may(
        Permission.STAFF_WRITE
    )


def test_public_is_everyones_and_signed_in_is_any_persons_but_no_integrations() -> None:
    assert a_person().may(Permission.PUBLIC)
    assert an_integration().may(Permission.PUBLIC)
    assert a_person().may(Permission.SIGNED_IN)
    assert a_person().extent(Permission.SIGNED_IN) is Extent.OWN
    assert not an_integration(*SCOPES).may(Permission.SIGNED_IN)


def test_public_and_signed_in_are_never_granted_nor_scopes() -> None:
    assert {Permission.PUBLIC, Permission.SIGNED_IN} == UNGRANTED
    assert not UNGRANTED & SCOPES
    for granted in ROLE_GRANTS.values():
        assert set(granted) <= SCOPES


def test_every_role_has_a_row_and_every_scope_is_some_roles() -> None:
    assert set(ROLE_GRANTS) == set(StaffRole)
    assert set().union(*(set(granted) for granted in ROLE_GRANTS.values())) == SCOPES


def test_an_administrator_alone_reads_no_contact_content() -> None:
    assert not CONTACT_CONTENT & set(grants(frozenset({ADMIN})))
    assert grants(frozenset({ADMIN}))[Permission.PARTICIPANTS_READ] is Extent.ALL
    # Unless the person also holds another role.
    assert Permission.CONTACTS_READ in grants(frozenset({ADMIN, ON_CALL}))


def test_a_duty_manager_runs_everything_operational_but_no_staff_administration() -> None:
    manager = grants(frozenset({MANAGER}))
    assert not STAFF_ADMINISTRATION & set(manager)
    operational = CONTACT_CONTENT | {
        Permission.PARTICIPANTS_READ,
        Permission.PARTICIPANTS_WRITE,
        Permission.POLICIES_READ,
        Permission.POLICIES_WRITE,
        Permission.ROTAS_READ,
        Permission.ROTAS_WRITE,
    }
    assert {permission: manager.get(permission) for permission in operational} == dict.fromkeys(
        operational, Extent.ALL
    )


def test_a_clinical_lead_is_a_duty_manager_who_reads_the_risk_rules_and_access_log() -> None:
    lead, manager = grants(frozenset({LEAD})), grants(frozenset({MANAGER}))
    assert {p: e for p, e in lead.items() if p in manager} == manager
    assert set(lead) - set(manager) == {
        Permission.RISK_RULES_READ,
        Permission.AUDIT_READ,
        Permission.LEGAL_HOLDS_WRITE,
        Permission.RETENTION_READ,
        Permission.CRISIS_PLANS_WRITE,
    }


def test_only_the_administrator_exports_a_participants_record_to_him() -> None:
    holders = {
        role for role, granted in ROLE_GRANTS.items() if Permission.SUBJECT_ACCESS_ADMIN in granted
    }
    assert holders == {ADMIN}
    legal_holds = {
        role for role, granted in ROLE_GRANTS.items() if Permission.LEGAL_HOLDS_WRITE in granted
    }
    assert legal_holds == {ADMIN, LEAD}


def test_an_on_call_worker_reaches_only_the_men_he_handled_and_his_own_shifts() -> None:
    assert ROLE_GRANTS[ON_CALL] == {
        Permission.ROTAS_READ: Extent.OWN,
        Permission.PARTICIPANTS_READ: Extent.HANDLED,
        Permission.CONTACTS_READ: Extent.HANDLED,
        Permission.NOTES_WRITE: Extent.HANDLED,
        Permission.CRISIS_PLANS_READ: Extent.HANDLED,
    }


def test_a_responsible_officer_reaches_his_caseload_and_deals_with_its_alerts() -> None:
    officer = grants(frozenset({OFFICER}))
    assert set(officer.values()) == {Extent.CASELOAD}
    assert Permission.ALERTS_WRITE in officer
    assert Permission.NOTES_WRITE in officer


def test_the_actor_is_named_as_the_logs_name_it() -> None:
    assert a_person(ON_CALL).label == "staff:12"
    assert an_integration().label == "integration:case-system"


def test_crisis_plans_are_written_by_officer_and_clinical_lead_read_by_the_line() -> None:
    writers = {
        role: granted[Permission.CRISIS_PLANS_WRITE]
        for role, granted in ROLE_GRANTS.items()
        if Permission.CRISIS_PLANS_WRITE in granted
    }
    assert writers == {OFFICER: Extent.CASELOAD, LEAD: Extent.ALL}
    readers = {
        role: granted[Permission.CRISIS_PLANS_READ]
        for role, granted in ROLE_GRANTS.items()
        if Permission.CRISIS_PLANS_READ in granted
    }
    assert readers == {
        ON_CALL: Extent.HANDLED,
        OFFICER: Extent.CASELOAD,
        MANAGER: Extent.ALL,
        LEAD: Extent.ALL,
    }
