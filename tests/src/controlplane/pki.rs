//! Certificates and keys for a loopback control plane: one CA, the API server's serving certificate, an admin
//! client certificate (group `system:masters`) and the service-account signing key.
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
}

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

    let files = PkiFiles {
        ca_cert: dir.join("ca.crt"),
        ca_key: dir.join("ca.key"),
        server_cert: dir.join("apiserver.crt"),
        server_key: dir.join("apiserver.key"),
        admin_cert: dir.join("admin.crt"),
        admin_key: dir.join("admin.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_public_key: dir.join("service-account.pub"),
    };
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
    Ok(files)
}
