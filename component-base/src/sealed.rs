//! Sealing a cluster's parent credentials to the agent that registered it.
//!
//! A ClusterRegistrationRequest is read with the bootstrap token, and every cluster registering
//! with that token holds the same identity: RBAC cannot tell the requester from any other
//! holder. So the agent puts a public key (X25519) on its request
//! (annotation [`PUBLIC_KEY_ANNOTATION`]), and the approver encrypts the token to it before
//! writing it to `status.token`. Whoever else reads the request sees only ciphertext.
//!
//! The sealed form: [`MAGIC`] ‖ ephemeral public key (32 bytes) ‖ ChaCha20-Poly1305 ciphertext
//! and tag. The key is HKDF-SHA256 of the X25519 shared secret, salted with both public keys;
//! every seal uses a fresh ephemeral key, so a fixed nonce is safe. A token without the magic is
//! plain (an agent that sent no key, e.g. Go Clusternet's).
//!
//! ```
//! use clusternet_component_base::sealed::{OpeningKey, seal};
//!
//! let key = OpeningKey::generate().unwrap();
//! let sealed = seal(&key.public_key(), b"the token").unwrap();
//! assert_ne!(&sealed[..], b"the token");
//! assert_eq!(key.open(&sealed).unwrap(), b"the token");
//! ```

use anyhow::{Context, Result, bail};
use base64::Engine;
use ring::rand::SecureRandom;

/// Annotation on a ClusterRegistrationRequest: the agent's X25519 public key, base64.
pub const PUBLIC_KEY_ANNOTATION: &str = "clusters.clusternet.io/registration-public-key";

/// The first bytes of a sealed token.
pub const MAGIC: &[u8; 8] = b"CNSEAL01";

const INFO: &[u8] = b"clusternet registration token v1";

/// The agent's private key, kept in the child cluster until the token is opened.
pub struct OpeningKey(x25519_dalek::StaticSecret);

impl std::fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpeningKey(<redacted>)")
    }
}

fn random32() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    Ok(bytes)
}

fn aead_key(
    shared: &[u8],
    ephemeral: &[u8; 32],
    recipient: &[u8; 32],
) -> Result<ring::aead::LessSafeKey> {
    let salt = ring::hkdf::Salt::new(
        ring::hkdf::HKDF_SHA256,
        &[&ephemeral[..], &recipient[..]].concat(),
    );
    let prk = salt.extract(shared);
    let okm = prk
        .expand(&[INFO], &ring::aead::CHACHA20_POLY1305)
        .map_err(|_| anyhow::anyhow!("deriving the sealing key"))?;
    Ok(ring::aead::LessSafeKey::new(ring::aead::UnboundKey::from(
        okm,
    )))
}

impl OpeningKey {
    /// A fresh key.
    pub fn generate() -> Result<Self> {
        Ok(Self(x25519_dalek::StaticSecret::from(random32()?)))
    }

    /// The key stored earlier with [`OpeningKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("a registration key is 32 bytes, not {}", bytes.len()))?;
        Ok(Self(x25519_dalek::StaticSecret::from(bytes)))
    }

    /// The private key's bytes, to store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }

    /// The public key as the annotation carries it.
    pub fn public_key_annotation(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.public_key())
    }

    /// Opens a token sealed to this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        let rest = sealed
            .strip_prefix(&MAGIC[..])
            .context("the token is not sealed")?;
        if rest.len() < 32 + ring::aead::CHACHA20_POLY1305.tag_len() {
            bail!("the sealed token is truncated");
        }
        let (ephemeral, ciphertext) = rest.split_at(32);
        let ephemeral: [u8; 32] = ephemeral.try_into().context("ephemeral key")?;
        let shared = self
            .0
            .diffie_hellman(&x25519_dalek::PublicKey::from(ephemeral));
        let key = aead_key(shared.as_bytes(), &ephemeral, &self.public_key())?;
        let mut buf = ciphertext.to_vec();
        let plain = key
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key([0; 12]),
                ring::aead::Aad::empty(),
                &mut buf,
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "the sealed token does not open with this cluster's registration key"
                )
            })?;
        Ok(plain.to_vec())
    }
}

/// Whether `token` is sealed.
pub fn is_sealed(token: &[u8]) -> bool {
    token.starts_with(&MAGIC[..])
}

/// The public key of an annotation value.
pub fn parse_public_key(annotation: &str) -> Result<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(annotation.trim())
        .context("the registration public key is not base64")?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!("a registration public key is 32 bytes, not {}", b.len())
    })
}

/// Seals `plaintext` to `recipient`.
pub fn seal(recipient: &[u8; 32], plaintext: &[u8]) -> Result<Vec<u8>> {
    let ephemeral = x25519_dalek::StaticSecret::from(random32()?);
    let ephemeral_public = x25519_dalek::PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&x25519_dalek::PublicKey::from(*recipient));
    let key = aead_key(shared.as_bytes(), &ephemeral_public, recipient)?;
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(
        ring::aead::Nonce::assume_unique_for_key([0; 12]),
        ring::aead::Aad::empty(),
        &mut buf,
    )
    .map_err(|_| anyhow::anyhow!("sealing the token"))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 32 + buf.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&buf);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_key_opens_and_tampering_is_detected() {
        let agent = OpeningKey::generate().unwrap();
        let other = OpeningKey::generate().unwrap();
        let sealed = seal(&agent.public_key(), b"eyJhbGciOi-token").unwrap();
        assert!(is_sealed(&sealed) && !is_sealed(b"eyJhbGciOi-token"));
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(agent.open(&tampered).is_err());
        assert!(agent.open(&sealed[..20]).is_err());
        // Each seal differs (fresh ephemeral key), both open.
        let again = seal(&agent.public_key(), b"eyJhbGciOi-token").unwrap();
        assert_ne!(sealed, again);
        assert_eq!(agent.open(&again).unwrap(), b"eyJhbGciOi-token");
    }

    #[test]
    fn keys_round_trip_through_storage_and_the_annotation() {
        let key = OpeningKey::generate().unwrap();
        let stored = OpeningKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(stored.public_key(), key.public_key());
        assert_eq!(
            parse_public_key(&key.public_key_annotation()).unwrap(),
            key.public_key()
        );
        assert!(parse_public_key("AAAA").is_err());
        assert!(parse_public_key("!!").is_err());
        assert!(OpeningKey::from_bytes(&[1, 2, 3]).is_err());
        assert!(!format!("{key:?}").contains(&key.public_key_annotation()));
    }
}
