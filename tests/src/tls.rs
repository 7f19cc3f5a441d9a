//! HTTPS on loopback for test servers (the Hugging Face mirror): a private test CA, a serving certificate it signs
//! for `127.0.0.1` and `localhost`, and [`serve`], which runs an axum app behind TLS. The CA's PEM is what a
//! cluster admin would hand the operator as its private CA (`--downloader-ca-bundle`).

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A test CA and the serving certificate it signed.
pub struct TestTls {
    /// The CA certificate (PEM): trust this to trust the server.
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl TestTls {
    /// A fresh CA and a serving certificate for `127.0.0.1` and `localhost`.
    pub fn new() -> TestTls {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.distinguished_name.push(DnType::CommonName, "aim-test-private-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, &ca_key);

        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("server params");
        params.distinguished_name.push(DnType::CommonName, "aim-test-hub");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &issuer).expect("server certificate");

        let _ = rustls::crypto::ring::default_provider().install_default();
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .expect("server TLS config");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TestTls {
            ca_pem: ca_cert.pem(),
            config: Arc::new(config),
        }
    }
}

impl Default for TestTls {
    fn default() -> Self {
        TestTls::new()
    }
}

/// Serves `app` over TLS on `listener` until the task is aborted; a failed handshake drops that connection only.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, tls: &TestTls) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app))
                .await;
        });
    }
}
