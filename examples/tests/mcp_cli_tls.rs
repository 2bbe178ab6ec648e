//! `wirestate mcp --cert/--key` (a client certificate, as curl's) against
//! `wirestate serve --tls-client-ca`, which requires one its CA signed:
//! over https:// (Streamable HTTP) and wss:// (WebSocket), on every
//! runtime, in both spec eras. Without a certificate, or with one another
//! CA signed, the session is refused and the command fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;
use support::{BIN, Serve};

/// Certificates written as PEM files in a directory of their own.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(dir: &Path, name: &str, pem: &str) {
    std::fs::write(dir.join(name), pem).unwrap();
}

/// A CA (`NAME-ca.pem`) and a leaf it signed (`NAME.pem`, `NAME.key`),
/// for a server (`localhost`, `127.0.0.1`) or a client.
fn issue(dir: &Path, name: &str, server: bool) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} CA"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let names = if server {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        Vec::new()
    };
    let mut leaf = CertificateParams::new(names).unwrap();
    leaf.distinguished_name.push(DnType::CommonName, name);
    leaf.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &*ca).unwrap();
    write(dir, &format!("{name}-ca.pem"), &ca.pem());
    write(dir, &format!("{name}.pem"), &cert.pem());
    write(dir, &format!("{name}.key"), &key.serialize_pem());
}

/// In a directory of the test's own (`test`): the tests of this file run
/// at once, in one process.
fn pki(test: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!(
        "wirestate-mcp-cli-tls-{}-{test}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    issue(&dir, "server", true);
    issue(&dir, "client", false);
    issue(&dir, "stranger", false);
    Pki { dir }
}

fn mcp(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("mcp")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn show(out: &Output) -> String {
    format!(
        "{:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn client_certificates_over_https_and_wss_on_every_runtime() {
    let pki = pki("mutual");
    let server = Serve::start(&[
        "--threads",
        "1",
        "--tls-cert",
        &pki.path("server.pem"),
        "--tls-key",
        &pki.path("server.key"),
        "--tls-client-ca",
        &pki.path("client-ca.pem"),
    ]);
    let port = server.addr.port();
    let cacert = pki.path("server-ca.pem");
    let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
    let (other, other_key) = (pki.path("stranger.pem"), pki.path("stranger.key"));
    let mut failures = Vec::new();
    for runtime in ["tokio", "smol", "blocking"] {
        for scheme in ["https", "wss"] {
            let url = format!("{scheme}://127.0.0.1:{port}/mcp");
            let base = ["--runtime", runtime, "--timeout", "20", "--cacert", &cacert];
            for era in ["legacy", "2026-07-28"] {
                let mut args = base.to_vec();
                args.extend(["--era", era, "--cert", &cert, "--key", &key, &url]);
                args.extend(["call", "echo", r#"{"text": "mutual"}"#]);
                let out = mcp(&args);
                let stdout = String::from_utf8_lossy(&out.stdout);
                if !out.status.success() || !stdout.contains(r#""text": "mutual""#) {
                    failures.push(format!("{runtime} {scheme} {era}: {}", show(&out)));
                }
            }
            // Refused: no certificate, or one the server's CA did not sign.
            let mut no_cert = base.to_vec();
            no_cert.extend([url.as_str(), "list-tools"]);
            let mut stranger = base.to_vec();
            stranger.extend(["--cert", &other, "--key", &other_key, &url, "list-tools"]);
            for (what, args) in [("no certificate", no_cert), ("a stranger's", stranger)] {
                let out = mcp(&args);
                if out.status.success() || String::from_utf8_lossy(&out.stdout).contains("echo") {
                    failures.push(format!("{runtime} {scheme} {what}: {}", show(&out)));
                }
            }
        }
    }
    drop(server);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A `--cert` or `--key` that cannot be used is an error message, before
/// any connection: a missing file, a key where the certificate should be,
/// a key that is not the certificate's.
#[test]
fn unusable_client_certificates_are_refused_with_a_message() {
    let pki = pki("unusable");
    let url = "https://127.0.0.1:9/mcp";
    let runs: [(&str, [String; 4]); 3] = [
        (
            "--cert",
            [
                "--cert".into(),
                pki.path("missing.pem"),
                "--key".into(),
                pki.path("client.key"),
            ],
        ),
        (
            "no certificate",
            [
                "--cert".into(),
                pki.path("client.key"),
                "--key".into(),
                pki.path("client.key"),
            ],
        ),
        (
            "--key",
            [
                "--cert".into(),
                pki.path("client.pem"),
                "--key".into(),
                pki.path("stranger.key"),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (expect, args) in &runs {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend([url, "list-tools"]);
        let out = mcp(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || !stderr.contains(expect) || stderr.contains("panicked") {
            failures.push(format!("{args:?}: {}", show(&out)));
        }
    }
    // --key without --cert is a usage error.
    let out = mcp(&["--key", &pki.path("client.key"), url, "list-tools"]);
    if out.status.success() {
        failures.push(format!("--key alone: {}", show(&out)));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
