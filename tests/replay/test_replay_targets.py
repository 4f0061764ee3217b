"""The consumer URL guard: metadata and link-local refused in every spelling, names resolved once,
allow and deny lists."""

from __future__ import annotations

import pytest

from dashboard.replay.delivery import Sender
from dashboard.replay.targets import Policy, TargetRefused, check_url, parse_ipv4_number_form

OPEN = Policy(frozenset(), (), frozenset(), ())


def resolver_for(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254:80/",
        "http://2852039166/",  # decimal
        "http://0xa9fea9fe/",  # hex
        "http://0xA9.0xFE.0xA9.0xFE/",  # dotted hex
        "http://0251.0376.0251.0376/",  # dotted octal
        "http://169.254.43518/",  # short form
        "http://169.254.169.254./",  # trailing dot
        "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
        "http://[::ffff:a9fe:a9fe]/",  # the same, in hex
        "http://[::169.254.169.254]/",  # IPv4-compatible IPv6
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
        "http://[2002:a9fe:a9fe::1]/",  # 6to4
        "http://[fe80::1]/",  # IPv6 link-local
        "http://[fe80::1%25eth0]/",  # with a zone
        "http://[febf:ffff::1]/",  # still fe80::/10
        "http://[fd00:ec2::254]/",  # AWS metadata over IPv6
        "http://100.100.100.200/",  # Alibaba Cloud metadata
        "http://192.0.0.192/",  # Oracle Cloud metadata
        "http://169.254.1.1/",  # anywhere in 169.254.0.0/16
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0:8000/",
        "http://224.0.0.1/",
    ],
)
def test_link_local_and_metadata_addresses_are_refused_in_every_spelling(url):
    with pytest.raises(TargetRefused):
        check_url(url, resolver=resolver_for({}), policy=OPEN)


def test_a_hostname_that_resolves_to_a_metadata_address_is_refused():
    resolve = resolver_for({"innocent.example": ["203.0.113.7", "169.254.169.254"]})
    with pytest.raises(TargetRefused, match=r"169\.254"):
        check_url("https://innocent.example/hook", resolver=resolve, policy=OPEN)


def test_a_hostname_that_resolves_to_ipv6_link_local_is_refused():
    resolve = resolver_for({"v6.example": ["fe80::abcd"]})
    with pytest.raises(TargetRefused):
        check_url("http://v6.example/", resolver=resolve, policy=OPEN)


def test_a_good_name_is_pinned_to_the_address_that_was_checked():
    resolve = resolver_for({"consumer.example": ["203.0.113.7"]})
    target = check_url("https://consumer.example:8443/in?x=1", resolver=resolve, policy=OPEN)
    assert (target.address, target.host, target.port, target.path) == (
        "203.0.113.7",
        "consumer.example",
        8443,
        "/in?x=1",
    )
    assert target.host_header == "consumer.example:8443"


def test_loopback_and_private_addresses_are_allowed_by_default():
    for url in ("http://127.0.0.1:9000/", "http://[::1]:9000/", "http://10.1.2.3/", "http://localhost:9000/"):
        check_url(url, resolver=resolver_for({"localhost": ["127.0.0.1"]}), policy=OPEN)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "file:///etc/passwd", "http://user:pw@127.0.0.1/", "http:///nohost", "not a url", ""]
)
def test_malformed_or_unsupported_urls_are_refused(url):
    with pytest.raises(TargetRefused):
        check_url(url, resolver=resolver_for({}), policy=OPEN)


def test_the_deny_list_takes_hosts_domains_and_cidrs(settings):
    settings.EVENTSCOPE_CONSUMER_DENY = ["10.0.0.0/8", ".internal.example", "blocked.example"]
    resolve = resolver_for({"a.internal.example": ["198.51.100.1"], "blocked.example": ["198.51.100.2"],
                            "ok.example": ["198.51.100.3"], "sneaky.example": ["10.9.9.9"]})  # fmt: skip
    for url in ("http://10.1.1.1/", "http://a.internal.example/", "http://blocked.example/", "http://sneaky.example/"):
        with pytest.raises(TargetRefused, match="DENY"):
            check_url(url, resolver=resolve)
    check_url("http://ok.example/", resolver=resolve)


def test_the_deny_list_can_refuse_loopback(settings):
    settings.EVENTSCOPE_CONSUMER_DENY = ["127.0.0.0/8", "::1/128"]
    with pytest.raises(TargetRefused):
        check_url("http://127.0.0.1:9000/")
    with pytest.raises(TargetRefused):
        check_url("http://0x7f000001:9000/")  # the same address, spelt in hex
    with pytest.raises(TargetRefused):
        check_url("http://[::ffff:127.0.0.1]:9000/")


def test_an_allow_list_refuses_everything_it_does_not_list(settings):
    settings.EVENTSCOPE_CONSUMER_ALLOW = ["hooks.example", "192.168.0.0/16"]
    resolve = resolver_for({"hooks.example": ["203.0.113.9"], "other.example": ["203.0.113.10"]})
    check_url("https://hooks.example/", resolver=resolve)
    check_url("http://192.168.1.20/", resolver=resolve)
    with pytest.raises(TargetRefused, match="ALLOW"):
        check_url("https://other.example/", resolver=resolve)
    with pytest.raises(TargetRefused, match="ALLOW"):
        check_url("http://127.0.0.1/", resolver=resolve)


def test_the_allow_list_never_opens_the_metadata_address(settings):
    settings.EVENTSCOPE_CONSUMER_ALLOW = ["169.254.0.0/16"]
    with pytest.raises(TargetRefused):
        check_url("http://169.254.169.254/")


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("017700000001", "127.0.0.1"),
     ("10.0.258", "10.0.1.2"), ("example", None), ("1.2.3.4.5", None), ("256.1.1.1", None)],
)  # fmt: skip
def test_ipv4_number_forms_are_read_as_a_resolver_reads_them(text, address):
    parsed = parse_ipv4_number_form(text)
    assert (str(parsed) if parsed else None) == address


def test_the_sender_refuses_at_delivery_time_a_name_that_now_resolves_to_metadata():
    # Saved while it resolved somewhere harmless; at delivery it resolves to the metadata service.
    answers = {"flip.example": ["127.0.0.1"]}
    check_url("http://flip.example:9/", resolver=resolver_for(answers), policy=OPEN)
    answers["flip.example"] = ["169.254.169.254"]
    outcome = Sender(resolver=resolver_for(answers)).send("http://flip.example:9/", b"{}", {})
    assert outcome.kind == "permanent" and "refused" in outcome.error and outcome.status is None
