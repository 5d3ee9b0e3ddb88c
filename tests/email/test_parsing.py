"""The mail corpus, parsed: every field worked out by hand from the .eml files beside it.

Each test names the file it reads (tests/email/corpus/README.md says what each one is).
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opsledger.adapters.email.charsets import codec_for, decode_bytes, decode_header_text
from opsledger.adapters.email.htmltext import html_to_text
from opsledger.adapters.email.parsing import (
    MailParseError,
    ParsedMail,
    expresses_dissatisfaction,
    parse_message,
    strip_subject_prefixes,
    survey_score,
    ticket_token,
)
from opsledger.adapters.email.quotes import reply_text

from opsledger import InputError

CORPUS = Path(__file__).parent / "corpus"
#: The Message-ID of our own notification for INC-000123, which several replies answer.
OURS_123 = "<20240304090000.inc-000123.7f3a@desk.example.org>"


def mail(name: str) -> ParsedMail:
    return parse_message((CORPUS / f"{name}.eml").read_bytes())


def test_every_corpus_file_is_listed_in_the_readme_and_parses() -> None:
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    files = sorted(CORPUS.glob("*.eml"))
    assert len(files) >= 18
    for path in files:
        assert f"`{path.name}`" in readme, path.name
        assert isinstance(parse_message(path.read_bytes()), ParsedMail)


# -- clients ----------------------------------------------------------------------------------


def test_outlook_reply_keeps_the_plain_part_and_strips_the_original_message() -> None:
    m = mail("outlook_reply_html_and_plain")
    assert m.message_id == (
        "<AM0PR02MB56187E0C5D4A3B2F1E6D9C8BA1232@AM0PR02MB5618.eurprd02.prod.outlook.com>"
    )  # folded onto the next line in the file
    assert (m.in_reply_to, m.references) == ((OURS_123,), (OURS_123,))
    assert m.subject == "RE: [INC-000123] Printer on floor 3 offline"
    assert ticket_token(m.subject) == "INC-000123"
    assert (m.sender, m.sender_name) == ("john.smith@contoso.com", "John Smith")
    assert (m.to, m.cc) == (("desk@example.org",), ("mary.lee@contoso.com",))
    assert m.date == datetime(2024, 3, 4, 10, 12, 43, tzinfo=UTC)
    # iso-8859-1 label, =92 byte: windows-1252's right single quote, as Outlook meant it
    assert m.reply_text == (
        "Hi,\n\nThe printer is back online, it’s working fine now. Thanks for the quick "
        "help!\n\nRegards,\nJohn"
    )
    assert m.text.startswith(m.reply_text) and "-----Original Message-----" in m.text
    assert m.html is not None and "WordSection1" in m.html
    assert (m.attachments, m.tnef, m.defects, m.language) == ((), False, (), "en")
    assert m.headers_of_interest["x-mailer"] == "Microsoft Outlook 16.0"
    assert m.headers_of_interest["thread-index"] == "AQHabhBXZ3Jm1k2xR0uZ5rGq1m3Zf7EqoBzA"
    assert not m.signals.is_automatic


def test_outlook_html_header_block_is_history_too() -> None:
    # Outlook's HTML has no "Original Message" line, only the bold From/Sent block
    html = mail("outlook_reply_html_and_plain").html
    assert html is not None
    assert reply_text(html_to_text(html)) == (
        "Hi,\n\nThe printer is back online, it’s working fine now. Thanks for the quick "
        "help!\n\nRegards,\nJohn"
    )


def test_winmail_dat_is_kept_as_an_attachment_and_flagged_as_tnef() -> None:
    m = mail("outlook_reply_winmail_dat")
    (tnef,) = m.attachments
    # 4 signature bytes 78 9f 3e 22, then bytes 0x10..0x4b: 4 + 60 = 64
    assert (tnef.filename, tnef.content_type) == ("winmail.dat", "application/ms-tnef")
    assert tnef.size == 64
    assert tnef.data == bytes([0x78, 0x9F, 0x3E, 0x22, *range(0x10, 0x4C)])
    # sha256 of those 64 bytes, from `python -c` over the same list
    assert tnef.sha256 == "4f27a0daf67e8cb339dc26f093260cb19ffb2562ed616f8b18d6ba3cdf0012b2"
    assert (tnef.inline, tnef.content_id, m.tnef) == (False, None, True)
    # the newer Outlook history: a rule of underscores, then From/Sent/To/Subject
    assert m.reply_text == "The ThinkPad T14 is fine for us, please order two.\n\nPetr"
    assert m.in_reply_to == ("<20240305100000.req-000077.19aa@desk.example.org>",)
    assert m.references == (
        "<20240305090000.req-000077.0001@desk.example.org>",
        "<20240305100000.req-000077.19aa@desk.example.org>",
    )
    assert m.thread_ids == (
        "<20240305100000.req-000077.19aa@desk.example.org>",
        "<20240305090000.req-000077.0001@desk.example.org>",
    )
    assert m.date == datetime(2024, 3, 5, 10, 47, 9, tzinfo=UTC)  # 11:47:09 +0100


def test_gmail_reply_drops_the_wrapped_attribution_and_the_quote() -> None:
    m = mail("gmail_reply")
    assert m.message_id == "<CAJx5Mf9G2y1mR8b7gq+3UyzC0kZxw3Ok5E1tH0=aP4zQ9Xz8nQ@mail.gmail.com>"
    assert m.date == datetime(2024, 3, 4, 9, 35, 12, tzinfo=UTC)  # 17:35:12 +0800
    assert m.subject == "Re: [INC-000124] VPN drops every 10 minutes"
    # "On Mon, Mar 4, 2024 at 9:00 AM Service Desk <desk@example.org>" / "wrote:" on two lines
    assert m.reply_text == (
        'Hi,\n\nIt still drops after the update. The log says "peer unreachable" at\n17:20.'
        "\n\nAlice"
    )
    assert "> Please install client 5.2" in m.text


def test_gmail_html_quote_becomes_quoted_lines() -> None:
    html = mail("gmail_reply").html
    assert html is not None
    text = html_to_text(html)
    assert "> Please install client 5.2 and tell us if the VPN still drops." in text
    assert "Service Desk <desk@example.org> wrote:" in text  # mailto: label = target: once
    assert reply_text(text) == (
        'Hi,\n\nIt still drops after the update. The log says "peer unreachable" at 17:20.\n\nAlice'
    )


def test_apple_mail_inline_image_and_iphone_signature() -> None:
    m = mail("apple_mail_iphone_inline_image")
    (image,) = m.attachments
    assert (image.filename, image.content_type, image.inline) == ("image0.jpeg", "image/jpeg", True)
    assert image.content_id == "<A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF>"
    assert image.size == 91 and image.data[:3] == b"\xff\xd8\xff" and image.data[-2:] == b"\xff\xd9"
    assert image.sha256 == hashlib.sha256(image.data).hexdigest()
    assert m.html is not None and "cid:A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF" in m.html
    # "Sent from my iPhone" and the "> On Mar 5, 2024, at 07:00, ... wrote:" quote go
    assert m.reply_text == "This is the model we need, see the photo.\n\n[image0.jpeg]"
    assert m.date == datetime(2024, 3, 5, 13, 14, 2, tzinfo=UTC)  # 08:14:02 -0500
    assert m.headers_of_interest["x-mailer"] == "iPhone Mail (21D61)"


def test_thunderbird_new_request_is_unflowed_and_loses_its_signature() -> None:
    m = mail("new_request_thunderbird")
    assert (m.sender, m.sender_name) == ("joerg.weber@example.net", "Jörg Weber")  # Q-encoded
    assert (m.in_reply_to, m.references, ticket_token(m.subject)) == ((), (), None)
    # format=flowed: "access to " + "the share" is one line
    assert "need read/write access to the share \\\\fs01\\finance." in m.text
    assert m.text.endswith("-- \nJörg Weber\nFinance, room 2.14")
    assert m.reply_text.endswith("Thanks,\nJörg")
    assert not m.signals.is_automatic


def test_html_only_mail_is_reduced_to_readable_text() -> None:
    m = mail("html_only_web_form")
    assert m.text == (
        "New access request\n\n"
        "Requester: Li Ming & team <finance>\n\n"
        "- System: SAP\n- Role: viewer\n\n"
        "1. Approve\n2. Provision\n\n"
        "Details: see form 4711 (https://intranet.example.com/forms/4711) or write to "
        "li.ming@example.net.\n\n"
        "Cost center\t4711\nDue\t2024-03-15"
    )  # title, style and script are gone; &nbsp; &amp; &lt; unescaped
    assert m.reply_to == ("li.ming@example.net",)


# -- Chinese charsets -------------------------------------------------------------------------


def test_gbk_body_with_gb2312_encoded_subject_and_name() -> None:
    m = mail("chinese_gbk_body_gb2312_subject")
    assert m.subject == "打印机无法连接"
    assert (m.sender, m.sender_name) == ("zhangsan@example.cn", "张三")
    assert m.text == (
        "您好：\n\n三楼的打印机无法连接，显示“脱机”。请尽快处理。\n\n张三\n财务部 分机 8021"
    )
    assert (m.language, m.defects) == ("zh", ())
    assert m.date == datetime(2024, 3, 6, 2, 20, 31, tzinfo=UTC)  # 10:20:31 +0800


def test_gb18030_characters_outside_gbk_survive() -> None:
    m = mail("chinese_gb18030_8bit")
    assert m.subject == "新员工刘䶮的账号开通申请"
    assert "刘䶮" in m.text and "𠮷田" in m.text  # 䶮 and the 4-byte 𠮷 exist only in GB18030
    assert (m.sender_name, m.defects, m.language) == ("王芳", (), "zh")


def test_gb2312_label_on_gbk_only_characters_decodes_without_loss() -> None:
    m = mail("chinese_gb2312_label_gbk_chars")
    # 喆 (86 B4) is GBK, not GB2312: read as GB18030, no replacement character, no defect
    assert m.subject == "答复: [INC-000051] 李喆的账号被锁定"
    assert ticket_token(m.subject) == "INC-000051"
    assert m.sender_name == "李喆"
    # the 发件人/发送时间 block goes
    assert m.reply_text == "已经可以登录了，谢谢。\n\n李喆\n信息部"
    assert "\ufffd" not in m.text and m.defects == ()


def test_utf8_label_on_gbk_bytes_falls_back_and_says_so() -> None:
    m = mail("utf8_label_gbk_bytes")
    assert m.text == "姓名：赵敏\n部门：采购部\n问题描述：无法登录报销系统，提示密码错误。"
    assert m.defects == ("text/plain: charset 'utf-8' did not decode, decoded as gb18030",)
    assert (m.subject, m.reply_to) == ("报销系统无法登录", ("zhaomin@example.cn",))


def test_undeclared_8bit_latin_text_is_not_mistaken_for_chinese() -> None:
    m = mail("no_charset_8bit")
    assert m.subject == "Drucker im Büro defekt"  # a raw 8-bit header
    assert m.text == (
        'Hallo,\n\nder Drucker im Büro funktioniert nicht. Die Fehlermeldung lautet "Papierstau"'
        " – bitte prüfen.\n\nMit freundlichen Grüßen\nKlaus Müller"
    )
    assert m.defects == (
        "text/plain: no charset, decoded as cp1252",
        "subject: no charset, decoded as cp1252",
    )


def test_chinese_reply_with_token_and_qq_history() -> None:
    m = mail("reply_chinese_subject_token")
    assert m.subject == "回复：[INC-000042] 打印机无法连接"  # full-width colon
    assert ticket_token(m.subject) == "INC-000042"
    assert strip_subject_prefixes(m.subject) == "[INC-000042] 打印机无法连接"
    # "发自我的iPhone" and everything from "------------------ 原始邮件" on are gone
    assert m.reply_text == "打印机已经可以用了，谢谢！"
    assert survey_score(m.reply_text) is None  # the "1-5 分" was in the quoted history
    assert (m.sender_name, m.language, m.in_reply_to) == (
        "张三",
        "zh",
        ("<20240305010000.inc-000042.c0de@desk.example.org>",),
    )


# -- robots -----------------------------------------------------------------------------------


def test_dsn_bounce_names_our_message_and_the_failed_recipient() -> None:
    m = mail("dsn_bounce_rfc822_headers")
    s = m.signals
    assert (s.is_bounce, s.report_type, s.is_automatic) == (True, "delivery-status", True)
    assert s.bounced_message_id == OURS_123  # from the text/rfc822-headers part, folded there
    assert (s.bounce_recipients, s.bounce_action, s.bounce_status) == (
        ("nobody@contoso.com",),
        "failed",
        "5.1.10",
    )
    assert s.bounce_is_permanent and not s.is_out_of_office


def test_postfix_bounce_reads_the_returned_message() -> None:
    s = mail("postfix_mailer_daemon_bounce").signals
    assert s.is_bounce and s.report_type == "delivery-status"
    assert s.bounced_message_id == "<20240304090100.req-000078.a41c@desk.example.org>"
    assert (s.bounce_recipients, s.bounce_action, s.bounce_status) == (
        ("wang.wei@example.cn",),
        "failed",
        "5.7.1",
    )


def test_exim_bounce_without_a_report_uses_its_headers_and_text() -> None:
    m = mail("exim_plain_bounce_x_failed_recipients")
    s = m.signals
    assert (m.sender, s.is_bounce, s.report_type) == ("mailer-daemon@relay.example.net", True, None)
    assert s.bounce_recipients == ("li.ming@example.net",)  # X-Failed-Recipients
    # the copy of the message below the Exim line carries its Message-ID
    assert s.bounced_message_id == "<20240305122500.inc-000125.d00d@desk.example.org>"
    assert (s.bounce_action, s.bounce_status, s.bounce_is_permanent) == (None, None, True)


def test_outlook_automatic_reply_is_out_of_office() -> None:
    m = mail("out_of_office_outlook_automatic_reply")
    s = m.signals
    assert (s.is_out_of_office, s.is_bounce, s.is_automatic) == (True, False, True)
    assert (s.auto_submitted, s.auto_response_suppress) == ("auto-generated", "All")
    assert ticket_token(m.subject) == "INC-000123" and m.in_reply_to == (OURS_123,)


def test_chinese_auto_reply_is_out_of_office() -> None:
    m = mail("out_of_office_chinese_auto_reply")
    assert m.subject == "自动回复: [INC-000042] 打印机无法连接"
    assert ticket_token(m.subject) == "INC-000042"
    assert (m.signals.is_out_of_office, m.signals.auto_submitted) == (True, "auto-replied")
    assert m.text == "您好，我正在休假，3月11日返回。紧急事务请拨打分机 8021。\n此邮件为自动回复。"


def test_mailing_list_mail_is_automatic() -> None:
    s = mail("mailing_list_post").signals
    assert s.precedence == "list"
    assert s.list_id == "Ops announcements <ops-announce.lists.example.com>"
    assert s.list_unsubscribe == "<mailto:ops-announce-leave@lists.example.com>"
    assert s.is_automatic and not (s.is_bounce or s.is_out_of_office)


def test_auto_generated_notification_is_automatic_but_no_bounce() -> None:
    s = mail("auto_generated_notification").signals
    assert (s.auto_submitted, s.is_automatic, s.is_bounce, s.is_out_of_office) == (
        "auto-generated",
        True,
        False,
        False,
    )


def test_people_are_not_automatic() -> None:
    for name in ("gmail_reply", "reply_chinese_subject_token", "survey_reply_score"):
        assert not mail(name).signals.is_automatic, name


# -- surveys ----------------------------------------------------------------------------------


def test_survey_reply_score_ignores_the_quoted_scale() -> None:
    m = mail("survey_reply_score")
    assert m.reply_text == "4 - quick fix, but it took 2 days before anyone answered."
    # "4" is first; "2 days" is a count; the quoted "1 (very unhappy) to 5" is gone
    assert survey_score(m.reply_text) == 4
    assert not expresses_dissatisfaction(m.reply_text)


def test_chinese_survey_reply_with_a_complaint() -> None:
    m = mail("survey_reply_chinese_complaint")
    assert m.reply_text == "2分。等了两天才有人处理，不满意。"  # "发自我的华为手机" goes
    assert survey_score(m.reply_text) == 2
    assert expresses_dissatisfaction(m.reply_text)
    assert ticket_token(m.subject) == "INC-000042"


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5", 5),
        ("Score: 4", 4),
        ("score:3 thanks", 3),
        ("I'd say 4/5.", 4),
        ("★★★★☆", 4),
        ("⭐️⭐️⭐️⭐️⭐️ great", 5),
        ("我给4分", 4),
        ("满意度：４", 4),  # full-width digit
        ("Between 1-5 I give 3", 3),  # a range is no answer
        ("Fixed on 3/4 at 10:30, rating 2", 2),  # a date and a time are no answers
        ("took 3 days, so 4", 4),
        ("3月4日修好的，5分", 5),
        ("等了5分钟，评分2", 2),  # 5 minutes is no score
        ("4.5", None),
        ("10 out of 10", None),
        ("INC-000123 fixed", None),
        ("thanks!", None),
    ],
)
def test_survey_scores(text: str, score: int | None) -> None:
    assert survey_score(text) == score


@pytest.mark.parametrize(
    ("text", "unhappy"),
    [
        ("I am not satisfied with the answer.", True),
        ("Not really satisfied", True),
        ("I wasn't happy with how long it took", True),
        ("Terrible service.", True),
        ("I want to complain about the technician.", True),
        ("Still not working!", True),
        ("很不满意，我要投诉", True),
        ("不太满意", True),
        ("差评", True),
        ("问题还是没解决", True),
        ("Very satisfied, thanks", False),
        ("No complaints, great job", False),
        ("Not terrible at all, quick fix", False),
        ("I can't complain.", False),
        ("非常满意", False),
        ("没有投诉，谢谢", False),
        ("已解决，谢谢", False),
    ],
)
def test_dissatisfaction_is_negation_aware(text: str, unhappy: bool) -> None:
    assert expresses_dissatisfaction(text) is unhappy


# -- subjects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "token"),
    [
        ("[INC-000123] Printer", "INC-000123"),
        ("RE: AW: Fwd: [REQ-000007] laptop", "REQ-000007"),
        ("回复: 答复：转发: [PRB-000001] 根因", "PRB-000001"),
        ("WG: SV: FW: x [CHG-000042]", "CHG-000042"),
        ("Re: [inc-42] lower case", "INC-000042"),
        ("【INC-000009】全角括号", "INC-000009"),
        ("[CI-000001] not a ticket kind by default", None),
        ("INC-000123 without brackets", None),
        ("[INC-] [INC-abc] [INC-000005]", "INC-000005"),
        ("", None),
    ],
)
def test_ticket_token(subject: str, token: str | None) -> None:
    assert ticket_token(subject) == token


def test_ticket_token_with_other_prefixes() -> None:
    assert ticket_token("Re: [TKT-0042] x", prefixes=("TKT",)) == "TKT-0042"
    assert ticket_token("[INC-000001]", prefixes=()) is None


def test_strip_subject_prefixes() -> None:
    assert strip_subject_prefixes("RE: AW: Fwd: WG: SV: hello") == "hello"
    assert strip_subject_prefixes("回复：答复: 转发：你好") == "你好"
    assert strip_subject_prefixes("Re[2]: [EXT] RE: x") == "x"
    assert strip_subject_prefixes("Regarding: no prefix") == "Regarding: no prefix"


# -- charsets and headers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("big5", "印表機無法連線"),
        ("iso-2022-jp", "プリンターが動きません"),
        ("windows-1252", "naïve café – “quoted”"),
        ("gb2312", "朱镕基"),  # 镕 is GBK only
        ("GBK", "喆堃"),
        ("utf-8", "ok ✓"),
    ],
)
def test_declared_charsets_decode_without_fallback(label: str, text: str) -> None:
    data = text.encode({"gb2312": "gbk"}.get(label, label))
    assert decode_bytes(data, label) == (text, None)


@pytest.mark.parametrize("label", ["x-unknown", "utf8mb4", "base64", "zlib", "rot13", "nonsense"])
def test_unknown_or_unfit_charset_labels_fall_back(label: str) -> None:
    text, note = decode_bytes("数据".encode(), label)
    assert text == "数据"
    assert note is None if label == "utf8mb4" else note is not None


def test_codec_aliases() -> None:
    assert [codec_for(x) for x in ("GB2312", "gbk", "cp936", "x-gbk", "iso-8859-1", "")] == [
        "gb18030",
        "gb18030",
        "gb18030",
        "gb18030",
        "cp1252",
        None,
    ]


def test_encoded_words_split_inside_a_character_are_joined() -> None:
    # "打印" in GBK is B4 F2 D3 A1; split after the third byte across two encoded words
    value = "=?GBK?B?tPLT?= =?GBK?B?oQ==?= ok"
    assert decode_header_text(value) == "打印 ok"


def test_header_defects_are_recorded_not_raised() -> None:
    defects: list[str] = []
    assert decode_header_text("=?x-unknown?Q?caf=E9?=", "subject", defects) == "café"
    assert defects == ["subject: unknown charset 'x-unknown', decoded as cp1252"]


# -- not a mail -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"  \r\n\t", b"just some text\nwithout headers\n", b"X-Custom: 1\n\nno mail header"],
)
def test_bytes_that_are_no_mail_raise_mail_parse_error(raw: bytes) -> None:
    with pytest.raises(MailParseError) as raised:
        parse_message(raw)
    assert isinstance(raised.value, InputError) and raised.value.field == "message"


def test_a_broken_mail_still_parses_with_defects() -> None:
    raw = (
        b"From: =?utf-8?B?broken base64?= <A@Example.com>\r\n"
        b"Date: not a date\r\n"
        b"Content-Type: multipart/mixed; boundary=never-closed\r\n\r\n"
        b"--never-closed\r\nContent-Type: text/plain; charset=nonsense\r\n\r\n"
        b"caf\xe9\r\n"
    )
    m = parse_message(raw)
    assert (m.sender, m.date, m.text) == ("a@example.com", None, "café")
    assert "date: unreadable 'not a date'" in m.defects
    assert "CloseBoundaryNotFoundDefect" in m.defects
    assert "text/plain: unknown charset 'nonsense', decoded as cp1252" in m.defects


def test_a_forwarded_mail_is_kept_whole_as_an_attachment() -> None:
    inner = b"From: x@example.com\r\nSubject: Old problem\r\nMessage-ID: <old@x>\r\n\r\nhello\r\n"
    raw = (
        b"From: a@example.com\r\nSubject: Fw: old\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee the attached mail.\r\n"
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"--b--\r\n"
    )
    m = parse_message(raw)
    (attached,) = m.attachments
    assert (attached.filename, attached.content_type) == ("Old problem.eml", "message/rfc822")
    assert attached.data.startswith(b"From: x@example.com\nSubject: Old problem\n")
    # the line break before "--b--" belongs to the boundary (RFC 2046 5.1.1)
    assert attached.data.endswith(b"\n\nhello") and attached.size == len(attached.data)
    assert (m.text, m.signals.bounced_message_id) == ("See the attached mail.", None)


def test_unterminated_markup_is_text_and_takes_linear_time() -> None:
    # html.parser alone searches to the end again from every unterminated "<!--" or
    # "<![CDATA[": 40,000 of them took it minutes; defused, this is milliseconds
    hostile = "<!-- >" * 40_000 + "<![CDATA[>" * 40_000 + "</" * 40_000 + "<?" * 40_000
    started = time.perf_counter()
    text = html_to_text("<p>before</p>" + hostile)
    assert time.perf_counter() - started < 5
    assert text.startswith("before")
    assert html_to_text("a <b>bold</b> < c <!-- gone --> d <!-- open") == "a bold < c d"


def test_addresses_nested_too_deep_for_the_stdlib_are_picked_out() -> None:
    raw = b"From: " + b"(" * 3000 + b" Bob <Bob@Example.com>\r\nSubject: x\r\n\r\nhi\r\n"
    m = parse_message(raw)
    assert m.sender == "bob@example.com"
    assert "from: RecursionError, addresses taken by pattern" in m.defects
