"""sealpost dns DOMAIN against a DNS world of our own (dnsworld.py): nsd
serving a DNSSEC-signed zone (example.) and an unsigned one (example.net.),
behind a front that answers SERVFAIL or nothing for chosen names."""
import re
import time

import pytest

from conftest import run_cli
from dnsworld import DnsWorld, Zone

TLSA_EE = "3 1 1 " + "a1" * 32          # DANE-EE SPKI SHA2-256: usable
TLSA_PKIX = "1 1 1 " + "b2" * 32        # PKIX-EE: unusable for SMTP

SIGNED = Zone("example.", signed=True, records=f"""
    @               MX   20 mx2
    @               MX   10 mx1
    @               MX   20 mx3
    @               MX   30 mx5
    mx1             A    127.0.0.11
    mx1             AAAA 2001:db8::11
    _25._tcp.mx1    TLSA {TLSA_EE}
    mx2             A    127.0.0.12
    _25._tcp.mx2    TLSA {TLSA_PKIX}
    mx3             A    127.0.0.13
    nomx            A    127.0.0.20
    nomx            TXT  "no MX here"
    onlytxt         TXT  "neither MX nor address"
    nullmx          MX   0 .
    bad             MX   10 mx1
    tlsabad         MX   10 mx4
    tlsabad         MX   20 mx3
    mx4             A    127.0.0.14
    _25._tcp.mx4    TLSA {TLSA_EE}
    ghostly         MX   10 ghost
    tlsafail        MX   10 mx6
    mx6             A    127.0.0.16
    _25._tcp.mx6    TLSA {TLSA_EE}
""", bogus=["bad MX", "_25._tcp.mx4 TLSA"])

UNSIGNED = Zone("example.net.", records=f"""
    @               MX   10 mx
    mx              A    127.0.0.30
    mx              AAAA 2001:db8::30
    _25._tcp.mx     TLSA {TLSA_EE}
    sf              MX   10 mx
    slow            MX   10 mx
    hostfail        MX   10 mxsf
    hostfail        MX   20 mx
    mxsf            A    127.0.0.31
""")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("dnsworld")
    w = DnsWorld(root / "dns", [SIGNED, UNSIGNED],
                 servfail=["sf.example.net", "mxsf.example.net A",
                           "mxsf.example.net AAAA", "_25._tcp.mx6.example TLSA"],
                 drop=["slow.example.net"])
    conf = root / "sealpost.conf"
    conf.write_text(w.outbound_conf())
    w.conf = conf
    yield w
    w.stop()


def dns(world, domain, *args):
    return run_cli("dns", domain, "-c", world.conf, *args, timeout=60)


def host_block(out, host):
    """The lines of one MX host: its line and the indented ones below."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"^  \d+ {re.escape(host)}( |$)", line):
            block = [line]
            for more in lines[i + 1:]:
                if not more.startswith("    "):
                    break
                block.append(more)
            return block
    raise AssertionError(f"no MX host {host} in:\n{out}")


def mx_hosts(out):
    return [m.group(2) for m in re.finditer(r"^  (\d+) (\S+)", out, re.M)]


def test_mx_order_addresses_and_dane(world):
    r = dns(world, "example")
    assert r.rc == 0, r
    assert r.err == ""
    lines = r.out.splitlines()
    # The world's anchor covers example., not the root: the check of the
    # resolver ("." DNSKEY, which nsd refuses) cannot tell.
    assert lines[0] == (f"dnssec: on, trust anchor {world.trust_anchor}; the "
                        "resolver's DNSSEC is unchecked: no root DNSKEY (SERVFAIL)")
    assert lines[1] == "example MX secure"
    hosts = mx_hosts(r.out)
    assert hosts[0] == "mx1.example"
    assert set(hosts[1:3]) == {"mx2.example", "mx3.example"}
    assert hosts[3] == "mx5.example"
    # Both families, IPv6 first, each line marked.
    assert host_block(r.out, "mx1.example") == [
        "  10 mx1.example secure",
        "    AAAA 2001:db8::11 secure",
        "    A    127.0.0.11 secure",
        f"    TLSA _25._tcp.mx1.example {TLSA_EE} secure",
        "    DANE usable: 1 of 1 TLSA records",
    ]
    mx2 = host_block(r.out, "mx2.example")
    assert mx2[1:3] == ["    A    127.0.0.12 secure",
                        "    AAAA none (no data) secure"]
    assert ("    TLSA _25._tcp.mx2.example 1 1 1 " + "b2" * 32 +
            " secure (unusable: PKIX usage, not for SMTP (RFC 7672 3.1.3))") in mx2
    assert mx2[-1].startswith("    DANE unusable: no usable TLSA record; TLS required")
    mx3 = host_block(r.out, "mx3.example")
    assert "    TLSA none (NXDOMAIN) secure" in mx3
    assert mx3[-1] == "    DANE none: TLS as without DANE"
    # mx5 does not exist: the proven denial is shown, the host is skipped.
    mx5 = host_block(r.out, "mx5.example")
    assert "    A    none (NXDOMAIN) secure" in mx5
    assert "    TLSA not looked up: no address" in mx5
    # What delivery would do: the hosts in order, the one without an
    # address left out.
    assert re.fullmatch(
        r"outbound: deliver to mx1\.example \(DANE\), then "
        r"(mx2\.example \(TLS required, DANE unusable\), then mx3\.example|"
        r"mx3\.example, then mx2\.example \(TLS required, DANE unusable\))",
        lines[-1]), lines[-1]


def test_equal_preferences_in_random_order(world):
    orders = set()
    for _ in range(20):
        r = dns(world, "example")
        assert r.rc == 0, r
        hosts = mx_hosts(r.out)
        assert hosts[0] == "mx1.example" and hosts[3] == "mx5.example"
        orders.add(tuple(hosts[1:3]))
        if len(orders) == 2:
            break
    assert orders == {("mx2.example", "mx3.example"),
                      ("mx3.example", "mx2.example")}


def test_implicit_mx(world):
    r = dns(world, "nomx.example")
    assert r.rc == 0, r
    assert "nomx.example MX secure" in r.out
    assert host_block(r.out, "nomx.example")[:3] == [
        "  0 nomx.example (implicit MX, RFC 5321 5.1) secure",
        "    A    127.0.0.20 secure",
        "    AAAA none (no data) secure",
    ]
    assert r.out.splitlines()[-1] == "outbound: deliver to nomx.example"


def test_no_mx_and_no_address_bounces(world):
    r = dns(world, "onlytxt.example")
    assert r.rc == 0, r
    assert r.out.splitlines()[-1] == ("outbound: bounce: onlytxt.example has no "
                                      "MX and no address (RFC 5321 5.1)")


def test_mx_host_without_address_bounces(world):
    r = dns(world, "ghostly.example")
    assert r.rc == 0, r
    assert "    A    none (NXDOMAIN) secure" in host_block(r.out, "ghost.example")
    assert r.out.splitlines()[-1] == ("outbound: bounce: no MX host of "
                                      "ghostly.example has an address")


def test_null_mx(world):
    r = dns(world, "nullmx.example")
    assert r.rc == 0, r
    assert r.out.splitlines()[1:] == [
        "nullmx.example MX secure",
        "  null MX (RFC 7505)",
        "outbound: bounce: nullmx.example accepts no mail (null MX, RFC 7505)",
    ]
    # No host, so no address was asked for "." (only its DNSKEY, by the
    # check of the resolver).
    assert {q[1] for q in world.asked(".")} <= {"DNSKEY"}


def test_unsigned_zone_is_insecure(world):
    r = dns(world, "example.net")
    assert r.rc == 0, r
    assert "example.net MX insecure" in r.out
    # RFC 7672 2.2.2: insecure addresses, so TLSA is not even asked.
    assert host_block(r.out, "mx.example.net") == [
        "  10 mx.example.net insecure",
        "    AAAA 2001:db8::30 insecure",
        "    A    127.0.0.30 insecure",
        "    TLSA not looked up: the addresses are insecure (RFC 7672 2.2.2)",
        "    DANE none: TLS as without DANE",
    ]
    assert r.out.splitlines()[-1] == "outbound: deliver to mx.example.net"
    assert world.asked("_25._tcp.mx.example.net", "TLSA") == []
    # --all-tlsa shows the records, which change nothing.
    r = dns(world, "example.net", "--all-tlsa")
    assert r.rc == 0, r
    assert host_block(r.out, "mx.example.net")[3:] == [
        "    TLSA _25._tcp.mx.example.net 3 1 1 " + "a1" * 32 + " insecure",
        "    DANE none: TLS as without DANE",
    ]
    assert r.out.splitlines()[-1] == "outbound: deliver to mx.example.net"
    assert world.asked("_25._tcp.mx.example.net", "TLSA")


def test_bogus_mx_is_a_failure(world):
    r = dns(world, "bad.example")
    assert r.rc == 1
    assert r.out == ""
    assert re.fullmatch(
        r"sealpost: bad\.example: MX answer is bogus \(validation failure "
        r"<bad\.example\. MX IN>: .*\): mail would be deferred\n", r.err), r.err


def test_bogus_tlsa_makes_the_host_unusable(world):
    r = dns(world, "tlsabad.example")
    assert r.rc == 0, r
    mx4 = host_block(r.out, "mx4.example")
    assert "    A    127.0.0.14 secure" in mx4
    assert any(re.fullmatch(r"    TLSA bogus \(validation failure "
                            r"<_25\._tcp\.mx4\.example\. TLSA IN>: .*\)", line)
               for line in mx4), mx4
    assert mx4[-1].startswith("    DANE failed: the TLSA lookup failed; this "
                              "host is not tried")
    # RFC 7672 2.1.1: no fallback to mx4 without DANE; mx3 is next.
    assert r.out.splitlines()[-1] == "outbound: deliver to mx3.example"


def test_tlsa_servfail_defers_when_no_other_host(world):
    r = dns(world, "tlsafail.example")
    assert r.rc == 0, r
    assert "    TLSA failed (SERVFAIL)" in host_block(r.out, "mx6.example")
    assert r.out.splitlines()[-1] == (
        "outbound: defer: no MX host usable now: mx6.example: TLSA lookup "
        "failed (SERVFAIL), DANE forbids trying the host without it")


def test_nxdomain(world):
    r = dns(world, "nowhere.example")
    assert (r.rc, r.out) == (1, "")
    assert r.err == ("sealpost: nowhere.example: the domain does not exist "
                     "(NXDOMAIN, secure): mail would bounce\n")
    r = dns(world, "nowhere.example.net")
    assert (r.rc, r.out) == (1, "")
    assert r.err == ("sealpost: nowhere.example.net: the domain does not exist "
                     "(NXDOMAIN, insecure): mail would bounce\n")


def test_servfail(world):
    r = dns(world, "sf.example.net")
    assert (r.rc, r.out) == (1, "")
    assert r.err == ("sealpost: sf.example.net: MX lookup failed (SERVFAIL): "
                     "mail would be deferred\n")
    assert world.asked("sf.example.net", "MX")


def test_servfail_of_one_host_falls_back(world):
    r = dns(world, "hostfail.example.net")
    assert r.rc == 0, r
    mxsf = host_block(r.out, "mxsf.example.net")
    assert "    AAAA failed (SERVFAIL)" in mxsf
    assert "    A    failed (SERVFAIL)" in mxsf
    assert r.out.splitlines()[-1] == "outbound: deliver to mx.example.net"


def test_timeout(world):
    start = time.monotonic()
    r = dns(world, "slow.example.net", "--timeout", "2")
    took = time.monotonic() - start
    assert (r.rc, r.out) == (1, "")
    assert r.err.startswith("sealpost: slow.example.net: MX lookup failed (")
    assert r.err.endswith("): mail would be deferred\n")
    assert took < 10
    assert world.asked("slow.example.net", "MX")


def test_local_zone_not_asked(world):
    """libunbound answers .test itself (RFC 6761): the world never hears."""
    r = dns(world, "mail.example.test")
    assert r.rc == 1
    assert "the domain does not exist (NXDOMAIN" in r.err
    assert world.asked("mail.example.test") == []


def test_bad_input(world, tmp_path):
    r = dns(world, "exa mple")
    assert r.rc == 2
    assert r.err.startswith("sealpost: 'exa mple' is not a valid domain name\n")
    r = dns(world, "example", "--timeout", "0")
    assert r.rc == 2
    r = dns(world, "example", "--port", "70000")
    assert r.rc == 2
    conf = tmp_path / "missing-anchor.conf"
    conf.write_text(f"[outbound]\nresolver = {world.address}\n"
                    "trust_anchor = anchors/none.key\n")
    r = run_cli("dns", "example", "-c", conf)
    assert (r.rc, r.out) == (1, "")
    assert r.err == (f"sealpost: trust_anchor {tmp_path}/anchors/none.key: "
                     "No such file or directory\n")
    garbage = tmp_path / "garbage.key"
    garbage.write_text("this is no trust anchor\n")
    conf.write_text(f"[outbound]\nresolver = {world.address}\n"
                    f"trust_anchor = {garbage}\n")
    r = run_cli("dns", "example", "-c", conf)
    assert (r.rc, r.out) == (1, "")
    assert r.err.startswith(f"sealpost: trust_anchor {garbage}: ")
    assert r.err.count("\n") == 1
    conf.write_text("[outbound]\nresolver = ns.example.org\n")
    r = run_cli("dns", "example", "-c", conf)
    assert r.rc == 1
    assert r.err == (f"sealpost: {conf}:2: resolver: 'ns.example.org': not a "
                     "numeric IPv4 address\n")


def test_without_anchor_nothing_is_secure(dns_world, tmp_path):
    """The same signed zone, but sealpost has no anchor for it: insecure,
    and DANE does not apply."""
    w = dns_world([SIGNED])
    conf = tmp_path / "s.conf"
    empty = tmp_path / "empty.key"
    empty.write_text("")
    conf.write_text(f"[outbound]\nresolver = {w.address}\n"
                    f"trust_anchor = {empty}\n")
    r = run_cli("dns", "example", "-c", conf, "--all-tlsa")
    assert r.rc == 0, r
    assert "example MX insecure" in r.out
    mx1 = host_block(r.out, "mx1.example")
    assert "    A    127.0.0.11 insecure" in mx1
    assert f"    TLSA _25._tcp.mx1.example {TLSA_EE} insecure" in mx1
    assert "DANE usable" not in r.out
    assert r.out.splitlines()[-1].startswith("outbound: deliver to mx1.example, then")


# A signed root zone of the world's own: its anchor covers the root, so the
# resolver's check (". DNSKEY") means something.
ROOT = Zone(".", signed=True, records=f"""
    example.              MX   10 mx.example.
    mx.example.           A    127.0.0.11
    _25._tcp.mx.example.  TLSA {TLSA_EE}
""")
STRIPPED = (r"the resolver passes no DNSSEC \(the root's DNSKEY is bogus: "
            r"validation failure <\. DNSKEY IN>: [^\n]+\)")


def root_world(dns_world, tmp_path, strip, extra="", delay=()):
    w = dns_world([ROOT], strip_dnssec=strip, delay=delay)
    conf = tmp_path / "root.conf"
    conf.write_text(w.outbound_conf() + extra)
    return w, conf


def test_resolver_passing_dnssec_is_checked(dns_world, tmp_path):
    w, conf = root_world(dns_world, tmp_path, strip=False)
    r = run_cli("dns", "example", "-c", conf)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == f"dnssec: on, trust anchor {w.trust_anchor}"
    assert lines[1] == "example MX secure"
    assert "    DANE usable: 1 of 1 TLSA records" in r.out
    assert r.out.splitlines()[-1] == "outbound: deliver to mx.example (DANE)"
    assert w.asked("", "DNSKEY")


@pytest.mark.parametrize("delay", [(), (". DNSKEY",), ("example MX",)],
                         ids=["", "late-root-key", "late-mx"])
def test_resolver_stripping_dnssec_turns_validation_off(dns_world, tmp_path, delay):
    """A server that drops the signatures would make every signed answer
    bogus, and mail to every signed domain wait for nothing: validation goes
    off (as Postfix without a validating resolver: no DANE), and says so.
    With the root's key late, the MX answer is held (bogus) until the check
    answers; with the MX late, it is still running when validation goes
    off."""
    w, conf = root_world(dns_world, tmp_path, strip=True, delay=delay)
    r = run_cli("dns", "example", "-c", conf, "--all-tlsa")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert re.fullmatch(rf"dnssec: off: {STRIPPED}; set \[outbound\] resolver "
                        r"to one that does, or dnssec = require", lines[0]), lines[0]
    assert lines[1] == "example MX insecure"
    mx = host_block(r.out, "mx.example")
    assert mx[0] == "  10 mx.example insecure"
    assert "    A    127.0.0.11 insecure" in mx
    assert mx[-2:] == [f"    TLSA _25._tcp.mx.example {TLSA_EE} insecure",
                       "    DANE none: TLS as without DANE"]
    assert lines[-1] == "outbound: deliver to mx.example"
    # The MX lookup started with the check, on the validating context: it
    # was held (bogus) or still running when validation went off, and was
    # asked again on the new context.
    assert len(w.asked("example", "MX")) >= 2, w.queries
    assert w.asked("", "DNSKEY")


def test_dnssec_require_keeps_validation(dns_world, tmp_path):
    w, conf = root_world(dns_world, tmp_path, strip=True,
                         extra="dnssec = require\n")
    r = run_cli("dns", "example", "-c", conf)
    assert r.rc == 1, r
    assert r.out == ""
    assert re.fullmatch(
        r"sealpost: example: MX answer is bogus \(validation failure "
        r"<example\. MX IN>: [^\n]+\): mail would be deferred \(the resolver "
        r"passes no DNSSEC: the root's DNSKEY is bogus: validation failure "
        r"<\. DNSKEY IN>: [^\n]+\)\n", r.err), r.err
