//! Credentials of IAM users: access keys, console passwords (login profiles) under the account
//! password policy, virtual MFA devices (TOTP), SSH public keys, signing certificates, server
//! certificates and service-specific credentials.
//!
//! Secrets are created here, returned once and stored only sealed under the master key (secret
//! access keys, TOTP seeds, service passwords) or hashed (console passwords). Console
//! passwords are hashed with PBKDF2-HMAC-SHA256 at [`PBKDF2_ITERATIONS`] iterations (OWASP's
//! 2023 recommendation for this function): the design asks for argon2id, which is not in the
//! dependency set, while aws-lc-rs, already the crypto provider, has a vetted PBKDF2.

use std::num::NonZeroU32;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use aws_lc_rs::{hmac, pbkdf2};
use portcullis_aws::AwsError;
use portcullis_core::{Secret, id};
use portcullis_store::{Precondition, WriteOp, place_aad};

use super::identities::to_json;
use super::records::{
    self, MfaDeviceRecord, PasswordPolicy, ServerCertificateRecord, ServiceCredentialRecord,
    SigningCertificateRecord, SshKeyRecord, UserRecord, name_key,
};
use super::{
    Cx, Iam, Out, already_exists, delete, delete_conflict, err, input_tags, internal, new_id,
    no_such_entity, opt, opt_bool, paginate, path_matches, path_of, put, quota, req, tags_value,
};
use crate::keys::{self, AccessKeyRecord, KeyOwner, KeyStatus};

/// PBKDF2-HMAC-SHA256 iterations for console passwords.
pub const PBKDF2_ITERATIONS: u32 = 600_000;
const SERVICE_CREDENTIALS_PER_SERVICE: usize = 2;
/// TOTP (RFC 6238) time step.
const TOTP_STEP: u64 = 30;

fn user_missing(name: &str) -> String {
    format!("The user with name {name} cannot be found.")
}

/// Hashes a console password: `pbkdf2-sha256$ITERATIONS$SALT$HASH` (base64 parts).
pub fn hash_password(password: &str) -> String {
    let salt = id::random_bytes::<16>();
    let mut out = [0u8; 32];
    let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut out,
    );
    format!(
        "pbkdf2-sha256${PBKDF2_ITERATIONS}${}${}",
        B64.encode(salt),
        B64.encode(out)
    )
}

/// Checks `password` against a hash made by [`hash_password`], in constant time.
pub fn verify_password(hash: &str, password: &str) -> bool {
    let mut parts = hash.split('$');
    let (Some("pbkdf2-sha256"), Some(iterations), Some(salt), Some(expected)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(iterations), Ok(salt), Ok(expected)) = (
        iterations.parse::<u32>().ok().and_then(NonZeroU32::new),
        B64.decode(salt),
        B64.decode(expected),
    ) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &expected,
    )
    .is_ok()
}

/// The 6-digit TOTP code (RFC 6238 over HMAC-SHA1, RFC 4226 truncation) of `seed` at `step`.
pub fn totp(seed: &[u8], step: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, seed);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac
        .get(offset..offset + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_be_bytes(b) & 0x7fff_ffff);
    format!("{:06}", word % 1_000_000)
}

/// The step at which `code1` and `code2` are consecutive codes, searched in a window of ±5
/// minutes around `now_step` (AWS tolerates clock drift) and after `last_step` (a code is
/// never accepted twice).
fn consecutive_step(
    seed: &[u8],
    code1: &str,
    code2: &str,
    now_step: u64,
    last_step: u64,
) -> Option<u64> {
    let from = now_step.saturating_sub(10).max(last_step.saturating_add(1));
    (from..=now_step + 10).find(|&s| totp(seed, s) == code1 && totp(seed, s + 1) == code2)
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let i = usize::try_from((buffer >> bits) & 31).unwrap_or(0);
            out.push(char::from(ALPHABET.get(i).copied().unwrap_or(b'A')));
        }
    }
    if bits > 0 {
        let i = usize::try_from((buffer << (5 - bits)) & 31).unwrap_or(0);
        out.push(char::from(ALPHABET.get(i).copied().unwrap_or(b'A')));
    }
    out
}

/// The password policy AWS applies when the account has set none (IAM User Guide, "Default
/// password policy"): at least 8 characters and three of the four character types.
fn check_password(policy: Option<&PasswordPolicy>, password: &str) -> Result<(), AwsError> {
    let upper = password.chars().any(|c| c.is_ascii_uppercase());
    let lower = password.chars().any(|c| c.is_ascii_lowercase());
    let digit = password.chars().any(|c| c.is_ascii_digit());
    let symbol = password.chars().any(|c| "!@#$%^&*()_+-=[]{}|'".contains(c));
    let ok = match policy {
        None => {
            password.chars().count() >= 8
                && [upper, lower, digit, symbol].iter().filter(|b| **b).count() >= 3
        }
        Some(p) => {
            i64::try_from(password.chars().count()).unwrap_or(i64::MAX) >= p.minimum_password_length
                && (!p.require_uppercase_characters || upper)
                && (!p.require_lowercase_characters || lower)
                && (!p.require_numbers || digit)
                && (!p.require_symbols || symbol)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(err(
            "PasswordPolicyViolation",
            400,
            "Password does not conform to the account password policy.",
        ))
    }
}

fn key_value(k: &AccessKeyRecord, user: Option<&str>) -> Value {
    json!({"UserName": user, "AccessKeyId": k.access_key_id,
           "Status": if k.status == KeyStatus::Active { "Active" } else { "Inactive" },
           "CreateDate": k.create_date})
}

fn ssh_value(k: &SshKeyRecord, full: bool) -> Value {
    let mut v = json!({"UserName": k.user_name, "SSHPublicKeyId": k.ssh_public_key_id,
                       "Status": k.status, "UploadDate": k.upload_date});
    if full {
        super::set(&mut v, "Fingerprint", json!(k.fingerprint));
        super::set(&mut v, "SSHPublicKeyBody", json!(k.ssh_public_key_body));
    }
    v
}

fn cert_value(c: &SigningCertificateRecord) -> Value {
    json!({"UserName": c.user_name, "CertificateId": c.certificate_id,
           "CertificateBody": c.certificate_body, "Status": c.status, "UploadDate": c.upload_date})
}

fn server_cert_meta(c: &ServerCertificateRecord) -> Value {
    json!({"Path": c.path, "ServerCertificateName": c.server_certificate_name,
           "ServerCertificateId": c.server_certificate_id, "Arn": c.arn, "UploadDate": c.upload_date})
}

fn service_cred_value(c: &ServiceCredentialRecord) -> Value {
    json!({"UserName": c.user_name, "Status": c.status, "ServiceUserName": c.service_user_name,
           "CreateDate": c.create_date, "ServiceSpecificCredentialId": c.service_specific_credential_id,
           "ServiceName": c.service_name})
}

fn status_of(input: &Value) -> Result<&str, AwsError> {
    req(input, "Status")
}

/// An uppercase alphanumeric id of `len` characters (signing certificate ids).
fn alnum_id(len: usize) -> String {
    id::unique_id("")
        .chars()
        .chain(id::unique_id("").chars())
        .chain(id::unique_id("").chars())
        .take(len)
        .collect()
}

impl Iam {
    /// Dispatches the credential actions; `None` for other actions.
    pub(crate) async fn credentials(
        &self,
        cx: &Cx<'_>,
        action: &str,
        input: &Value,
    ) -> Option<Out> {
        Some(match action {
            "CreateAccessKey" => self.create_access_key(cx, input).await,
            "ListAccessKeys" => self.list_access_keys(cx, input).await,
            "UpdateAccessKey" => self.update_access_key(cx, input).await,
            "DeleteAccessKey" => self.delete_access_key(cx, input).await,
            "GetAccessKeyLastUsed" => self.get_access_key_last_used(cx, input).await,
            "CreateLoginProfile" => self.create_login_profile(cx, input).await,
            "GetLoginProfile" => self.get_login_profile(cx, input).await,
            "UpdateLoginProfile" => self.update_login_profile(cx, input).await,
            "DeleteLoginProfile" => self.delete_login_profile(cx, input).await,
            "ChangePassword" => self.change_password(cx, input).await,
            "CreateVirtualMFADevice" => self.create_virtual_mfa_device(cx, input).await,
            "EnableMFADevice" => self.enable_mfa_device(cx, input).await,
            "ResyncMFADevice" => self.resync_mfa_device(cx, input).await,
            "DeactivateMFADevice" => self.deactivate_mfa_device(cx, input).await,
            "DeleteVirtualMFADevice" => self.delete_virtual_mfa_device(cx, input).await,
            "ListMFADevices" => self.list_mfa_devices(cx, input).await,
            "ListVirtualMFADevices" => self.list_virtual_mfa_devices(cx, input).await,
            "GetMFADevice" => self.get_mfa_device(cx, input).await,
            "TagMFADevice" => {
                self.tag::<MfaDeviceRecord>(cx, input, "SerialNumber", |r| &mut r.tags)
                    .await
            }
            "UntagMFADevice" => {
                self.untag::<MfaDeviceRecord>(cx, input, "SerialNumber", |r| &mut r.tags)
                    .await
            }
            "ListMFADeviceTags" => {
                self.tags_of::<MfaDeviceRecord>(cx, input, "SerialNumber", |r| &mut r.tags)
                    .await
            }
            "UploadSSHPublicKey" => self.upload_ssh_public_key(cx, input).await,
            "GetSSHPublicKey" => self.get_ssh_public_key(cx, input).await,
            "ListSSHPublicKeys" => self.list_ssh_public_keys(cx, input).await,
            "UpdateSSHPublicKey" => self.update_ssh_public_key(cx, input).await,
            "DeleteSSHPublicKey" => self.delete_ssh_public_key(cx, input).await,
            "UploadSigningCertificate" => self.upload_signing_certificate(cx, input).await,
            "ListSigningCertificates" => self.list_signing_certificates(cx, input).await,
            "UpdateSigningCertificate" => self.update_signing_certificate(cx, input).await,
            "DeleteSigningCertificate" => self.delete_signing_certificate(cx, input).await,
            "UploadServerCertificate" => self.upload_server_certificate(cx, input).await,
            "GetServerCertificate" => self.get_server_certificate(cx, input).await,
            "ListServerCertificates" => self.list_server_certificates(cx, input).await,
            "UpdateServerCertificate" => self.update_server_certificate(cx, input).await,
            "DeleteServerCertificate" => self.delete_server_certificate(cx, input).await,
            "TagServerCertificate" => {
                self.tag::<ServerCertificateRecord>(cx, input, "ServerCertificateName", |r| {
                    &mut r.tags
                })
                .await
            }
            "UntagServerCertificate" => {
                self.untag::<ServerCertificateRecord>(cx, input, "ServerCertificateName", |r| {
                    &mut r.tags
                })
                .await
            }
            "ListServerCertificateTags" => {
                self.tags_of::<ServerCertificateRecord>(cx, input, "ServerCertificateName", |r| {
                    &mut r.tags
                })
                .await
            }
            "CreateServiceSpecificCredential" => self.create_service_credential(cx, input).await,
            "ListServiceSpecificCredentials" => self.list_service_credentials(cx, input).await,
            "ResetServiceSpecificCredential" => self.reset_service_credential(cx, input).await,
            "UpdateServiceSpecificCredential" => self.update_service_credential(cx, input).await,
            "DeleteServiceSpecificCredential" => self.delete_service_credential(cx, input).await,
            _ => return None,
        })
    }

    /// The user named by `UserName`, or the calling IAM user; `None` for the root user.
    async fn target_user(
        &self,
        cx: &Cx<'_>,
        input: &Value,
    ) -> Result<Option<(UserRecord, i64)>, AwsError> {
        let name = match opt(input, "UserName") {
            Some(n) => n.to_owned(),
            None => match cx.ctx.principal.user_name() {
                Some(n) => n.to_owned(),
                None => return Ok(None),
            },
        };
        self.must::<UserRecord>(cx, &name_key(&name), || user_missing(&name))
            .await
            .map(Some)
    }

    /// Like [`Self::target_user`], but the root user is refused (credentials of IAM users only).
    async fn iam_user(&self, cx: &Cx<'_>, input: &Value) -> Result<(UserRecord, i64), AwsError> {
        self.target_user(cx, input).await?.ok_or_else(|| {
            err(
                "ValidationError",
                400,
                "Must specify userName when calling with non-User credentials",
            )
        })
    }

    // ----- access keys -----

    async fn create_access_key(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let target = self.target_user(cx, input).await?;
        let key_id = id::access_key_id(id::prefix::ACCESS_KEY);
        let secret = Secret::new(id::secret_access_key());
        let (owner, user_name) = match &target {
            Some((u, _)) => (
                KeyOwner::User {
                    name: u.user_name.clone(),
                    user_id: u.user_id.clone(),
                    path: u.path.clone(),
                },
                Some(u.user_name.clone()),
            ),
            None => (KeyOwner::Root, None),
        };
        let record = AccessKeyRecord::seal(
            &self.master,
            key_id.clone(),
            cx.account.clone(),
            owner,
            cx.now.clone(),
            &secret,
        )
        .map_err(internal)?;
        let mut ops = vec![WriteOp::put(
            keys::KIND,
            "",
            key_id.clone(),
            to_json(&record)?,
            Precondition::Absent,
        )];
        match target {
            Some((mut user, version)) => {
                if user.access_keys.len() >= self.quotas.access_keys_per_user {
                    return Err(quota("AccessKeysPerUser", self.quotas.access_keys_per_user));
                }
                user.access_keys.push(key_id.clone());
                ops.push(put(cx, &user, Precondition::Version(version))?);
            }
            None => {
                if self.root_keys(cx).await?.len() >= self.quotas.access_keys_per_user {
                    return Err(quota("AccessKeysPerUser", self.quotas.access_keys_per_user));
                }
            }
        }
        self.write(ops).await?;
        let mut v = key_value(&record, user_name.as_deref());
        super::set(&mut v, "SecretAccessKey", json!(secret.expose()));
        Ok(json!({"AccessKey": v}))
    }

    async fn root_keys(&self, cx: &Cx<'_>) -> Result<Vec<AccessKeyRecord>, AwsError> {
        let page = self
            .store()
            .list(portcullis_store::ListQuery::all(keys::KIND, ""))
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(page
            .items
            .into_iter()
            .filter_map(|i| serde_json::from_value::<AccessKeyRecord>(i.value).ok())
            .filter(|k| k.account == *cx.account && k.owner == KeyOwner::Root)
            .collect())
    }

    /// The keys of the target user (or root), checked to contain `key_id` when given.
    async fn keys_of(
        &self,
        cx: &Cx<'_>,
        input: &Value,
    ) -> Result<(Option<(UserRecord, i64)>, Vec<AccessKeyRecord>), AwsError> {
        let target = self.target_user(cx, input).await?;
        let keys = match &target {
            Some((u, _)) => {
                let mut keys = Vec::new();
                for id in &u.access_keys {
                    if let Some(k) = self.access_key(id).await? {
                        keys.push(k);
                    }
                }
                keys
            }
            None => self.root_keys(cx).await?,
        };
        Ok((target, keys))
    }

    async fn list_access_keys(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (target, keys) = self.keys_of(cx, input).await?;
        let name = target.as_ref().map(|(u, _)| u.user_name.as_str());
        let items = keys
            .iter()
            .map(|k| (k.access_key_id.clone(), key_value(k, name)))
            .collect();
        Ok(paginate("AccessKeyMetadata", items, input))
    }

    async fn one_key(
        &self,
        cx: &Cx<'_>,
        input: &Value,
    ) -> Result<(Option<(UserRecord, i64)>, AccessKeyRecord), AwsError> {
        let key_id = req(input, "AccessKeyId")?;
        let (target, keys) = self.keys_of(cx, input).await?;
        let key = keys
            .into_iter()
            .find(|k| k.access_key_id == key_id)
            .ok_or_else(|| {
                no_such_entity(format!("The Access Key with id {key_id} cannot be found"))
            })?;
        Ok((target, key))
    }

    async fn update_access_key(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (_, mut key) = self.one_key(cx, input).await?;
        key.status = if status_of(input)? == "Active" {
            KeyStatus::Active
        } else {
            KeyStatus::Inactive
        };
        self.write(vec![WriteOp::put(
            keys::KIND,
            "",
            key.access_key_id.clone(),
            to_json(&key)?,
            Precondition::Exists,
        )])
        .await?;
        self.auth.forget(&key.access_key_id);
        Ok(json!({}))
    }

    async fn delete_access_key(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (target, key) = self.one_key(cx, input).await?;
        let mut ops = vec![
            WriteOp::delete(keys::KIND, "", key.access_key_id.clone(), Precondition::Any),
            WriteOp::delete(
                records::ACCESS_KEY_USED,
                "",
                key.access_key_id.clone(),
                Precondition::Any,
            ),
            keys::retire(&key.access_key_id),
        ];
        if let Some((mut user, version)) = target {
            user.access_keys.retain(|k| *k != key.access_key_id);
            ops.push(put(cx, &user, Precondition::Version(version))?);
        }
        self.write(ops).await?;
        self.auth.forget(&key.access_key_id);
        Ok(json!({}))
    }

    async fn get_access_key_last_used(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let key_id = req(input, "AccessKeyId")?;
        let key = self
            .access_key(key_id)
            .await?
            .filter(|k| k.account == *cx.account)
            .ok_or_else(|| {
                no_such_entity(format!("The Access Key with id {key_id} cannot be found"))
            })?;
        let used = records::access_key_last_used(self.store(), key_id)
            .await
            .map_err(internal)?;
        let last = match used {
            Some(u) => {
                json!({"LastUsedDate": u.last_used_date, "ServiceName": u.service_name, "Region": u.region})
            }
            None => json!({"ServiceName": "N/A", "Region": "N/A"}),
        };
        let user = match &key.owner {
            KeyOwner::User { name, .. } => Some(name.clone()),
            KeyOwner::Root => None,
        };
        Ok(json!({"UserName": user, "AccessKeyLastUsed": last}))
    }

    // ----- login profiles -----

    async fn create_login_profile(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut user, version) = self.iam_user(cx, input).await?;
        let password = req(input, "Password")?;
        if user.login_profile.is_some() {
            return Err(already_exists(format!(
                "Login Profile for user {} already exists.",
                user.user_name
            )));
        }
        let (settings, _) = records::load_settings(self.store(), cx.account)
            .await
            .map_err(internal)?;
        check_password(settings.password_policy.as_ref(), password)?;
        let reset = opt_bool(input, "PasswordResetRequired").unwrap_or(false);
        user.login_profile = Some(records::LoginProfile {
            create_date: cx.now.clone(),
            password_reset_required: reset,
            password_hash: hash_password(password),
            password_last_changed: cx.now.clone(),
            previous_hashes: Vec::new(),
        });
        self.write(vec![put(cx, &user, Precondition::Version(version))?])
            .await?;
        Ok(
            json!({"LoginProfile": {"UserName": user.user_name, "CreateDate": cx.now, "PasswordResetRequired": reset}}),
        )
    }

    async fn get_login_profile(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (user, _) = self.iam_user(cx, input).await?;
        let p = user.login_profile.as_ref().ok_or_else(|| {
            no_such_entity(format!(
                "Login Profile for User {} cannot be found.",
                user.user_name
            ))
        })?;
        Ok(
            json!({"LoginProfile": {"UserName": user.user_name, "CreateDate": p.create_date,
                                   "PasswordResetRequired": p.password_reset_required}}),
        )
    }

    async fn set_password(
        &self,
        cx: &Cx<'_>,
        user: &mut UserRecord,
        password: &str,
    ) -> Result<(), AwsError> {
        let (settings, _) = records::load_settings(self.store(), cx.account)
            .await
            .map_err(internal)?;
        check_password(settings.password_policy.as_ref(), password)?;
        let reuse = settings
            .password_policy
            .as_ref()
            .and_then(|p| p.password_reuse_prevention)
            .unwrap_or(0);
        let Some(p) = user.login_profile.as_mut() else {
            return Err(no_such_entity(format!(
                "Login Profile for User {} cannot be found.",
                user.user_name
            )));
        };
        let keep = usize::try_from(reuse).unwrap_or(0);
        if keep > 0
            && std::iter::once(&p.password_hash)
                .chain(p.previous_hashes.iter())
                .take(keep)
                .any(|h| verify_password(h, password))
        {
            return Err(err(
                "PasswordPolicyViolation",
                400,
                "Policy constraint violation with password reuse prevention during password change.",
            ));
        }
        let old = std::mem::replace(&mut p.password_hash, hash_password(password));
        p.previous_hashes.insert(0, old);
        p.previous_hashes.truncate(24);
        p.password_last_changed.clone_from(&cx.now);
        Ok(())
    }

    async fn update_login_profile(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut user, version) = self.iam_user(cx, input).await?;
        if user.login_profile.is_none() {
            return Err(no_such_entity(format!(
                "Login Profile for User {} cannot be found.",
                user.user_name
            )));
        }
        if let Some(password) = opt(input, "Password") {
            self.set_password(cx, &mut user, password).await?;
        }
        if let (Some(reset), Some(p)) = (
            opt_bool(input, "PasswordResetRequired"),
            user.login_profile.as_mut(),
        ) {
            p.password_reset_required = reset;
        }
        self.write(vec![put(cx, &user, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn delete_login_profile(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut user, version) = self.iam_user(cx, input).await?;
        if user.login_profile.take().is_none() {
            return Err(no_such_entity(format!(
                "Login Profile for User {} cannot be found.",
                user.user_name
            )));
        }
        self.write(vec![put(cx, &user, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    /// `ChangePassword`: an IAM user changes its own password (root cannot: `InvalidUserType`).
    async fn change_password(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let Some(name) = cx.ctx.principal.user_name().map(str::to_owned) else {
            return Err(err(
                "InvalidUserType",
                400,
                "Only IAM Users can change their own password.",
            ));
        };
        let (mut user, version) = self
            .must::<UserRecord>(cx, &name_key(&name), || user_missing(&name))
            .await?;
        let old = req(input, "OldPassword")?;
        let new = req(input, "NewPassword")?;
        let (settings, _) = records::load_settings(self.store(), cx.account)
            .await
            .map_err(internal)?;
        if settings
            .password_policy
            .as_ref()
            .is_some_and(|p| !p.allow_users_to_change_password)
        {
            return Err(err(
                "AccessDenied",
                403,
                format!(
                    "User: {} is not authorized to perform: iam:ChangePassword",
                    user.arn
                ),
            ));
        }
        let valid = user
            .login_profile
            .as_ref()
            .is_some_and(|p| verify_password(&p.password_hash, old));
        if !valid {
            return Err(err(
                "InvalidUserType",
                400,
                "The old password is incorrect.",
            ));
        }
        self.set_password(cx, &mut user, new).await?;
        if let Some(p) = user.login_profile.as_mut() {
            p.password_reset_required = false;
        }
        self.write(vec![put(cx, &user, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    // ----- virtual MFA devices -----

    fn mfa_aad(cx: &Cx<'_>, serial: &str) -> Vec<u8> {
        place_aad(records::MFA, cx.acct(), serial)
    }

    async fn create_virtual_mfa_device(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "VirtualMFADeviceName")?;
        let path = path_of(input);
        let tags = input_tags(input)?;
        if self
            .get::<MfaDeviceRecord>(cx, &name_key(name))
            .await?
            .is_some()
        {
            return Err(already_exists(
                "MFADevice entity at the same path and name already exists.",
            ));
        }
        let serial = cx.arn(&format!("mfa{path}{name}"));
        let seed = Secret::new(id::random_bytes::<20>().to_vec());
        let sealed = self
            .master
            .seal(seed.expose(), &Self::mfa_aad(cx, &serial))
            .map_err(|e| internal(e.into()))?;
        let device = MfaDeviceRecord {
            serial_number: serial.clone(),
            name: name.to_owned(),
            path,
            sealed_seed: B64.encode(sealed),
            user_name: None,
            enable_date: None,
            last_step: 0,
            tags,
        };
        self.write(vec![put(cx, &device, Precondition::Absent)?])
            .await?;
        // Base32StringSeed is a blob: the base32 text, base64-encoded on the wire.
        let seed_text = Secret::new(base32(seed.expose()));
        let mut v =
            json!({"SerialNumber": serial, "Base32StringSeed": B64.encode(seed_text.expose())});
        if !device.tags.is_empty() {
            super::set(&mut v, "Tags", tags_value(&device.tags));
        }
        Ok(json!({"VirtualMFADevice": v}))
    }

    fn seed(&self, cx: &Cx<'_>, device: &MfaDeviceRecord) -> Result<Secret<Vec<u8>>, AwsError> {
        let sealed = B64.decode(&device.sealed_seed).map_err(|e| {
            internal(crate::IamError::corrupt(
                records::MFA,
                &device.serial_number,
                e,
            ))
        })?;
        self.master
            .open(&sealed, &Self::mfa_aad(cx, &device.serial_number))
            .map_err(|e| internal(e.into()))
    }

    async fn device(&self, cx: &Cx<'_>, serial: &str) -> Result<(MfaDeviceRecord, i64), AwsError> {
        let key = super::identities::arn_key::<MfaDeviceRecord>(serial);
        match self.get::<MfaDeviceRecord>(cx, &key).await? {
            Some((d, v)) if d.serial_number == serial => Ok((d, v)),
            _ => Err(no_such_entity(format!(
                "VirtualMFADevice with serial number {serial} doesn't exist."
            ))),
        }
    }

    fn check_codes(
        &self,
        cx: &Cx<'_>,
        device: &mut MfaDeviceRecord,
        input: &Value,
    ) -> Result<(), AwsError> {
        let code1 = req(input, "AuthenticationCode1")?;
        let code2 = req(input, "AuthenticationCode2")?;
        let seed = self.seed(cx, device)?;
        let now_step = cx
            .at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            / TOTP_STEP;
        let step = consecutive_step(seed.expose(), code1, code2, now_step, device.last_step)
            .ok_or_else(|| {
                err(
                    "InvalidAuthenticationCode",
                    403,
                    "Authentication code for device is not valid.",
                )
            })?;
        device.last_step = step + 1;
        Ok(())
    }

    async fn enable_mfa_device(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "UserName")?;
        let serial = req(input, "SerialNumber")?;
        let (mut user, user_version) = self
            .must::<UserRecord>(cx, &name_key(name), || user_missing(name))
            .await?;
        let (mut device, version) = self.device(cx, serial).await?;
        if device.user_name.is_some() {
            return Err(already_exists("MFA Device is already in use."));
        }
        if user.mfa_devices.len() >= self.quotas.mfa_devices_per_user {
            return Err(quota("MFADevicesPerUser", self.quotas.mfa_devices_per_user));
        }
        self.check_codes(cx, &mut device, input)?;
        device.user_name = Some(user.user_name.clone());
        device.enable_date = Some(cx.now.clone());
        user.mfa_devices.push(serial.to_owned());
        self.write(vec![
            put(cx, &device, Precondition::Version(version))?,
            put(cx, &user, Precondition::Version(user_version))?,
        ])
        .await?;
        Ok(json!({}))
    }

    async fn resync_mfa_device(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "UserName")?;
        let serial = req(input, "SerialNumber")?;
        self.must::<UserRecord>(cx, &name_key(name), || user_missing(name))
            .await?;
        let (mut device, version) = self.device(cx, serial).await?;
        if device.user_name.as_deref().map(name_key) != Some(name_key(name)) {
            return Err(no_such_entity(format!(
                "MFA Device with serial number {serial} does not exist."
            )));
        }
        self.check_codes(cx, &mut device, input)?;
        self.write(vec![put(cx, &device, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn deactivate_mfa_device(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let serial = req(input, "SerialNumber")?;
        let (mut user, user_version) = self.iam_user(cx, input).await?;
        let (mut device, version) = self.device(cx, serial).await?;
        if !user.mfa_devices.iter().any(|s| s == serial) {
            return Err(no_such_entity(format!(
                "MFA Device with serial number {serial} does not exist."
            )));
        }
        user.mfa_devices.retain(|s| s != serial);
        device.user_name = None;
        device.enable_date = None;
        self.write(vec![
            put(cx, &device, Precondition::Version(version))?,
            put(cx, &user, Precondition::Version(user_version))?,
        ])
        .await?;
        Ok(json!({}))
    }

    async fn delete_virtual_mfa_device(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let serial = req(input, "SerialNumber")?;
        let (device, version) = self.device(cx, serial).await?;
        if device.user_name.is_some() {
            return Err(delete_conflict(
                "MFA Device must be deactivated before deletion.",
            ));
        }
        self.write(vec![delete::<MfaDeviceRecord>(
            cx,
            &name_key(&device.name),
            version,
        )])
        .await?;
        Ok(json!({}))
    }

    async fn list_mfa_devices(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let Some((user, _)) = self.target_user(cx, input).await? else {
            return Ok(paginate("MFADevices", Vec::new(), input));
        };
        let mut items = Vec::new();
        for serial in &user.mfa_devices {
            if let Ok((d, _)) = self.device(cx, serial).await {
                items.push((serial.clone(), json!({"UserName": user.user_name, "SerialNumber": serial, "EnableDate": d.enable_date})));
            }
        }
        Ok(paginate("MFADevices", items, input))
    }

    async fn list_virtual_mfa_devices(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let status = opt(input, "AssignmentStatus").unwrap_or("Any");
        let mut items = Vec::new();
        for d in self.all::<MfaDeviceRecord>(cx, "").await? {
            let assigned = d.user_name.is_some();
            if (status == "Assigned" && !assigned) || (status == "Unassigned" && assigned) {
                continue;
            }
            let mut v = json!({"SerialNumber": d.serial_number, "EnableDate": d.enable_date});
            if let Some(name) = &d.user_name
                && let Some((u, _)) = self.get::<UserRecord>(cx, &name_key(name)).await?
            {
                super::set(&mut v, "User", super::identities::user_value(&u, false));
            }
            if !d.tags.is_empty() {
                super::set(&mut v, "Tags", tags_value(&d.tags));
            }
            items.push((d.serial_number.clone(), v));
        }
        Ok(paginate("VirtualMFADevices", items, input))
    }

    async fn get_mfa_device(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let serial = req(input, "SerialNumber")?;
        let (d, _) = self.device(cx, serial).await?;
        Ok(
            json!({"UserName": d.user_name, "SerialNumber": d.serial_number, "EnableDate": d.enable_date}),
        )
    }

    // ----- SSH public keys -----

    async fn upload_ssh_public_key(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (user, _) = self.iam_user(cx, input).await?;
        let body = req(input, "SSHPublicKeyBody")?.trim().to_owned();
        let mut parts = body.split_whitespace();
        let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
            return Err(err(
                "UnrecognizedPublicKeyEncoding",
                400,
                "Unrecognized public key encoding.",
            ));
        };
        let Ok(raw) = B64.decode(blob) else {
            return Err(err(
                "UnrecognizedPublicKeyEncoding",
                400,
                "Unrecognized public key encoding.",
            ));
        };
        if !matches!(kind, "ssh-rsa" | "ssh-ed25519") && !kind.starts_with("ecdsa-sha2-") {
            return Err(err("InvalidPublicKey", 400, "The public key is not valid."));
        }
        let prefix = format!("{}/", name_key(&user.user_name));
        let existing = self.all::<SshKeyRecord>(cx, &prefix).await?;
        if existing.iter().any(|k| k.ssh_public_key_body == body) {
            return Err(err(
                "DuplicateSSHPublicKey",
                400,
                "The public key is already associated with this user.",
            ));
        }
        if existing.len() >= self.quotas.ssh_public_keys_per_user {
            return Err(quota(
                "KeyPairsPerUser",
                self.quotas.ssh_public_keys_per_user,
            ));
        }
        // AWS shows an MD5 fingerprint; MD5 is not in the crypto provider, so the first 16
        // bytes of the SHA-256 digest are shown in the same colon-separated form.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &raw);
        let fingerprint = digest
            .as_ref()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let key = SshKeyRecord {
            user_name: user.user_name.clone(),
            ssh_public_key_id: new_id("APKA"),
            fingerprint,
            ssh_public_key_body: body,
            status: "Active".to_owned(),
            upload_date: cx.now.clone(),
        };
        self.write(vec![put(cx, &key, Precondition::Absent)?])
            .await?;
        Ok(json!({"SSHPublicKey": ssh_value(&key, true)}))
    }

    async fn ssh_key(&self, cx: &Cx<'_>, input: &Value) -> Result<(SshKeyRecord, i64), AwsError> {
        let (user, _) = self.iam_user(cx, input).await?;
        let id = req(input, "SSHPublicKeyId")?;
        self.must::<SshKeyRecord>(cx, &format!("{}/{id}", name_key(&user.user_name)), || {
            format!("The Public Key with id {id} cannot be found.")
        })
        .await
    }

    async fn get_ssh_public_key(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (key, _) = self.ssh_key(cx, input).await?;
        Ok(json!({"SSHPublicKey": ssh_value(&key, true)}))
    }

    async fn list_ssh_public_keys(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let prefix = match self.target_user(cx, input).await? {
            Some((u, _)) => format!("{}/", name_key(&u.user_name)),
            None => String::new(),
        };
        let items = self
            .all::<SshKeyRecord>(cx, &prefix)
            .await?
            .iter()
            .map(|k| (k.store_id_pub(), ssh_value(k, false)))
            .collect();
        Ok(paginate("SSHPublicKeys", items, input))
    }

    async fn update_ssh_public_key(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut key, version) = self.ssh_key(cx, input).await?;
        status_of(input)?.clone_into(&mut key.status);
        self.write(vec![put(cx, &key, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn delete_ssh_public_key(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (key, version) = self.ssh_key(cx, input).await?;
        self.write(vec![delete::<SshKeyRecord>(
            cx,
            &key.store_id_pub(),
            version,
        )])
        .await?;
        Ok(json!({}))
    }

    // ----- signing certificates -----

    async fn upload_signing_certificate(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (user, _) = self.iam_user(cx, input).await?;
        let body = req(input, "CertificateBody")?;
        check_pem(body)?;
        let prefix = format!("{}/", name_key(&user.user_name));
        let existing = self.all::<SigningCertificateRecord>(cx, &prefix).await?;
        if existing
            .iter()
            .any(|c| c.certificate_body.trim() == body.trim())
        {
            return Err(err(
                "DuplicateCertificate",
                409,
                "The request was rejected because the same certificate is associated with an IAM user in the account.",
            ));
        }
        if existing.len() >= self.quotas.signing_certificates_per_user {
            return Err(quota(
                "SigningCertificatesPerUser",
                self.quotas.signing_certificates_per_user,
            ));
        }
        let cert = SigningCertificateRecord {
            user_name: user.user_name.clone(),
            certificate_id: alnum_id(32),
            certificate_body: body.to_owned(),
            status: "Active".to_owned(),
            upload_date: cx.now.clone(),
        };
        self.write(vec![put(cx, &cert, Precondition::Absent)?])
            .await?;
        Ok(json!({"Certificate": cert_value(&cert)}))
    }

    async fn signing_cert(
        &self,
        cx: &Cx<'_>,
        input: &Value,
    ) -> Result<(SigningCertificateRecord, i64), AwsError> {
        let (user, _) = self.iam_user(cx, input).await?;
        let id = req(input, "CertificateId")?;
        self.must::<SigningCertificateRecord>(
            cx,
            &format!("{}/{id}", name_key(&user.user_name)),
            || format!("The Certificate with id {id} cannot be found."),
        )
        .await
    }

    async fn list_signing_certificates(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let prefix = match self.target_user(cx, input).await? {
            Some((u, _)) => format!("{}/", name_key(&u.user_name)),
            None => return Ok(paginate("Certificates", Vec::new(), input)),
        };
        let items = self
            .all::<SigningCertificateRecord>(cx, &prefix)
            .await?
            .iter()
            .map(|c| (c.certificate_id.clone(), cert_value(c)))
            .collect();
        Ok(paginate("Certificates", items, input))
    }

    async fn update_signing_certificate(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut cert, version) = self.signing_cert(cx, input).await?;
        status_of(input)?.clone_into(&mut cert.status);
        self.write(vec![put(cx, &cert, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn delete_signing_certificate(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (cert, version) = self.signing_cert(cx, input).await?;
        let id = format!("{}/{}", name_key(&cert.user_name), cert.certificate_id);
        self.write(vec![delete::<SigningCertificateRecord>(cx, &id, version)])
            .await?;
        Ok(json!({}))
    }

    // ----- server certificates -----

    async fn upload_server_certificate(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "ServerCertificateName")?;
        let body = req(input, "CertificateBody")?;
        check_pem(body)?;
        if !req(input, "PrivateKey")?.contains("PRIVATE KEY-----") {
            return Err(err(
                "MalformedCertificate",
                400,
                "Unable to parse private key.",
            ));
        }
        let path = path_of(input);
        let tags = input_tags(input)?;
        if self
            .get::<ServerCertificateRecord>(cx, &name_key(name))
            .await?
            .is_some()
        {
            return Err(already_exists(format!(
                "The Server Certificate with name {name} already exists."
            )));
        }
        // The private key is never returned by IAM, so it is not kept.
        let cert = ServerCertificateRecord {
            server_certificate_name: name.to_owned(),
            server_certificate_id: new_id("ASCA"),
            arn: cx.arn(&format!("server-certificate{path}{name}")),
            path,
            upload_date: cx.now.clone(),
            certificate_body: body.to_owned(),
            certificate_chain: opt(input, "CertificateChain").map(str::to_owned),
            tags,
        };
        self.create_counted(cx, &cert).await?;
        let mut out = json!({"ServerCertificateMetadata": server_cert_meta(&cert)});
        if !cert.tags.is_empty() {
            super::set(&mut out, "Tags", tags_value(&cert.tags));
        }
        Ok(out)
    }

    async fn server_cert(
        &self,
        cx: &Cx<'_>,
        name: &str,
    ) -> Result<(ServerCertificateRecord, i64), AwsError> {
        self.must::<ServerCertificateRecord>(cx, &name_key(name), || {
            format!("The Server Certificate with name {name} cannot be found.")
        })
        .await
    }

    async fn get_server_certificate(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (c, _) = self
            .server_cert(cx, req(input, "ServerCertificateName")?)
            .await?;
        let mut v = json!({"ServerCertificateMetadata": server_cert_meta(&c), "CertificateBody": c.certificate_body,
                           "CertificateChain": c.certificate_chain});
        if !c.tags.is_empty() {
            super::set(&mut v, "Tags", tags_value(&c.tags));
        }
        Ok(json!({"ServerCertificate": v}))
    }

    async fn list_server_certificates(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let items = self
            .all::<ServerCertificateRecord>(cx, "")
            .await?
            .iter()
            .filter(|c| path_matches(&c.path, input))
            .map(|c| (name_key(&c.server_certificate_name), server_cert_meta(c)))
            .collect();
        Ok(paginate("ServerCertificateMetadataList", items, input))
    }

    async fn update_server_certificate(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "ServerCertificateName")?;
        let (mut c, version) = self.server_cert(cx, name).await?;
        let new_name = opt(input, "NewServerCertificateName")
            .unwrap_or(name)
            .to_owned();
        let new_path = opt(input, "NewPath").unwrap_or(&c.path).to_owned();
        let renamed = name_key(&new_name) != name_key(name);
        if renamed
            && self
                .get::<ServerCertificateRecord>(cx, &name_key(&new_name))
                .await?
                .is_some()
        {
            return Err(already_exists(format!(
                "The Server Certificate with name {new_name} already exists."
            )));
        }
        c.server_certificate_name.clone_from(&new_name);
        c.arn = cx.arn(&format!("server-certificate{new_path}{new_name}"));
        c.path = new_path;
        let ops = if renamed {
            vec![
                delete::<ServerCertificateRecord>(cx, &name_key(name), version),
                put(cx, &c, Precondition::Absent)?,
            ]
        } else {
            vec![put(cx, &c, Precondition::Version(version))?]
        };
        self.write(ops).await?;
        Ok(json!({}))
    }

    async fn delete_server_certificate(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let name = req(input, "ServerCertificateName")?;
        let (_, version) = self.server_cert(cx, name).await?;
        self.delete_counted::<ServerCertificateRecord>(cx, &name_key(name), version)
            .await?;
        Ok(json!({}))
    }

    // ----- service-specific credentials -----

    fn service_aad(cx: &Cx<'_>, id: &str) -> Vec<u8> {
        place_aad(records::SERVICE_CREDENTIAL, cx.acct(), id)
    }

    async fn create_service_credential(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (user, _) = self.iam_user(cx, input).await?;
        let service = req(input, "ServiceName")?;
        if !matches!(
            service,
            "codecommit.amazonaws.com" | "cassandra.amazonaws.com" | "bedrock.amazonaws.com"
        ) {
            return Err(err(
                "NotSupportedService",
                404,
                format!("No such service {service} is supported for Service-Specific Credentials"),
            ));
        }
        let prefix = format!("{}/", name_key(&user.user_name));
        let same_service = self
            .all::<ServiceCredentialRecord>(cx, &prefix)
            .await?
            .iter()
            .filter(|c| c.service_name == service)
            .count();
        if same_service >= SERVICE_CREDENTIALS_PER_SERVICE {
            return Err(quota(
                "ServiceSpecificCredentialsPerUserPerService",
                SERVICE_CREDENTIALS_PER_SERVICE,
            ));
        }
        let id = new_id("ACCA");
        let password = Secret::new(id::secret_access_key());
        let sealed = self
            .master
            .seal(password.expose().as_bytes(), &Self::service_aad(cx, &id))
            .map_err(|e| internal(e.into()))?;
        let cred = ServiceCredentialRecord {
            user_name: user.user_name.clone(),
            service_specific_credential_id: id,
            service_name: service.to_owned(),
            service_user_name: format!("{}-at-{}", user.user_name, cx.acct()),
            sealed_password: B64.encode(sealed),
            status: "Active".to_owned(),
            create_date: cx.now.clone(),
        };
        self.write(vec![put(cx, &cred, Precondition::Absent)?])
            .await?;
        let mut v = service_cred_value(&cred);
        super::set(&mut v, "ServicePassword", json!(password.expose()));
        Ok(json!({"ServiceSpecificCredential": v}))
    }

    async fn service_credential(
        &self,
        cx: &Cx<'_>,
        input: &Value,
    ) -> Result<(ServiceCredentialRecord, i64), AwsError> {
        let (user, _) = self.iam_user(cx, input).await?;
        let id = req(input, "ServiceSpecificCredentialId")?;
        self.must::<ServiceCredentialRecord>(
            cx,
            &format!("{}/{id}", name_key(&user.user_name)),
            || format!("No such credential {id} exists"),
        )
        .await
    }

    async fn list_service_credentials(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let prefix = match self.target_user(cx, input).await? {
            Some((u, _)) => format!("{}/", name_key(&u.user_name)),
            None => String::new(),
        };
        let service = opt(input, "ServiceName");
        let list: Vec<Value> = self
            .all::<ServiceCredentialRecord>(cx, &prefix)
            .await?
            .iter()
            .filter(|c| service.is_none_or(|s| s == c.service_name))
            .map(service_cred_value)
            .collect();
        Ok(json!({"ServiceSpecificCredentials": list}))
    }

    async fn reset_service_credential(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut cred, version) = self.service_credential(cx, input).await?;
        let password = Secret::new(id::secret_access_key());
        let sealed = self
            .master
            .seal(
                password.expose().as_bytes(),
                &Self::service_aad(cx, &cred.service_specific_credential_id),
            )
            .map_err(|e| internal(e.into()))?;
        cred.sealed_password = B64.encode(sealed);
        self.write(vec![put(cx, &cred, Precondition::Version(version))?])
            .await?;
        let mut v = service_cred_value(&cred);
        super::set(&mut v, "ServicePassword", json!(password.expose()));
        Ok(json!({"ServiceSpecificCredential": v}))
    }

    async fn update_service_credential(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (mut cred, version) = self.service_credential(cx, input).await?;
        status_of(input)?.clone_into(&mut cred.status);
        self.write(vec![put(cx, &cred, Precondition::Version(version))?])
            .await?;
        Ok(json!({}))
    }

    async fn delete_service_credential(&self, cx: &Cx<'_>, input: &Value) -> Out {
        let (cred, version) = self.service_credential(cx, input).await?;
        let id = format!(
            "{}/{}",
            name_key(&cred.user_name),
            cred.service_specific_credential_id
        );
        self.write(vec![delete::<ServiceCredentialRecord>(cx, &id, version)])
            .await?;
        Ok(json!({}))
    }
}

impl SshKeyRecord {
    fn store_id_pub(&self) -> String {
        records::Entity::store_id(self)
    }
}

/// A PEM certificate, as IAM requires (`MalformedCertificate` otherwise).
fn check_pem(body: &str) -> Result<(), AwsError> {
    let body = body.trim();
    let inner = body
        .strip_prefix("-----BEGIN CERTIFICATE-----")
        .and_then(|b| b.split("-----END CERTIFICATE-----").next());
    let valid = inner.is_some_and(|b| {
        let compact: String = b.chars().filter(|c| !c.is_whitespace()).collect();
        !compact.is_empty() && B64.decode(compact).is_ok()
    });
    if valid {
        Ok(())
    } else {
        Err(err(
            "MalformedCertificate",
            400,
            "Unable to parse certificate. Please ensure the certificate is in PEM format.",
        ))
    }
}

/// Verifies a TOTP `code` of the MFA device `serial` at `now` (for STS `GetSessionToken` and
/// `AssumeRole` with `SerialNumber`/`TokenCode`): the current step or one either side, and
/// later than every step the device has accepted before. An accepted code is used up: the
/// device records its step in the same compare-and-swap write, so that the same code (or an
/// older one) presented again, even by two requests at once, is refused.
pub async fn verify_mfa_code(
    store: &dyn portcullis_store::Store,
    master: &portcullis_store::MasterKey,
    account: &portcullis_core::AccountId,
    serial: &str,
    code: &str,
    now: std::time::SystemTime,
) -> Result<bool, crate::IamError> {
    let key = super::identities::arn_key::<MfaDeviceRecord>(serial);
    let Some((mut device, version)) =
        records::load_versioned::<MfaDeviceRecord>(store, account.as_str(), &key).await?
    else {
        return Ok(false);
    };
    if device.serial_number != serial || device.user_name.is_none() {
        return Ok(false);
    }
    let sealed = B64
        .decode(&device.sealed_seed)
        .map_err(|e| crate::IamError::corrupt(records::MFA, serial, e))?;
    let seed = master.open(&sealed, &place_aad(records::MFA, account.as_str(), serial))?;
    let step = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        / TOTP_STEP;
    let from = step
        .saturating_sub(1)
        .max(device.last_step.saturating_add(1));
    let Some(accepted) = (from..=step + 1).find(|&s| {
        portcullis_core::secret::ct_eq(totp(seed.expose(), s).as_bytes(), code.as_bytes())
    }) else {
        return Ok(false);
    };
    device.last_step = accepted;
    let value = serde_json::to_value(&device)
        .map_err(|e| crate::IamError::corrupt(records::MFA, serial, e))?;
    let write = store
        .write(vec![WriteOp::put(
            records::MFA,
            account.as_str(),
            key,
            value,
            Precondition::Version(version),
        )])
        .await;
    match write {
        Ok(()) => Ok(true),
        // Another request used a code of this device meanwhile: this one may be the same code.
        Err(portcullis_store::StoreError::Conflict { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", 8 digits truncated to 6.
        let seed = b"12345678901234567890";
        assert_eq!(totp(seed, 59 / 30), "287082");
        assert_eq!(totp(seed, 1_111_111_109 / 30), "081804");
        assert_eq!(totp(seed, 1_234_567_890 / 30), "005924");
    }

    #[test]
    fn consecutive_codes_found_once() {
        let seed = b"12345678901234567890";
        let (c1, c2) = (totp(seed, 1000), totp(seed, 1001));
        assert_eq!(consecutive_step(seed, &c1, &c2, 1001, 0), Some(1000));
        assert_eq!(consecutive_step(seed, &c1, &c2, 1001, 1001), None);
        assert_eq!(consecutive_step(seed, &c2, &c1, 1001, 0), None);
    }

    #[test]
    fn base32_of_rfc_4648_vectors() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("Correct-Horse-1");
        assert!(h.starts_with("pbkdf2-sha256$600000$"));
        assert!(verify_password(&h, "Correct-Horse-1"));
        assert!(!verify_password(&h, "Correct-Horse-2"));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn default_password_policy_wants_three_kinds() {
        assert!(check_password(None, "abcdefg1A").is_ok());
        assert!(check_password(None, "abcdefgh1").is_err());
        assert!(check_password(None, "aB1!").is_err());
    }
}
