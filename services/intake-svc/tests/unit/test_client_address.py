"""The client address per-address limits count against: X-Forwarded-For only from trusted proxies."""

import pytest

from intake_svc.config import IntakeSettings
from intake_svc.service_layer.edge import client_address, trusted_networks

pytestmark = pytest.mark.unit

PROXIES = trusted_networks(["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No trusted proxies (the default): the header is never read.
        ("203.0.113.9", ["198.51.100.1"], (), "203.0.113.9"),
        # An untrusted peer's header is ignored, whatever it says.
        ("203.0.113.9", ["10.0.0.1, 198.51.100.1"], PROXIES, "203.0.113.9"),
        # A trusted peer: the right-most address that is no trusted proxy.
        ("10.0.0.2", ["198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.2", ["1.1.1.1, 198.51.100.1, 10.3.3.3"], PROXIES, "198.51.100.1"),  # the client's own claim (1.1.1.1) is not believed
        ("10.0.0.2", ["1.1.1.1", "198.51.100.1, 192.168.1.7"], PROXIES, "198.51.100.1"),  # several header lines, in order
        ("10.0.0.2", [], PROXIES, "10.0.0.2"),  # no header: the proxy itself
        ("10.0.0.2", ["10.1.1.1, 10.2.2.2"], PROXIES, "10.1.1.1"),  # only proxies: the left-most
        ("10.0.0.2", ["garbage, 198.51.100.1"], PROXIES, "198.51.100.1"),
        ("10.0.0.2", ["198.51.100.1, garbage"], PROXIES, "10.0.0.2"),  # the walk ends at the proxy that wrote garbage
        ("10.0.0.2", ["[2001:db9::5]:443"], PROXIES, "2001:db9::5"),
        ("10.0.0.2", ["198.51.100.1:5678"], PROXIES, "198.51.100.1"),
        ("::ffff:10.0.0.2", ["198.51.100.1"], PROXIES, "198.51.100.1"),  # an IPv4-mapped peer is its IPv4 address
        ("2001:db8::1", ["2001:db9::5"], PROXIES, "2001:db9::5"),
        ("192.168.1.8", ["198.51.100.1"], PROXIES, "192.168.1.8"),  # a single trusted address, not its neighbour
        (None, ["198.51.100.1"], PROXIES, None),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], trusted: tuple[object, ...], expected: str | None) -> None:
    assert client_address(peer, forwarded, trusted) == expected  # type: ignore[arg-type]


def test_trusted_proxies_accept_addresses_and_cidrs_only() -> None:
    assert IntakeSettings(trusted_proxies=["10.0.0.0/8", "::1"]).trusted_proxies == ["10.0.0.0/8", "::1"]
    with pytest.raises(ValueError, match="neither an IP address nor a CIDR"):
        IntakeSettings(trusted_proxies=["ingress.local"])
