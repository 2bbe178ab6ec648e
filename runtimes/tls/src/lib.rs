//! The rustls configuration the wirestate runtime adapters share: the
//! crypto provider, client and server configs, root certificates (the
//! Mozilla roots, or PEM files), the server's certificate and key from PEM
//! files, client certificates (mutual TLS: a server that requires or
//! accepts them, a client that presents one), server names for DNS names
//! and IP literals, and the ALPN ids.
//!
//! The streams themselves live with each runtime — `wirestate_rt::tls`
//! (an async `TlsIo` for tokio and smol, re-exporting this crate) and
//! `wirestate_blocking::tls` (over `std::net`) — since how a TLS stream
//! waits is the runtime's business; what it is configured with is not.
//! Nothing here touches a socket; the PEM helpers read files.
//!
//! ```
//! use wirestate_tls as tls;
//! // A client trusting the Mozilla roots that offers HTTP/2, then HTTP/1.1.
//! let config = tls::client_config(tls::webpki_roots(), tls::ALPN);
//! assert_eq!(config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
//! let name = tls::server_name("[::1]").unwrap();
//! # let _ = name;
//! ```

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use rustls;

/// ALPN id of HTTP/2 over TLS (RFC 9113 §3.2).
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN id of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
/// What a server that speaks both offers, HTTP/2 first.
pub const ALPN: &[&[u8]] = &[ALPN_H2, ALPN_HTTP1];

/// The cryptography every config of this crate uses: rustls' default
/// provider (aws-lc-rs, post-quantum key exchange preferred), given
/// explicitly so that nothing depends on a process-wide default being
/// installed (or on two providers being linked in).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The Mozilla root certificates (the `webpki-roots` crate): what a client
/// trusts when it is given nothing else.
pub fn webpki_roots() -> RootCertStore {
    RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// The certificates of a PEM file (a CA bundle, or one self-signed
/// certificate) as roots to trust, like curl's `--cacert`.
///
/// # Errors
///
/// The file cannot be read, holds no certificate, or one it holds is not
/// usable as a trust anchor.
pub fn roots_from_pem_file(path: &Path) -> io::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs_from_pem_file(path)? {
        roots.add(cert).map_err(|e| invalid(path, e))?;
    }
    Ok(roots)
}

/// The config of a client given none: the Mozilla roots, ALPN
/// `http/1.1` (what the pooled HTTP/1.1 clients and the WebSocket and MCP
/// clients offer). Built once per process and shared: the root store is
/// about 150 anchors, a client is made far more often than it changes,
/// and clients sharing it share its TLS session cache too.
pub fn default_http1_client_config() -> Arc<ClientConfig> {
    static DEFAULT: std::sync::OnceLock<Arc<ClientConfig>> = std::sync::OnceLock::new();
    DEFAULT
        .get_or_init(|| client_config(webpki_roots(), &[ALPN_HTTP1]))
        .clone()
}

/// A client config trusting `roots`, offering `alpn` (empty: no ALPN).
pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = client_builder(roots).with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client config trusting `roots`, offering `alpn`, that presents
/// `identity` when a server asks for a client certificate (mutual TLS; a
/// server that does not ask never sees it).
///
/// ```no_run
/// use std::path::Path;
/// use wirestate_tls as tls;
/// # fn main() -> std::io::Result<()> {
/// let me = tls::Identity::from_pem_files(Path::new("client.pem"), Path::new("client.key"))?;
/// let roots = tls::roots_from_pem_file(Path::new("server-ca.pem"))?;
/// let config = tls::client_config_with_identity(roots, me, &[tls::ALPN_H2])
///     .map_err(std::io::Error::other)?;
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The key is of an unsupported algorithm or does not match the
/// certificate.
pub fn client_config_with_identity(
    roots: RootCertStore,
    identity: Identity,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut config = client_builder(roots).with_client_auth_cert(identity.certs, identity.key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The client builder both client configs start from: this crate's
/// provider, trusting `roots`.
fn client_builder(
    roots: RootCertStore,
) -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
    // The protocol versions are the provider's safe defaults (TLS 1.3 and
    // 1.2); this cannot fail with aws-lc-rs, which supports both.
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| unreachable!("aws-lc-rs supports the default versions: {e}"))
        .with_root_certificates(roots)
}

/// A certificate chain (the end-entity certificate first) and its private
/// key: what a client presents for mutual TLS, as tonic's `Identity`.
#[derive(Debug)]
pub struct Identity {
    /// The certificate, then the intermediates that lead to the peer's root.
    pub certs: Vec<CertificateDer<'static>>,
    /// The certificate's private key.
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// The chain and key of two PEM files (the key PKCS#8, PKCS#1 or
    /// SEC1), as curl's `--cert` and `--key` take them.
    ///
    /// # Errors
    ///
    /// A file cannot be read or holds no certificate or key. Whether the
    /// key fits the certificate is checked when a config is built.
    pub fn from_pem_files(cert: &Path, key: &Path) -> io::Result<Self> {
        Ok(Self {
            certs: certs_from_pem_file(cert)?,
            key: PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(key, e))?,
        })
    }
}

/// Whether a server asks its clients for a certificate (mutual TLS).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No: any client may connect, none is asked for a certificate.
    #[default]
    None,
    /// Every client must present a certificate that chains to one of
    /// these roots (and is valid for client authentication); a client
    /// without one, or with another, fails the handshake.
    Required(RootCertStore),
    /// Clients are asked for a certificate, and one that does not chain to
    /// these roots fails the handshake, but a client may present none.
    /// Which clients did is for the application to check (the
    /// connection's `peer_certificates()`).
    Optional(RootCertStore),
}

/// A server config presenting `certs` (the server's certificate first, then
/// its chain) with `key`, offering `alpn`.
///
/// # Errors
///
/// The key does not match a supported algorithm or the certificate.
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, rustls::Error> {
    server_config_with_client_auth(certs, key, ClientAuth::None, alpn)
}

/// [`server_config`] that also asks clients for certificates, as
/// `client_auth` says (mutual TLS).
///
/// ```no_run
/// use std::path::Path;
/// use wirestate_tls as tls;
/// # fn main() -> std::io::Result<()> {
/// // Only clients with a certificate signed by clients-ca.pem get in.
/// let auth = tls::ClientAuth::Required(tls::roots_from_pem_file(Path::new("clients-ca.pem"))?);
/// let config = tls::server_config_from_pem_files_with_client_auth(
///     Path::new("cert.pem"),
///     Path::new("key.pem"),
///     auth,
///     tls::ALPN,
/// )?;
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// The key does not match a supported algorithm or the certificate, or
/// the client roots are empty.
pub fn server_config_with_client_auth(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: ClientAuth,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let (roots, optional) = match client_auth {
        ClientAuth::None => (None, false),
        ClientAuth::Required(roots) => (Some(roots), false),
        ClientAuth::Optional(roots) => (Some(roots), true),
    };
    let builder = match roots {
        None => builder.with_no_client_auth(),
        Some(roots) => {
            let mut verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            );
            if optional {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| {
                rustls::Error::General(format!("cannot verify client certificates: {e}"))
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// [`server_config`] from PEM files: the certificate chain and the private
/// key (PKCS#8, PKCS#1 or SEC1), as nginx's `ssl_certificate` and
/// `ssl_certificate_key` take them.
///
/// # Errors
///
/// A file cannot be read or parsed, or the key does not fit the
/// certificate.
pub fn server_config_from_pem_files(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> io::Result<Arc<ServerConfig>> {
    server_config_from_pem_files_with_client_auth(cert, key, ClientAuth::None, alpn)
}

/// [`server_config_with_client_auth`] from PEM files: the server's
/// certificate chain and key as [`server_config_from_pem_files`] takes
/// them; the client roots typically from [`roots_from_pem_file`] (nginx's
/// `ssl_client_certificate`).
///
/// # Errors
///
/// A file cannot be read or parsed, the key does not fit the
/// certificate, or the client roots are empty.
pub fn server_config_from_pem_files_with_client_auth(
    cert: &Path,
    key: &Path,
    client_auth: ClientAuth,
    alpn: &[&[u8]],
) -> io::Result<Arc<ServerConfig>> {
    let Identity { certs, key } = Identity::from_pem_files(cert, key)?;
    server_config_with_client_auth(certs, key, client_auth, alpn).map_err(|e| invalid(cert, e))
}

fn certs_from_pem_file(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| invalid(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(invalid(path, "no certificate in the file"));
    }
    Ok(certs)
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {e}", path.display()),
    )
}

/// The name a client checks the server's certificate against: a DNS name,
/// or an IP address (`127.0.0.1`, `::1`, `[::1]` as URLs carry it).
///
/// # Errors
///
/// `host` is neither.
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_owned()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{host:?} is not a server name: {e}"),
        )
    })
}

/// `name` and `port` as a URI authority (`host:port`, an IPv6 address in
/// brackets): what the requests to a server whose certificate must carry
/// `name` put in their URI, for clients (like the pooled HTTP/1.1 ones)
/// that take the name to check from the URI's host.
///
/// ```
/// use wirestate_tls as tls;
/// let at = |host| tls::server_authority(&tls::server_name(host).unwrap(), 8443);
/// assert_eq!(at("api.example.com"), "api.example.com:8443");
/// assert_eq!(at("127.0.0.1"), "127.0.0.1:8443");
/// assert_eq!(at("::1"), "[::1]:8443");
/// assert_eq!(at("[::1]"), "[::1]:8443");
/// ```
pub fn server_authority(name: &ServerName<'_>, port: u16) -> String {
    let name = name.to_str();
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{name}:{port}"),
    }
}

/// A copy of `config` offering `alpn` instead of its own ALPN ids: a
/// config made for gRPC (offering `h2`, which a server would pick) used
/// by a gRPC-Web channel's HTTP/1.1 pool, say. `config` is unchanged.
///
/// ```
/// use wirestate_tls as tls;
/// let grpc = tls::client_config(tls::webpki_roots(), &[tls::ALPN_H2]);
/// let web = tls::with_alpn(&grpc, &[tls::ALPN_HTTP1]);
/// assert_eq!(web.alpn_protocols, [b"http/1.1".to_vec()]);
/// assert_eq!(grpc.alpn_protocols, [b"h2".to_vec()]);
/// ```
pub fn with_alpn(config: &Arc<ClientConfig>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut config = (**config).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}
