use super::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};

/// A CA and a leaf it signed: (CA PEM, leaf DER, leaf PEM, leaf key PEM).
fn issue(params: CertificateParams) -> (String, Vec<u8>, String, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (
        ca.pem(),
        cert.der().to_vec(),
        cert.pem(),
        key.serialize_pem(),
    )
}

/// The subject in RFC 4514's order and escaping; its SANs by kind.
/// Expected strings: RFC 4514 section 4's examples ("CN=Steve
/// Kille,O=Isode Limited,C=GB": the last RDN first; "CN=L. Eagle,O=Sue\,
/// Grabbit and Runn,C=GB": a comma escaped).
#[test]
fn identity_is_the_subject_dn_most_specific_first_and_the_sans() {
    let mut p = CertificateParams::new(vec!["billing.internal".to_string()]).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CountryName, "GB");
    p.distinguished_name
        .push(DnType::OrganizationName, "Sue, Grabbit and Runn");
    p.distinguished_name.push(DnType::CommonName, "L. Eagle");
    p.subject_alt_names.push(SanType::URI(
        "spiffe://example.org/billing".try_into().unwrap(),
    ));
    let (_, der, _, _) = issue(p);
    let id = ClientIdentity::from_der(&der).unwrap();
    assert_eq!(id.subject, r"CN=L. Eagle,O=Sue\, Grabbit and Runn,C=GB");
    assert_eq!(id.common_name.as_deref(), Some("L. Eagle"));
    assert_eq!(id.dns_names, ["billing.internal"]);
    assert_eq!(id.uris, ["spiffe://example.org/billing"]);
}

/// RFC 4514 2.4: a leading '#' or space, a trailing space, and '+', ';',
/// '<', '>', '"', '\' are escaped; a type without a short name is its
/// dotted OID with the value's BER in hex.
#[test]
fn special_characters_are_escaped_and_unnamed_types_are_hex() {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    // serialNumber (2.5.4.5) has no short name in RFC 4514 section 3.
    p.distinguished_name.push(
        DnType::CustomDnType(vec![2, 5, 4, 5]),
        rcgen::DnValue::PrintableString("42".try_into().unwrap()),
    );
    // A '#' or space elsewhere is an ordinary character.
    p.distinguished_name.push(DnType::OrganizationName, "x#y z");
    p.distinguished_name
        .push(DnType::CommonName, "#a+b;c<d>\"e\\ ");
    let (_, der, _, _) = issue(p);
    let id = ClientIdentity::from_der(&der).unwrap();
    // PrintableString (tag 0x13), length 2, "42".
    assert_eq!(
        id.subject,
        r#"CN=\#a\+b\;c\<d\>\"e\\\ ,O=x#y z,2.5.4.5=#13023432"#
    );
    assert!(id.dns_names.is_empty() && id.uris.is_empty());
}

/// RFC 4514 2.2: the values of a multi-valued RDN joined by '+', in the
/// order OpenSSL prints them (the RFC allows any), so that an operator can
/// copy a `cert_subject` from it. rcgen can't issue such a certificate;
/// this one was made with `openssl req -x509 -subj
/// "/O=Example/CN=billing+UID=svc-7" -multivalue-rdn`, and the expected DN
/// is what `openssl x509 -noout -subject -nameopt RFC2253` prints for it.
#[test]
fn a_multi_valued_rdn_is_joined_by_plus() {
    let pem = include_bytes!("multi_valued_rdn.pem");
    let der = CertificateDer::from_pem_slice(pem).unwrap();
    let id = ClientIdentity::from_der(&der).unwrap();
    assert_eq!(id.subject, "UID=svc-7+CN=billing,O=Example");
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(ClientIdentity::from_der(b"not a certificate").is_err());
    assert!(ClientIdentity::from_der(&[]).is_err());
}

/// A directory of this test's own, with files written into it.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("entrust-gw-tls-unit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn keys_in(d: &Path, ca: bool) -> TlsConfig {
    TlsConfig {
        cert_file: d.join("cert.pem"),
        key_file: d.join("key.pem"),
        client_ca_file: ca.then(|| d.join("ca.pem")),
        ..TlsConfig::default()
    }
}

fn write_pki(d: &Path) -> String {
    let (ca, _, cert, key) = issue(CertificateParams::new(vec!["localhost".into()]).unwrap());
    std::fs::write(d.join("cert.pem"), cert).unwrap();
    std::fs::write(d.join("key.pem"), key).unwrap();
    std::fs::write(d.join("ca.pem"), &ca).unwrap();
    ca
}

/// Each wrong file is refused with its key and path, never its content.
#[test]
fn each_bad_file_is_named_by_its_key() {
    let d = dir("bad");
    write_pki(&d);
    assert!(Inbound::new(&keys_in(&d, true)).unwrap().mutual());

    let missing = TlsConfig {
        cert_file: d.join("nope.pem"),
        ..keys_in(&d, false)
    };
    let e = Inbound::new(&missing).err().unwrap().0;
    assert!(
        e.starts_with("server.tls.cert_file: ") && e.contains("nope.pem"),
        "{e}"
    );

    // A key from another pair: rustls checks it against the certificate.
    let other = KeyPair::generate().unwrap().serialize_pem();
    std::fs::write(d.join("key.pem"), &other).unwrap();
    let e = Inbound::new(&keys_in(&d, false)).err().unwrap().0;
    assert!(
        e.starts_with("server.tls.key_file: ") && e.contains("does not match"),
        "{e}"
    );
    assert!(!e.contains("PRIVATE KEY"), "{e}");

    // The certificate where the key should be.
    let cert = std::fs::read(d.join("cert.pem")).unwrap();
    std::fs::write(d.join("key.pem"), &cert).unwrap();
    let e = Inbound::new(&keys_in(&d, false)).err().unwrap().0;
    assert!(e.starts_with("server.tls.key_file: "), "{e}");

    write_pki(&d);
    std::fs::write(d.join("ca.pem"), "not pem").unwrap();
    let e = Inbound::new(&keys_in(&d, true)).err().unwrap().0;
    assert!(e.starts_with("server.tls.client_ca_file: "), "{e}");
}

/// A bad new key is refused and the old config kept; the failed files are
/// not tried again at every poll, but a further change is.
#[test]
fn a_bad_reload_keeps_the_config_in_use() {
    let d = dir("reload");
    write_pki(&d);
    let inbound = Inbound::new(&keys_in(&d, false)).unwrap();
    let before = inbound.current();
    assert!(!inbound.changed_on_disk());
    assert!(!inbound.reload().unwrap(), "the same files: unchanged");

    std::fs::write(d.join("key.pem"), "garbage").unwrap();
    assert!(inbound.changed_on_disk());
    let e = inbound.reload().unwrap_err().0;
    assert!(e.starts_with("server.tls.key_file: "), "{e}");
    assert!(Arc::ptr_eq(&before, &inbound.current()));
    assert!(
        !inbound.changed_on_disk(),
        "a failed version is not retried"
    );

    write_pki(&d);
    assert!(inbound.changed_on_disk());
    assert!(inbound.reload().unwrap());
    assert!(!Arc::ptr_eq(&before, &inbound.current()));
    assert!(!inbound.changed_on_disk());
}

#[test]
fn the_config_keys_are_checked() {
    let ok = keys_in(Path::new("/x"), true);
    assert!(ok.validate().is_ok());
    let e = TlsConfig::default().validate().unwrap_err().0;
    assert!(e.starts_with("server.tls.cert_file: "), "{e}");
    let e = TlsConfig { poll_ms: 0, ..ok }.validate().unwrap_err().0;
    assert!(e.starts_with("server.tls.poll_ms: "), "{e}");
}
