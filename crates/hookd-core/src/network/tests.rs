use std::net::IpAddr;

use ipnet::IpNet;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

#[test]
fn default_policy() {
    // (address, Some((category, range)) when refused)
    let cases: &[(&str, Option<(&str, &str)>)] = &[
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700::1111", None),
        ("2a00:1450:4001::200e", None),
        ("100.63.255.255", None),
        ("100.128.0.0", None),
        ("172.32.0.1", None),
        ("198.20.0.1", None),
        ("192.0.1.1", None),
        ("223.255.255.255", None),
        ("0.0.0.0", Some(("unspecified / this network", "0.0.0.0/8"))),
        ("0.1.2.3", Some(("unspecified / this network", "0.0.0.0/8"))),
        ("10.0.0.1", Some(("private", "10.0.0.0/8"))),
        ("10.255.255.255", Some(("private", "10.0.0.0/8"))),
        ("100.64.0.1", Some(("carrier-grade NAT", "100.64.0.0/10"))),
        (
            "100.127.255.255",
            Some(("carrier-grade NAT", "100.64.0.0/10")),
        ),
        ("127.0.0.1", Some(("loopback", "127.0.0.0/8"))),
        ("127.255.0.9", Some(("loopback", "127.0.0.0/8"))),
        (
            "169.254.169.254",
            Some(("link-local / cloud metadata", "169.254.0.0/16")),
        ),
        ("172.16.0.1", Some(("private", "172.16.0.0/12"))),
        ("172.31.255.255", Some(("private", "172.16.0.0/12"))),
        (
            "192.0.0.170",
            Some(("IETF protocol assignment", "192.0.0.0/24")),
        ),
        ("192.168.1.1", Some(("private", "192.168.0.0/16"))),
        ("198.18.0.1", Some(("benchmarking", "198.18.0.0/15"))),
        ("198.19.255.255", Some(("benchmarking", "198.18.0.0/15"))),
        ("224.0.0.1", Some(("multicast", "224.0.0.0/4"))),
        ("239.255.255.250", Some(("multicast", "224.0.0.0/4"))),
        ("240.0.0.1", Some(("reserved / broadcast", "240.0.0.0/4"))),
        (
            "255.255.255.255",
            Some(("reserved / broadcast", "240.0.0.0/4")),
        ),
        ("::", Some(("unspecified", "::/128"))),
        ("::1", Some(("loopback", "::1/128"))),
        ("fc00::1", Some(("unique-local", "fc00::/7"))),
        ("fd12:3456::1", Some(("unique-local", "fc00::/7"))),
        ("fe80::1", Some(("link-local", "fe80::/10"))),
        ("febf::1", Some(("link-local", "fe80::/10"))),
        ("ff02::1", Some(("multicast", "ff00::/8"))),
        ("2001:db8::1", Some(("documentation", "2001:db8::/32"))),
        // Embedded IPv4 addresses are judged as IPv4.
        ("::ffff:127.0.0.1", Some(("loopback", "127.0.0.0/8"))),
        (
            "::ffff:169.254.169.254",
            Some(("link-local / cloud metadata", "169.254.0.0/16")),
        ),
        ("::ffff:10.1.2.3", Some(("private", "10.0.0.0/8"))),
        (
            "::ffff:0.0.0.0",
            Some(("unspecified / this network", "0.0.0.0/8")),
        ),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::7f00:1", Some(("loopback", "127.0.0.0/8"))),
        ("64:ff9b::192.168.0.1", Some(("private", "192.168.0.0/16"))),
        ("64:ff9b::8.8.8.8", None),
    ];
    let policy = NetworkPolicy::default();
    for (address, expected) in cases {
        let expected = expected.map(|(category, range)| BlockedAddress {
            ip: ip(address),
            category,
            range: net(range),
        });
        assert_eq!(policy.check(ip(address)).err(), expected, "{address}");
    }
}

#[test]
fn allowed_networks_override() {
    // (allowed networks, address, allowed?)
    let cases: &[(&[&str], &str, bool)] = &[
        (&["127.0.0.0/8"], "127.0.0.1", true),
        (&["127.0.0.0/8"], "::ffff:127.0.0.1", true),
        (&["127.0.0.0/8"], "64:ff9b::7f00:1", true),
        (&["127.0.0.0/8"], "::1", false),
        (&["127.0.0.0/8"], "10.0.0.1", false),
        (&["::1/128"], "::1", true),
        (&["::1/128"], "127.0.0.1", false),
        (&["::ffff:127.0.0.1/128"], "::ffff:127.0.0.1", true),
        (&["127.0.0.1/32"], "127.0.0.2", false),
        (&["10.0.0.0/8", "192.168.1.0/24"], "192.168.1.20", true),
        (&["10.0.0.0/8", "192.168.1.0/24"], "192.168.2.20", false),
        (&["169.254.169.254/32"], "169.254.169.254", true),
        (&["fd00::/8"], "fd12::1", true),
        (&["fd00::/8"], "fc12::1", false),
        (&["0.0.0.0/0", "::/0"], "::1", true),
        (&["0.0.0.0/0"], "fe80::1", false),
        (&[], "8.8.8.8", true),
    ];
    for (allowed, address, expected) in cases {
        let policy = NetworkPolicy::new(allowed.iter().copied().map(net).collect());
        assert_eq!(
            policy.check(ip(address)).is_ok(),
            *expected,
            "{address} with {allowed:?}"
        );
    }
}

#[test]
fn refusal_says_how_to_allow() {
    let error = NetworkPolicy::default()
        .check(ip("::ffff:127.0.0.1"))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("refused ::ffff:127.0.0.1: loopback address (127.0.0.0/8)"),
        "{message}"
    );
    assert!(
        message.contains("--allow-private-network 127.0.0.0/8"),
        "{message}"
    );
    // Following the advice works.
    let policy = NetworkPolicy::new(parse_allow_list(&error.range.to_string()).unwrap());
    assert_eq!(policy.check(error.ip), Ok(()));
}

#[test]
fn allow_lists() {
    let check = |text: &str, expected: Result<&[&str], &str>| {
        let expected = expected
            .map(|nets| nets.iter().copied().map(net).collect::<Vec<_>>())
            .map_err(str::to_owned);
        assert_eq!(parse_allow_list(text), expected, "{text:?}");
    };
    check("", Ok(&[]));
    check(" , ", Ok(&[]));
    check("127.0.0.0/8,::1/128", Ok(&["127.0.0.0/8", "::1/128"]));
    check("127.0.0.0/8, ::1", Ok(&["127.0.0.0/8", "::1/128"]));
    check(
        "10.0.0.0/8 192.168.0.0/16\n172.16.0.0/12",
        Ok(&["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"]),
    );
    check("127.0.0.1", Ok(&["127.0.0.1/32"]));
    check("10.1.2.3/8", Ok(&["10.0.0.0/8"]));
    check("fd00::1/8", Ok(&["fd00::/8"]));
    check(
        "127.0.0.0/8,localhost",
        Err(
            r#"invalid network "localhost" in allow list: expected a CIDR such as 10.0.0.0/8 or an IP address"#,
        ),
    );
    check(
        "10.0.0.0/33",
        Err(
            r#"invalid network "10.0.0.0/33" in allow list: expected a CIDR such as 10.0.0.0/8 or an IP address"#,
        ),
    );
    check(
        "10.0.0/8",
        Err(
            r#"invalid network "10.0.0/8" in allow list: expected a CIDR such as 10.0.0.0/8 or an IP address"#,
        ),
    );
}
