//! Key pairs: CreateKeyPair, ImportKeyPair, DeleteKeyPair, DescribeKeyPairs.
//!
//! A key pair is stored per account and region as kind `key-pair` under its `KeyPairId` (so
//! CreateTags and DescribeTags find it by the id AWS shows), in the shape of the model's
//! `KeyPairInfo`; its OpenSSH public key line sits in `_fb.PublicKey`. Private keys are made,
//! handed out once in `KeyMaterial` and never stored.
//!
//! Fingerprints follow AWS's rules, which differ by how the key came to be:
//! - created RSA: SHA-1 of the PKCS#8 DER private key, colon-separated hex;
//! - imported RSA: MD5 of the DER SubjectPublicKeyInfo, colon-separated hex (what AWS computes,
//!   whatever the API reference says about RFC 4716);
//! - ED25519, either way: base64 of the SHA-256 of the SSH public key blob, with the `=` padding
//!   AWS keeps (unlike `ssh-keygen -l`, which drops it).
//!
//! Cost: generating an RSA 2048 key (the prime search) is the expensive part of CreateKeyPair.
//! Measured through boto3 against the debug server: 1.3-7.6 s per call, median 3.1 s, mean
//! 3.8 s over 12 calls (2 cores shared with builds, load average ~2.9; the spread is the prime
//! search's luck). Optimised builds of `num-bigint-dig` are commonly tens of times faster; a
//! `[profile.dev.package.num-bigint-dig] opt-level = 3` in the workspace would bring that to
//! debug builds. An ED25519 CreateKeyPair takes about 35 ms, request included.
//! The duplicate check runs before generating, so a duplicate name answers at once.

use base64::Engine;
use fogbank_core::ids;
use fogbank_wire::AwsError;
use md5::Md5;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::{fb, filter, kind, Env, Handler, InputExt};

pub const OPERATIONS: &[(&str, Handler)] = &[
    ("CreateKeyPair", create_key_pair),
    ("ImportKeyPair", import_key_pair),
    ("DeleteKeyPair", delete_key_pair),
    ("DescribeKeyPairs", describe_key_pairs),
];

const FILTERS: &[(&str, &str)] = &[
    ("key-pair-id", "KeyPairId"),
    ("key-name", "KeyName"),
    ("fingerprint", "KeyFingerprint"),
    ("key-type", "KeyType"),
];

// ---- SSH wire encoding (RFC 4251) ----

fn put_u32(buf: &mut Vec<u8>, n: u32) {
    buf.extend_from_slice(&n.to_be_bytes());
}

fn put_string(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(buf, bytes.len() as u32);
    buf.extend_from_slice(bytes);
}

/// An unsigned big-endian integer as an SSH `mpint`: no leading zeros, but a zero byte in front
/// when the high bit is set.
fn put_mpint(buf: &mut Vec<u8>, be: &[u8]) {
    let trimmed: &[u8] = match be.iter().position(|&b| b != 0) {
        Some(i) => &be[i..],
        None => &[],
    };
    if trimmed.first().is_some_and(|&b| b & 0x80 != 0) {
        put_u32(buf, trimmed.len() as u32 + 1);
        buf.push(0);
        buf.extend_from_slice(trimmed);
    } else {
        put_string(buf, trimmed);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_at_checked(4)?;
        self.0 = rest;
        Some(u32::from_be_bytes(head.try_into().ok()?))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        let (head, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        Some(head)
    }
}

fn rsa_blob(key: &RsaPublicKey) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, &key.e().to_bytes_be());
    put_mpint(&mut blob, &key.n().to_bytes_be());
    blob
}

fn ed25519_blob(public: &[u8; 32]) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, public);
    blob
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

// ---- fingerprints, by AWS's rules ----

/// A key EC2 created: SHA-1 of the PKCS#8 DER encoding of the private key.
fn created_rsa_fingerprint(pkcs8_der: &[u8]) -> String {
    colon_hex(&Sha1::digest(pkcs8_der))
}

/// A key imported to EC2: MD5 of the DER SubjectPublicKeyInfo.
fn imported_rsa_fingerprint(spki_der: &[u8]) -> String {
    colon_hex(&Md5::digest(spki_der))
}

/// Either way: base64 (padded) of the SHA-256 of the SSH public key blob.
fn ed25519_fingerprint(blob: &[u8]) -> String {
    b64(&Sha256::digest(blob))
}

/// A public key as Fogbank keeps it.
#[derive(Debug, PartialEq)]
struct PublicKey {
    key_type: &'static str,
    fingerprint: String,
    /// `ssh-rsa AAAA... comment`, as `authorized_keys` wants it.
    openssh: String,
}

/// A key made by CreateKeyPair: the private key to hand out once, and the public part.
struct Generated {
    material: String,
    public: PublicKey,
}

fn rng_failure() -> AwsError {
    AwsError::internal("Fogbank could not generate a key: the random source failed")
}

fn generate_rsa(name: &str) -> Result<Generated, AwsError> {
    let key = RsaPrivateKey::new(&mut rand_core::OsRng, 2048).map_err(|_| rng_failure())?;
    generated_rsa(&key, name)
}

fn generated_rsa(key: &RsaPrivateKey, name: &str) -> Result<Generated, AwsError> {
    let pem = key.to_pkcs1_pem(LineEnding::LF).map_err(|_| rng_failure())?;
    let pkcs8 = key.to_pkcs8_der().map_err(|_| rng_failure())?;
    let blob = rsa_blob(&key.to_public_key());
    Ok(Generated {
        // AWS answers the PEM without a final newline.
        material: pem.trim_end().to_string(),
        public: PublicKey {
            key_type: "rsa",
            fingerprint: created_rsa_fingerprint(pkcs8.as_bytes()),
            openssh: format!("ssh-rsa {} {name}", b64(&blob)),
        },
    })
}

fn generate_ed25519(name: &str) -> Generated {
    let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
    let check = rand_core::RngCore::next_u32(&mut rand_core::OsRng);
    generated_ed25519(&key.to_bytes(), check, name)
}

/// An ED25519 key in OpenSSH's private key format (`openssh-key-v1`, unencrypted).
fn generated_ed25519(seed: &[u8; 32], check: u32, name: &str) -> Generated {
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    let public = key.verifying_key().to_bytes();
    let blob = ed25519_blob(&public);

    let mut private = Vec::new();
    put_u32(&mut private, check);
    put_u32(&mut private, check);
    put_string(&mut private, b"ssh-ed25519");
    put_string(&mut private, &public);
    let mut pair = seed.to_vec();
    pair.extend_from_slice(&public);
    put_string(&mut private, &pair);
    put_string(&mut private, name.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }

    let mut body = b"openssh-key-v1\0".to_vec();
    put_string(&mut body, b"none");
    put_string(&mut body, b"none");
    put_string(&mut body, b"");
    put_u32(&mut body, 1);
    put_string(&mut body, &blob);
    put_string(&mut body, &private);
    pair.iter_mut().for_each(|b| *b = 0);
    private.iter_mut().for_each(|b| *b = 0);

    let encoded = b64(&body);
    let mut material = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(70) {
        material.push_str(std::str::from_utf8(line).unwrap_or_default());
        material.push('\n');
    }
    material.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    Generated {
        material,
        public: PublicKey {
            key_type: "ed25519",
            fingerprint: ed25519_fingerprint(&blob),
            openssh: format!("ssh-ed25519 {} {name}", b64(&blob)),
        },
    }
}

// ---- importing ----

fn bad_format() -> AwsError {
    AwsError::new("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
}

fn imported_rsa(key: &RsaPublicKey, comment: &str) -> Result<PublicKey, AwsError> {
    let spki = key.to_public_key_der().map_err(|_| bad_format())?;
    let blob = rsa_blob(key);
    let openssh = format!("ssh-rsa {} {comment}", b64(&blob)).trim_end().to_string();
    Ok(PublicKey { key_type: "rsa", fingerprint: imported_rsa_fingerprint(spki.as_bytes()), openssh })
}

/// An SSH public key blob (`ssh-rsa` or `ssh-ed25519`).
fn parse_blob(blob: &[u8], comment: &str) -> Result<PublicKey, AwsError> {
    let mut r = Reader(blob);
    let key_type = r.string().ok_or_else(bad_format)?;
    match key_type {
        b"ssh-rsa" => {
            let e = r.string().ok_or_else(bad_format)?;
            let n = r.string().ok_or_else(bad_format)?;
            if !r.0.is_empty() {
                return Err(bad_format());
            }
            let key = RsaPublicKey::new_with_max_size(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e), 16384)
                .map_err(|_| bad_format())?;
            if key.n().bits() < 1024 {
                return Err(bad_format());
            }
            imported_rsa(&key, comment)
        }
        b"ssh-ed25519" => {
            let public: [u8; 32] = r.string().and_then(|p| p.try_into().ok()).ok_or_else(bad_format)?;
            if !r.0.is_empty() {
                return Err(bad_format());
            }
            let blob = ed25519_blob(&public);
            let openssh = format!("ssh-ed25519 {} {comment}", b64(&blob)).trim_end().to_string();
            Ok(PublicKey { key_type: "ed25519", fingerprint: ed25519_fingerprint(&blob), openssh })
        }
        _ => Err(bad_format()),
    }
}

fn decode_b64(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()
}

/// Parses public key material as AWS accepts it: an OpenSSH line (`ssh-rsa AAAA... comment`,
/// `ssh-ed25519 ...`), an RFC 4716 `---- BEGIN SSH2 PUBLIC KEY ----` block, or an RSA
/// SubjectPublicKeyInfo in PEM or base64 DER.
fn parse_public_key(text: &str) -> Result<PublicKey, AwsError> {
    let text = text.trim();
    if text.starts_with("---- BEGIN SSH2 PUBLIC KEY ----") {
        let mut body = String::new();
        let mut continued = false;
        for line in text.lines().skip(1).map(str::trim) {
            if line.starts_with("---- END SSH2 PUBLIC KEY ----") {
                break;
            }
            if continued || line.contains(':') {
                continued = line.ends_with('\\');
                continue;
            }
            body.push_str(line);
        }
        return parse_blob(&decode_b64(&body).ok_or_else(bad_format)?, "");
    }
    if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        let key = RsaPublicKey::from_public_key_pem(text).map_err(|_| bad_format())?;
        return imported_rsa(&key, "");
    }
    let mut parts = text.split_whitespace();
    let (Some(first), second) = (parts.next(), parts.next()) else { return Err(bad_format()) };
    match second {
        Some(data) if first.starts_with("ssh-") => {
            let blob = decode_b64(data).ok_or_else(bad_format)?;
            let mut r = Reader(&blob);
            if r.string() != Some(first.as_bytes()) {
                return Err(bad_format());
            }
            let comment = parts.collect::<Vec<_>>().join(" ");
            parse_blob(&blob, &comment)
        }
        None => {
            let der = decode_b64(first).ok_or_else(bad_format)?;
            let key = RsaPublicKey::from_public_key_der(&der).map_err(|_| bad_format())?;
            imported_rsa(&key, "")
        }
        _ => Err(bad_format()),
    }
}

// ---- handlers ----

fn find_by_name<'a, 'b>(mut docs: impl Iterator<Item = (&'a str, &'b Value)>, name: &str) -> Option<(String, Value)> {
    docs.find(|(_, d)| d.str("KeyName") == Some(name)).map(|(id, d)| (id.to_string(), d.clone()))
}

fn by_name(env: &Env, name: &str) -> Option<Value> {
    env.store.scan(&env.scope(), kind::KEY_PAIR, |iter| find_by_name(iter, name).map(|(_, d)| d))
}

/// Whether the caller has a key pair of this name (RunInstances' `KeyName`).
pub fn exists(env: &Env, name: &str) -> bool {
    by_name(env, name).is_some()
}

/// The OpenSSH public key line of a key pair, for an instance's `authorized_keys`.
#[allow(dead_code)]
pub fn public_key(env: &Env, name: &str) -> Option<String> {
    by_name(env, name).and_then(|d| fb(&d).str("PublicKey").map(str::to_string))
}

fn duplicate(name: &str) -> AwsError {
    AwsError::new("InvalidKeyPair.Duplicate", format!("The keypair '{name}' already exists."))
}

fn key_name(input: &Value) -> Result<String, AwsError> {
    match input.str("KeyName") {
        Some(n) if !n.is_empty() => {
            if n.chars().count() > 255 || !n.is_ascii() {
                return Err(super::invalid_value(
                    "KeyName",
                    n,
                    "Key names must be at most 255 ASCII characters long.",
                ));
            }
            Ok(n.to_string())
        }
        _ => Err(super::missing("KeyName")),
    }
}

/// Stores a new key pair (failing on a duplicate name inside the transaction); returns its id.
fn store(env: &Env, name: &str, public: &PublicKey, tags: Vec<Value>) -> Result<String, AwsError> {
    let key_pair_id = ids::resource_id("key");
    let doc = json!({
        "KeyPairId": key_pair_id,
        "KeyFingerprint": public.fingerprint,
        "KeyName": name,
        "KeyType": public.key_type,
        "Tags": tags,
        "CreateTime": fogbank_wire::time::now_iso(),
        "_fb": {"PublicKey": public.openssh},
    });
    let scope = env.scope();
    env.write(|tx| {
        if find_by_name(tx.list(&scope, kind::KEY_PAIR), name).is_some() {
            return Err(duplicate(name));
        }
        tx.put(&scope, kind::KEY_PAIR, &key_pair_id, doc);
        Ok(())
    })?;
    Ok(key_pair_id)
}

fn create_key_pair(env: &Env, input: Value) -> Result<Value, AwsError> {
    let name = key_name(&input)?;
    let key_type = input.str("KeyType").unwrap_or("rsa");
    if !matches!(key_type, "rsa" | "ed25519") {
        return Err(super::invalid_value("KeyType", key_type, "Valid values are rsa and ed25519."));
    }
    if input.str("KeyFormat").unwrap_or("pem") == "ppk" {
        return Err(AwsError::new("InvalidParameterValue", "ppk is not supported by Fogbank yet"));
    }
    super::check_tag_specs(&input, &["key-pair"])?;
    let tags = super::tags_for(&input, "key-pair")?;
    super::dry_run(&input)?;
    // Answer a duplicate before paying for a key; `store` checks again in its transaction.
    if exists(env, &name) {
        return Err(duplicate(&name));
    }
    let generated = if key_type == "ed25519" { generate_ed25519(&name) } else { generate_rsa(&name)? };
    let key_pair_id = store(env, &name, &generated.public, tags.clone())?;
    Ok(json!({
        "KeyFingerprint": generated.public.fingerprint,
        "KeyMaterial": generated.material,
        "KeyName": name,
        "KeyPairId": key_pair_id,
        "Tags": tags,
    }))
}

fn import_key_pair(env: &Env, input: Value) -> Result<Value, AwsError> {
    let name = key_name(&input)?;
    let Some(material) = input.str("PublicKeyMaterial") else {
        return Err(super::missing("PublicKeyMaterial"));
    };
    // A blob arrives base64-encoded; fall back to the text itself if it is not.
    let bytes = decode_b64(material).unwrap_or_else(|| material.as_bytes().to_vec());
    let text = String::from_utf8(bytes).map_err(|_| bad_format())?;
    let public = parse_public_key(&text)?;
    super::check_tag_specs(&input, &["key-pair"])?;
    let tags = super::tags_for(&input, "key-pair")?;
    super::dry_run(&input)?;
    let key_pair_id = store(env, &name, &public, tags.clone())?;
    Ok(json!({
        "KeyFingerprint": public.fingerprint,
        "KeyName": name,
        "KeyPairId": key_pair_id,
        "Tags": tags,
    }))
}

fn delete_key_pair(env: &Env, input: Value) -> Result<Value, AwsError> {
    let name = input.str("KeyName").filter(|s| !s.is_empty()).map(str::to_string);
    let id = input.str("KeyPairId").filter(|s| !s.is_empty()).map(str::to_string);
    if name.is_none() && id.is_none() {
        return Err(AwsError::new("MissingParameter", "The request must contain the parameter KeyName or KeyPairId"));
    }
    super::dry_run(&input)?;
    let scope = env.scope();
    // AWS answers success for a key pair that does not exist.
    let deleted = env.write(|tx| {
        let found = match (&id, &name) {
            (Some(id), _) => tx.get(&scope, kind::KEY_PAIR, id).map(|_| id.clone()),
            (None, Some(name)) => find_by_name(tx.list(&scope, kind::KEY_PAIR), name).map(|(id, _)| id),
            (None, None) => None,
        };
        if let Some(found) = &found {
            tx.delete(&scope, kind::KEY_PAIR, found);
        }
        Ok(found)
    })?;
    Ok(json!({ "Return": true, "KeyPairId": deleted.or(id) }))
}

fn describe_key_pairs(env: &Env, input: Value) -> Result<Value, AwsError> {
    let names = input.strings("KeyNames");
    let key_ids = input.strings("KeyPairIds");
    let filters = filter::parse_filters(&input, FILTERS)?;
    let include_public = input.bool("IncludePublicKey") == Some(true);
    super::dry_run(&input)?;
    let mut all: Vec<Value> =
        env.store.scan(&env.scope(), kind::KEY_PAIR, |iter| iter.map(|(_, d)| d.clone()).collect());
    all.sort_by(|a, b| a.str("KeyName").cmp(&b.str("KeyName")));
    if let Some(missing) = names.iter().find(|n| !all.iter().any(|d| d.str("KeyName") == Some(n.as_str()))) {
        return Err(AwsError::new("InvalidKeyPair.NotFound", format!("The key pair '{missing}' does not exist")));
    }
    let missing: Vec<String> =
        key_ids.iter().filter(|id| !all.iter().any(|d| d.str("KeyPairId") == Some(id.as_str()))).cloned().collect();
    if !missing.is_empty() {
        return Err(super::not_found("InvalidKeyPair.NotFound", "key pair", &missing));
    }
    let key_pairs: Vec<Value> = all
        .into_iter()
        .filter(|d| names.is_empty() || names.iter().any(|n| d.str("KeyName") == Some(n.as_str())))
        .filter(|d| key_ids.is_empty() || key_ids.iter().any(|i| d.str("KeyPairId") == Some(i.as_str())))
        .filter(|d| filter::matches(d, &filters, FILTERS))
        .map(|mut d| {
            if include_public {
                d["PublicKey"] = fb(&d).get("PublicKey").cloned().unwrap_or(Value::Null);
            }
            d
        })
        .collect();
    Ok(json!({ "KeyPairs": key_pairs }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::DecodeRsaPrivateKey;

    /// An RSA 2048 key made once with `openssl genrsa -traditional 2048`. The expected
    /// fingerprints below were computed with OpenSSL, as AWS's guide does:
    /// `openssl pkcs8 -topk8 -nocrypt -outform DER | openssl sha1 -c` (created) and
    /// `openssl rsa -pubout -outform DER | openssl md5 -c` (imported).
    const RSA_PEM: &str = r"-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEA1XeRauGm/ytVCeKImoV5VGUkjj27AMYbY4SoAWfxk9yjg5d2
XpJlfXDakGKVGyRn8Kc9dBqacngikyDgMryT9pu557oFEEXn0BVB36T7yzjJS5nT
cuc6c+IKxsJDbmNUScLucSsUZ5i7GgO7vIeV5JwMJxQfdZ0jlWtKBMG5unF14/DY
ewGgj7r9b39Am80e5xgU4g7wfFkRHpN7CR/ZTFF19ZB/g7/JvARjzBbKlejw8VKy
u0tawVWgngMBsQoHqauw44MS+25ZhmdEJIOmtIC+GXTYfLf3TTIXyPWQ4W43PQv+
PCoWRJwDks8JNl2FGz5tT6sea1E2LKamqw5osQIDAQABAoIBAAn15FEqalJpwTQO
3/Tl2X14orYIZ1tn4wtHu1cldH5Dw1V2kc1j41xxEaG/F9oGXts50oJCY4aH2IUo
+Y0kg3r0VT5czbOur1xkQYif+CfJZIskiFtKMs4JdBtGIUNbWyl98QZSzkbvN3vF
RNNNOE9MgLyqEbW5OVnVgcSrDXGHl/lOfceDe82PI6HhqfDWkct/zf9niIEb6pIP
mGZi6Z6xlE1K/bURtYxF06PfIIlqB4nUGHeyx5dXabUZz7rDcUtT1kENj+ZyKJS+
vorceH84clJf2srdNsX5uJNYyG5I+18C2vhP4YA8XopNj7CBm46gtZx9xFUjY7li
n9mDQoECgYEA7NFbGkVcmf0xDJp6touNcEVFRTIU8+Oagzo5tAKLoRufPDzTLaY2
yUwNKKyf/jV9EV4+cqOd64xqxxVhPg38ocSyDi4lw747Zi8TrGn8Dm+wLtRkXuLe
pRN12EyLwg+h27kyDJcaVgSMuOVn5e6WMRLA9odIJ9v1t7a4b/gsb4kCgYEA5sID
Jq9tfwjVLzKre0miaaU0oeC84evr9FxiRxxnA1C+B5ZO5l7W+OeQGf9A2g+BZFuw
xbf4gJv4UuCSoELZfXADt2UuWXOb186Xy9UQ8N1ue/JW3X8PQ49AIu79KiWP8bM3
CVJyjNbsvHkoBHe47Iq6Y22GOMlPs6NxNS4vfekCgYEAqTWRvbyvxMuXf2Tlp4ch
IYYtT5rQQ89t+LPixQ9Ii238IgNn9OcdoEk54cUucGnxmjZXsnvb+5ESPnu1Rqyh
xUiQ3Pb2Pt2u/X1HtlroIbyGC3/w06eQ5Cx6eHmBJsEaqq+x5jMVOz72+anYyf7m
y9uVitDwqqJM+N6S/FY8EdkCgYB3F4QG0BzjpgxYGn9z1nHSsidysAjrVBXnfFJg
PuFPTbl1MvavYBz0QpYVRK4UnFH8GHIn6KWAwn4rT6l8umOCoG/ak4aTNd4lR4MB
+ImQtccSguSf1bZr+J9yKANSYCZk6EgsMHfcBgQR1Tl47Mzsj0BYliriXcsbe+uu
NZLfGQKBgQDDVocO8Acu3ouopHdz6de2NrvkmTyhqsv2YZro1neXiY4w6H4cMk8X
YL1vEV2DjF53g0y0WDLkSbhnS1ynWxXG4jKY87JwTRTN300F24ZqPlGXf6eCQZpn
yPk5V9ajlEFkjPK/gwDe3i9NmuC7YxpbPMM3aF+bYqT5KbLBLg3uwQ==
-----END RSA PRIVATE KEY-----
";
    const RSA_CREATED_FP: &str = "2b:65:91:2f:54:81:6c:e6:0c:33:3e:bc:33:82:44:f5:2c:f9:d2:e0";
    const RSA_IMPORTED_FP: &str = "85:73:f6:fc:ff:bd:c0:cc:ff:45:84:d9:3d:0c:fe:24";
    /// The same key's public half as `ssh-keygen -y` prints it.
    const RSA_OPENSSH: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDVd5Fq4ab/K1UJ4oiahXlUZSSOPbsAxhtjhKgBZ/GT3KODl3ZekmV9cNqQYpUbJGfwpz10GppyeCKTIOAyvJP2m7nnugUQRefQFUHfpPvLOMlLmdNy5zpz4grGwkNuY1RJwu5xKxRnmLsaA7u8h5XknAwnFB91nSOVa0oEwbm6cXXj8Nh7AaCPuv1vf0CbzR7nGBTiDvB8WREek3sJH9lMUXX1kH+Dv8m8BGPMFsqV6PDxUrK7S1rBVaCeAwGxCgepq7DjgxL7blmGZ0Qkg6a0gL4ZdNh8t/dNMhfI9ZDhbjc9C/48KhZEnAOSzwk2XYUbPm1Pqx5rUTYspqarDmix";
    /// An ED25519 key from `ssh-keygen -t ed25519`, its public line, and the SHA-256
    /// fingerprint `ssh-keygen -l` prints (unpadded; AWS adds the `=`).
    const ED_SEED_HEX: &str = "363f9e2a44a54de06b27c07530323608fada49e270e23539bf0e844b680be41c";
    const ED_OPENSSH: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICZpfJOIVZlxWz1hMvo/OW+Khz7iPQz5w30RyU/FelsV test";
    const ED_KEYGEN_FP: &str = "t3cE/AQIuBi9b1C2CPSuBjQEh/qUplNQ7wfUB/PVGpc";

    use crate::api::with_test_env as with_env;

    fn seed() -> [u8; 32] {
        let bytes: Vec<u8> =
            (0..64).step_by(2).map(|i| u8::from_str_radix(&ED_SEED_HEX[i..i + 2], 16).unwrap()).collect();
        bytes.try_into().unwrap()
    }

    #[test]
    fn rsa_fingerprints_follow_aws() {
        let key = RsaPrivateKey::from_pkcs1_pem(RSA_PEM).unwrap();
        let made = generated_rsa(&key, "k").unwrap();
        assert_eq!(made.public.fingerprint, RSA_CREATED_FP);
        assert!(made.material.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert_eq!(made.material, RSA_PEM.trim_end());
        let imported = parse_public_key(RSA_OPENSSH).unwrap();
        assert_eq!(imported.key_type, "rsa");
        assert_eq!(imported.fingerprint, RSA_IMPORTED_FP);
        assert_eq!(made.public.openssh.rsplit_once(' ').unwrap().0, imported.openssh.split(' ').take(2).collect::<Vec<_>>().join(" "));
        // The same key as PEM SubjectPublicKeyInfo and as RFC 4716.
        let spki = key.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        assert_eq!(parse_public_key(&spki).unwrap().fingerprint, RSA_IMPORTED_FP);
        let body = RSA_OPENSSH.split(' ').nth(1).unwrap();
        let rfc4716 = format!(
            "---- BEGIN SSH2 PUBLIC KEY ----\nComment: \"2048-bit RSA, converted\\\n by me\"\n{}\n---- END SSH2 PUBLIC KEY ----\n",
            body.as_bytes().chunks(70).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\n")
        );
        assert_eq!(parse_public_key(&rfc4716).unwrap().fingerprint, RSA_IMPORTED_FP);
    }

    #[test]
    fn ed25519_keys_match_openssh() {
        let made = generated_ed25519(&seed(), 0x01020304, "k");
        assert_eq!(made.public.fingerprint, format!("{ED_KEYGEN_FP}="));
        assert_eq!(made.public.openssh.rsplit_once(' ').unwrap().0, ED_OPENSSH.rsplit_once(' ').unwrap().0);
        assert!(made.material.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        let imported = parse_public_key(ED_OPENSSH).unwrap();
        assert_eq!(imported.fingerprint, made.public.fingerprint);
        assert_eq!(imported.key_type, "ed25519");
    }

    #[test]
    fn garbage_is_not_a_key() {
        for text in ["", "hello", "ssh-rsa", "ssh-rsa !!!", "ssh-dss AAAAB3NzaC1kc3MAAAA=", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA=="] {
            assert_eq!(parse_public_key(text).unwrap_err().code, "InvalidKey.Format", "{text}");
        }
    }

    #[test]
    fn import_describe_delete() {
        with_env(|env| {
            let material = b64(ED_OPENSSH.as_bytes());
            let out = import_key_pair(
                env,
                json!({"KeyName": "ed", "PublicKeyMaterial": material,
                       "TagSpecifications": [{"ResourceType": "key-pair", "Tags": [{"Key": "team", "Value": "a"}]}]}),
            )
            .unwrap();
            let id = out.str("KeyPairId").unwrap().to_string();
            assert!(ids::is_well_formed(&id, "key"));
            let dup = import_key_pair(env, json!({"KeyName": "ed", "PublicKeyMaterial": material})).unwrap_err();
            assert_eq!((dup.code.as_str(), dup.message.as_str()), ("InvalidKeyPair.Duplicate", "The keypair 'ed' already exists."));
            let bad = import_key_pair(env, json!({"KeyName": "x", "PublicKeyMaterial": b64(b"nope")})).unwrap_err();
            assert_eq!(bad.code, "InvalidKey.Format");
            import_key_pair(env, json!({"KeyName": "rsa", "PublicKeyMaterial": b64(RSA_OPENSSH.as_bytes())})).unwrap();
            assert!(exists(env, "ed") && exists(env, "rsa") && !exists(env, "nope"));

            let all = describe_key_pairs(env, json!({})).unwrap();
            assert_eq!(all["KeyPairs"].as_array().unwrap().len(), 2);
            assert!(all["KeyPairs"][0].get("PublicKey").is_none());
            let with_key = describe_key_pairs(env, json!({"KeyNames": ["ed"], "IncludePublicKey": true})).unwrap();
            assert_eq!(with_key["KeyPairs"][0]["PublicKey"], json!(ED_OPENSSH));
            let by_type = describe_key_pairs(env, json!({"Filters": [{"Name": "key-type", "Values": ["rsa"]}]})).unwrap();
            assert_eq!(by_type["KeyPairs"][0]["KeyFingerprint"], json!(RSA_IMPORTED_FP));
            let by_tag = describe_key_pairs(env, json!({"Filters": [{"Name": "tag:team", "Values": ["a"]}]})).unwrap();
            assert_eq!(by_tag["KeyPairs"][0]["KeyPairId"], json!(id));
            let err = describe_key_pairs(env, json!({"KeyNames": ["missing"]})).unwrap_err();
            assert_eq!(err.message, "The key pair 'missing' does not exist");

            let del = delete_key_pair(env, json!({"KeyPairId": id})).unwrap();
            assert_eq!(del, json!({"Return": true, "KeyPairId": id}));
            assert!(!exists(env, "ed"));
            assert_eq!(delete_key_pair(env, json!({"KeyName": "ed"})).unwrap()["Return"], json!(true));
            delete_key_pair(env, json!({"KeyName": "rsa"})).unwrap();
            assert!(describe_key_pairs(env, json!({})).unwrap()["KeyPairs"].as_array().unwrap().is_empty());
        });
    }

    #[test]
    fn create_ed25519_and_options() {
        with_env(|env| {
            let out = create_key_pair(env, json!({"KeyName": "e", "KeyType": "ed25519"})).unwrap();
            assert!(out.str("KeyMaterial").unwrap().starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
            assert_eq!(out.str("KeyFingerprint").unwrap().len(), 44);
            let stored = by_name(env, "e").unwrap();
            assert!(stored.get("KeyMaterial").is_none());
            assert!(!stored.to_string().contains("PRIVATE"));
            let dup = create_key_pair(env, json!({"KeyName": "e", "KeyType": "ed25519"})).unwrap_err();
            assert_eq!(dup.code, "InvalidKeyPair.Duplicate");
            let ppk = create_key_pair(env, json!({"KeyName": "p", "KeyFormat": "ppk"})).unwrap_err();
            assert_eq!(ppk.code, "InvalidParameterValue");
        });
    }
}
