//! Certificates made at test time (rcgen): a CA, server certificates it signs, client
//! certificates; written as PEM files into a temporary directory. Nothing secret is committed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A CA and the directory its files go to.
pub struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
    name: String,
}

/// A certificate and key written to disk, and their PEM text.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Pki {
    /// A new CA called `name`, writing into `dir` (its certificate at `<name>-ca.pem`).
    pub fn new(dir: &Path, name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem()).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            ca,
            name: name.to_owned(),
        }
    }

    /// The CA certificate's file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses), written to
    /// `<stem>.pem` / `<stem>-key.pem`; `common_name` tells two apart.
    pub fn server(&self, stem: &str, names: &[&str], common_name: &str) -> Issued {
        self.issue(
            stem,
            names,
            common_name,
            ExtendedKeyUsagePurpose::ServerAuth,
            None,
        )
    }

    /// Like [`Pki::server`], but expired since 2001.
    pub fn expired_server(&self, stem: &str, names: &[&str]) -> Issued {
        let window = (
            rcgen::date_time_ymd(2000, 1, 1),
            rcgen::date_time_ymd(2001, 1, 1),
        );
        self.issue(
            stem,
            names,
            "expired",
            ExtendedKeyUsagePurpose::ServerAuth,
            Some(window),
        )
    }

    /// A client certificate (for mTLS).
    pub fn client(&self, stem: &str) -> Issued {
        self.issue(stem, &[], stem, ExtendedKeyUsagePurpose::ClientAuth, None)
    }

    fn issue(
        &self,
        stem: &str,
        names: &[&str],
        common_name: &str,
        usage: ExtendedKeyUsagePurpose,
        window: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    ) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        if let Some((from, until)) = window {
            params.not_before = from;
            params.not_after = until;
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let issued = Issued {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}-key.pem")),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(&issued.cert, &issued.cert_pem).unwrap();
        std::fs::write(&issued.key, &issued.key_pem).unwrap();
        issued
    }
}
