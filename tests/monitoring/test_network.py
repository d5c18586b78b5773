"""Where crossline may post: URLs and addresses, without a database or a network."""

import socket

import pytest

from monitoring import network, signing


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "::1", "fe80::1", "fd00::5", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "224.0.0.1", "not-an-address",
    ],
)
def test_private_loopback_link_local_and_special_addresses_are_refused(address):
    assert not network.address_allowed(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert network.address_allowed(address)


def test_the_operator_s_networks_are_allowed_and_nothing_else():
    allowed = ["10.20.0.0/16", "fd00:1::/32"]

    assert network.address_allowed("10.20.7.7", allowed)
    assert network.address_allowed("::ffff:10.20.7.7", allowed)
    assert network.address_allowed("fd00:1::9", allowed)
    assert not network.address_allowed("10.21.0.1", allowed)
    assert not network.address_allowed("127.0.0.1", allowed)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "only https"),
        ("ftp://hooks.example.com/x", "only https"),
        ("https:///x", "names no host"),
        ("https://user:pw@hooks.example.com/x", "user name or password"),
        ("https://hooks.example.com:99999/x", "not a valid URL"),
    ],
)
def test_urls_are_https_with_a_host_and_no_credentials(url, reason):
    with pytest.raises(network.Refused, match=reason):
        network.check_url(url)


def test_http_is_accepted_only_when_allowed():
    assert network.check_url("http://mes.plant.lan:8080/in", allow_http=True).port == 8080
    with pytest.raises(network.Refused, match="only http and https"):
        network.check_url("ftp://mes.plant.lan/in", allow_http=True)


def resolver(*addresses):
    def resolve(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


def test_a_name_is_refused_if_any_of_its_addresses_is_not_public():
    assert network.resolve_allowed(
        "https://hooks.example.com/x", resolve=resolver("93.184.215.14")
    ) == ["93.184.215.14"]
    with pytest.raises(network.Refused, match="resolves to 10.0.0.8"):
        network.resolve_allowed(
            "https://hooks.example.com/x", resolve=resolver("93.184.215.14", "10.0.0.8")
        )
    assert network.resolve_allowed(
        "https://mes.plant.lan/x",
        resolve=resolver("10.0.0.8"),
        allowed_networks=["10.0.0.0/24"],
    ) == ["10.0.0.8"]


def test_a_name_that_does_not_resolve_is_refused_by_name():
    def fails(host, port, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    with pytest.raises(network.Refused, match="hooks.invalid does not resolve"):
        network.resolve_allowed("https://hooks.invalid/x", resolve=fails)


def test_a_post_to_a_loopback_listener_is_refused_before_anything_is_sent():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(network.Refused, match="connected to 127.0.0.1"):
            network.post(f"http://127.0.0.1:{port}/", b"{}", {}, timeout=2, allow_http=True)
        listener.settimeout(2)
        accepted, _ = listener.accept()  # the TCP connection was made, then closed unused
        with accepted:
            assert accepted.recv(1024) == b""


def test_signatures_verify_only_with_the_secret_and_while_fresh():
    signature = signing.sign("the-secret", "d-1", "1700000000", '{"event":"test"}')

    assert signature.startswith("v1,")
    ok = dict(delivery_id="d-1", timestamp="1700000000", body='{"event":"test"}')
    assert signing.verify("the-secret", signature=signature, now=1700000100, **ok)
    assert not signing.verify("other-secret", signature=signature, now=1700000100, **ok)
    assert not signing.verify("the-secret", signature=signature, now=1700000301, **ok)
    tampered = {**ok, "body": '{"event":"tested"}'}
    assert not signing.verify("the-secret", signature=signature, now=1700000100, **tampered)
