"""Card protocol (pure, byte-tested) and the virtual card through the in-process reader."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.errors import CardDataCorrupt, CardError, CardExpired, CardMute, CardRemoved, InvalidCitizenId
from kiosk.errors import NotSocialSecurityCard
from kiosk.identity import document_from_card, validate_citizen_id

from drivers.card import apdu
from drivers.card.inprocess_reader import InProcessCardReader
from drivers.card.records import EF05_TAGS, EF06_TAGS, encode_identity, parse_identity
from drivers.card.virtual_card import Fault, VirtualSocialSecurityCard, load_holders

HOLDERS = load_holders()


def test_apdu_bytes() -> None:
    assert apdu.select_by_name().hex().upper() == "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
    assert apdu.select_ef(0xEF05) == bytes.fromhex("00A4020002EF05")
    assert apdu.read_record(0x07, 11) == bytes.fromhex("00B207000B")
    assert apdu.get_response(0x20) == bytes.fromhex("00C0000020")


def test_exchange_follows_61xx_and_6cxx() -> None:
    sent: list[bytes] = []
    answers = [bytes.fromhex("6C05"), bytes.fromhex("0102616104"), bytes.fromhex("03049000")]

    def transmit(command: bytes) -> bytes:
        sent.append(command)
        return answers.pop(0)

    assert apdu.exchange(transmit, apdu.read_record(1, 2)) == bytes.fromhex("0102610304")
    assert sent[1] == apdu.read_record(1, 5) and sent[2] == apdu.get_response(4)


def test_exchange_names_the_status_word() -> None:
    with pytest.raises(CardError, match="6982"):
        apdu.exchange(lambda _c: bytes.fromhex("6982"), apdu.select_ef(0xEF05))
    with pytest.raises(CardDataCorrupt, match="no status word"):
        apdu.exchange(lambda _c: b"\x90", apdu.select_ef(0xEF05))


@pytest.mark.parametrize("key", sorted(HOLDERS))
def test_every_holder_reads_back(key: str) -> None:
    reader = InProcessCardReader()
    reader.insert(VirtualSocialSecurityCard(HOLDERS[key]))
    assert reader.read_identity() == HOLDERS[key]


def test_parsed_fields() -> None:
    card = HOLDERS["demo"]
    assert len(card.card_sn) == 32 and card.name == "王秀英" and card.birthplace == "110101"
    assert card.expiry_date == dt.date(2031, 3, 15) and card.ethnicity == "01"


@pytest.mark.parametrize(("fault", "error"), [
    (Fault.NOT_SSC, NotSocialSecurityCard),
    (Fault.CORRUPT_TLV, CardDataCorrupt),
    (Fault.WRONG_LENGTH, CardDataCorrupt),
    (Fault.REMOVED_MID_READ, CardRemoved),
    (Fault.MUTE, CardMute),
])
def test_faults_give_their_error(fault: Fault, error: type[CardError]) -> None:
    reader = InProcessCardReader()
    reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"], fault=fault))
    with pytest.raises(error):
        reader.read_identity()


def test_no_card_inserted() -> None:
    with pytest.raises(CardRemoved):
        InProcessCardReader().read_identity()


def test_reader_events() -> None:
    reader, events = InProcessCardReader(), []
    reader.set_listener(lambda: events.append("in"), lambda: events.append("out"))
    reader.insert(VirtualSocialSecurityCard(HOLDERS["demo"]))
    reader.remove()
    reader.remove()  # no card: no second event
    assert events == ["in", "out"]


def test_citizen_id_check_digit() -> None:
    assert validate_citizen_id("110101195603071239") == "110101195603071239"
    with pytest.raises(InvalidCitizenId, match="check digit"):
        validate_citizen_id("110101195603071238")
    with pytest.raises(InvalidCitizenId, match="birth date"):
        validate_citizen_id("110101195613071230")
    with pytest.raises(InvalidCitizenId, match="17 digits"):
        validate_citizen_id("11010119560307")


def test_expired_card_and_1101_mapping() -> None:
    today = dt.date(2026, 11, 22)
    with pytest.raises(CardExpired, match="2024-05-21"):
        document_from_card(HOLDERS["expired"], today)
    doc = document_from_card(HOLDERS["demo"], today)
    assert (doc.cert_type.value, doc.cert_no, doc.card_sn) == ("03", "A01234567", HOLDERS["demo"].card_sn)
    forged = dataclasses.replace(HOLDERS["demo"], citizen_id="110101195603071230")
    with pytest.raises(InvalidCitizenId):
        document_from_card(forged, today)


def test_identity_repr_masks_numbers() -> None:
    assert "110101195603071239" not in repr(HOLDERS["demo"])


ALL_TAGS = EF05_TAGS | EF06_TAGS


@settings(max_examples=3000, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(ALL_TAGS)), st.binary(max_size=40)))
def test_parser_never_raises_anything_but_card_errors(records: dict[int, bytes]) -> None:
    base = encode_identity(HOLDERS["demo"])
    try:
        parsed = parse_identity(base | records)
    except CardDataCorrupt as exc:  # the only acceptable failure, with a reason
        assert exc.code == 104 and exc.message
    else:
        assert encode_identity(parsed).keys() == base.keys()


def test_encode_parse_round_trip() -> None:
    assert parse_identity(encode_identity(HOLDERS["employee"])) == HOLDERS["employee"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=40))
def test_any_card_answers_give_an_identity_or_a_card_error(answers: list[bytes]) -> None:
    """A hostile or broken card answering anything at all: only project card errors come out."""
    replies = iter(answers)

    def transmit(_apdu: bytes) -> bytes:
        return next(replies, b"\x90\x00")

    try:
        identity = apdu.read_identity(transmit)
    except CardError as exc:
        assert 100 <= exc.code < 200
    else:
        assert len(identity.card_sn) == 32
