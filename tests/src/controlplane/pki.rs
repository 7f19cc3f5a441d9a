//! Certificates and keys for a loopback control plane: one CA, the API server's serving certificate, an admin
//! client certificate (group `system:masters`) and the service-account signing key; a front-proxy CA and the
//! client certificate the API server proxies to aggregated APIs with (metrics-server's, KEDA's); and one serving
//! and client certificate for the cluster's add-ons that run as host processes (KEDA's operator and metrics
//! adapter talk mutual TLS to each other with it, and the API server reaches the adapter by it).
//!
//! Everything is generated fresh for each control plane and lives only in its state directory.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// Paths of the PEM files written by [`write_pki`].
#[derive(Debug, Clone)]
pub struct PkiFiles {
    /// CA certificate: trusted for serving and for client certificates.
    pub ca_cert: PathBuf,
    /// CA private key (the controller-manager signs CSRs with it).
    pub ca_key: PathBuf,
    /// API server serving certificate, valid for 127.0.0.1 and localhost.
    pub server_cert: PathBuf,
    /// API server serving key.
    pub server_key: PathBuf,
    /// Admin client certificate (CN `aim-admin`, O `system:masters`).
    pub admin_cert: PathBuf,
    /// Admin client key.
    pub admin_key: PathBuf,
    /// Service-account token signing key.
    pub service_account_key: PathBuf,
    /// Its public key, which the API server verifies tokens with.
    pub service_account_public_key: PathBuf,
    /// The CA of the front proxy: the API server trusts the user headers of a request to an aggregated API
    /// only from a client it signed.
    pub front_proxy_ca: PathBuf,
    /// The API server's client certificate towards aggregated APIs (CN [`FRONT_PROXY_CLIENT`]).
    pub front_proxy_client_cert: PathBuf,
    /// Its key.
    pub front_proxy_client_key: PathBuf,
    /// A directory holding `ca.crt`, `tls.crt` and `tls.key`: the add-ons' certificate, signed by the CA, valid
    /// for serving and as a client, for loopback, the node's address and the add-ons' Service names
    /// ([`ADDON_NAMES`]).
    pub addon_certs: PathBuf,
}

/// The front proxy's client name, which the API server's `--requestheader-allowed-names` admits.
pub const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

/// The in-cluster names the add-ons' certificate is valid for (besides loopback and the node's address).
pub const ADDON_NAMES: [&str; 6] = [
    "keda-operator.keda.svc",
    "keda-operator.keda.svc.cluster.local",
    "keda-metrics-apiserver.keda.svc",
    "keda-metrics-apiserver.keda.svc.cluster.local",
    "metrics-server.kube-system.svc",
    "metrics-server.kube-system.svc.cluster.local",
];

/// Errors while generating the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Key or certificate generation failed.
    #[error("failed to generate {what}: {source}")]
    Generate {
        /// Which object.
        what: &'static str,
        /// rcgen's error.
        source: rcgen::Error,
    },
    /// Writing a PEM file failed.
    #[error("failed to write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn name(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    if let Some(org) = organization {
        dn.push(DnType::OrganizationName, org);
    }
    dn
}

/// Generates the control plane's PKI into `dir`. The API server's certificate names loopback, the `kubernetes`
/// Service (its name and its ClusterIP, 10.96.0.1, how pods reach it) and, when given, the node address pods
/// reach it at.
pub fn write_pki(dir: &Path, node_ip: Option<std::net::Ipv4Addr>) -> Result<PkiFiles, PkiError> {
    let generate = |what| move |source| PkiError::Generate { what, source };

    let ca_key = KeyPair::generate().map_err(generate("CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(generate("CA params"))?;
    ca_params.distinguished_name = name("aim-local-ca", None);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(generate("CA certificate"))?;
    let ca = Issuer::new(ca_params, &ca_key);

    let server_key = KeyPair::generate().map_err(generate("server key"))?;
    let mut server_params = CertificateParams::new(
        vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "kubernetes".to_string(),
            "kubernetes.default.svc".to_string(),
            "kubernetes.default.svc.cluster.local".to_string(),
            "10.96.0.1".to_string(),
        ]
        .into_iter()
        .chain(node_ip.map(|ip| ip.to_string()))
        .collect::<Vec<_>>(),
    )
    .map_err(generate("server params"))?;
    server_params.distinguished_name = name("kube-apiserver", None);
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server_params
        .signed_by(&server_key, &ca)
        .map_err(generate("server certificate"))?;

    let admin_key = KeyPair::generate().map_err(generate("admin key"))?;
    let mut admin_params = CertificateParams::new(Vec::<String>::new()).map_err(generate("admin params"))?;
    admin_params.distinguished_name = name("aim-admin", Some("system:masters"));
    admin_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin_params
        .signed_by(&admin_key, &ca)
        .map_err(generate("admin certificate"))?;

    let sa_key = KeyPair::generate().map_err(generate("service-account key"))?;

    let proxy_ca_key = KeyPair::generate().map_err(generate("front-proxy CA key"))?;
    let mut proxy_ca_params =
        CertificateParams::new(Vec::<String>::new()).map_err(generate("front-proxy CA params"))?;
    proxy_ca_params.distinguished_name = name("aim-local-front-proxy-ca", None);
    proxy_ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    proxy_ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let proxy_ca_cert = proxy_ca_params
        .self_signed(&proxy_ca_key)
        .map_err(generate("front-proxy CA certificate"))?;
    let proxy_ca = Issuer::new(proxy_ca_params, &proxy_ca_key);
    let proxy_client_key = KeyPair::generate().map_err(generate("front-proxy client key"))?;
    let mut proxy_client_params =
        CertificateParams::new(Vec::<String>::new()).map_err(generate("front-proxy client params"))?;
    proxy_client_params.distinguished_name = name(FRONT_PROXY_CLIENT, None);
    proxy_client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let proxy_client_cert = proxy_client_params
        .signed_by(&proxy_client_key, &proxy_ca)
        .map_err(generate("front-proxy client certificate"))?;

    let addon_key = KeyPair::generate().map_err(generate("add-on key"))?;
    let mut addon_params = CertificateParams::new(
        ["127.0.0.1", "localhost"]
            .into_iter()
            .chain(ADDON_NAMES)
            .map(String::from)
            .chain(node_ip.map(|ip| ip.to_string()))
            .collect::<Vec<_>>(),
    )
    .map_err(generate("add-on params"))?;
    addon_params.distinguished_name = name("aim-local-addons", None);
    addon_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let addon_cert = addon_params
        .signed_by(&addon_key, &ca)
        .map_err(generate("add-on certificate"))?;

    let files = PkiFiles {
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        server_cert: dir.join("apiserver.crt"),
        server_key: dir.join("apiserver.key"),
        admin_cert: dir.join("admin.crt"),
        admin_key: dir.join("admin.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_public_key: dir.join("service-account.pub"),
        front_proxy_ca: dir.join("front-proxy-ca.crt"),
        front_proxy_client_cert: dir.join("front-proxy-client.crt"),
        front_proxy_client_key: dir.join("front-proxy-client.key"),
        addon_certs: dir.join("addon-certs"),
    };
    std::fs::create_dir_all(&files.addon_certs).map_err(|source| PkiError::Write {
        path: files.addon_certs.clone(),
        source,
    })?;
    let write = |path: &PathBuf, pem: String| {
        std::fs::write(path, pem).map_err(|source| PkiError::Write {
            path: path.clone(),
            source,
        })
    };
    write(&files.ca_cert, ca_cert.pem())?;
    write(&files.ca_key, ca_key.serialize_pem())?;
    write(&files.server_cert, server_cert.pem())?;
    write(&files.server_key, server_key.serialize_pem())?;
    write(&files.admin_cert, admin_cert.pem())?;
    write(&files.admin_key, admin_key.serialize_pem())?;
    write(&files.service_account_key, sa_key.serialize_pem())?;
    write(&files.service_account_public_key, sa_key.public_key_pem())?;
    write(&files.front_proxy_ca, proxy_ca_cert.pem())?;
    write(&files.front_proxy_client_cert, proxy_client_cert.pem())?;
    write(&files.front_proxy_client_key, proxy_client_key.serialize_pem())?;
    write(&files.addon_certs.join("ca.crt"), ca_cert.pem())?;
    write(&files.addon_certs.join("tls.crt"), addon_cert.pem())?;
    write(&files.addon_certs.join("tls.key"), addon_key.serialize_pem())?;
    Ok(files)
}
