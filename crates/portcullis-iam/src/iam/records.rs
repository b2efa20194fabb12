//! The IAM entities as stored, and the read helpers the authorizer and the IAM API share.
//!
//! Every entity is one JSON document in the [`Store`] under `(kind, account, id)`. Names of
//! users, groups, roles, policies and instance profiles are unique within an account without
//! regard to case (IAM User Guide, "IAM identifiers": "names are not distinguished by case"),
//! so their store id is the ASCII-lowercased name ([`name_key`]): a listing by id is then in
//! name order, and a second `Bob` collides with `bob` on the store's `Absent` precondition.
//! Path-prefix filters are applied after reading (a path is not part of the id, because
//! `UpdateUser --new-path` must not move the record).
//!
//! | kind | account | id | record |
//! |---|---|---|---|
//! | `iam.user` | owner | lowercased name | [`UserRecord`] (login profile embedded) |
//! | `iam.group` | owner | lowercased name | [`GroupRecord`] |
//! | `iam.role` | owner | lowercased name | [`RoleRecord`] |
//! | `iam.policy` | owner | lowercased name | [`CustomerPolicyRecord`] (versions embedded) |
//! | `iam.instance-profile` | owner | lowercased name | [`InstanceProfileRecord`] |
//! | `iam.mfa` | owner | lowercased device name | [`MfaDeviceRecord`] (seed sealed) |
//! | `iam.ssh-key` | owner | `user/KEYID` | [`SshKeyRecord`] |
//! | `iam.signing-cert` | owner | `user/CERTID` | [`SigningCertificateRecord`] |
//! | `iam.service-credential` | owner | `user/CREDID` | [`ServiceCredentialRecord`] (password sealed) |
//! | `iam.server-cert` | owner | lowercased name | [`ServerCertificateRecord`] |
//! | `iam.saml-provider` | owner | name | [`SamlProviderRecord`] |
//! | `iam.oidc-provider` | owner | url host and path | [`OidcProviderRecord`] |
//! | `iam.account` | owner | `settings` | [`AccountSettings`] (alias, password policy, report) |
//! | `iam.access-key` | `""` | key id | [`AccessKeyRecord`](crate::keys::AccessKeyRecord) (see `keys`) |
//! | `iam.access-key-used` | `""` | key id | [`AccessKeyLastUsed`] |
//!
//! A user's access keys are listed in [`UserRecord::access_keys`], since the keys themselves
//! are global. Group membership is kept on the user ([`UserRecord::groups`]), which is what
//! the authorizer reads on every request; `GetGroup` scans the users.
//!
//! AWS managed policies are not stored: they are the built-in table [`aws_managed_policies`]
//! under their real ARNs (`arn:aws:iam::aws:policy/...`).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use portcullis_core::AccountId;
use portcullis_store::{ListQuery, Store};

use crate::IamError;

/// Store kind of users.
pub const USER: &str = "iam.user";
/// Store kind of groups.
pub const GROUP: &str = "iam.group";
/// Store kind of roles.
pub const ROLE: &str = "iam.role";
/// Store kind of customer managed policies.
pub const POLICY: &str = "iam.policy";
/// Store kind of instance profiles.
pub const INSTANCE_PROFILE: &str = "iam.instance-profile";
/// Store kind of virtual MFA devices.
pub const MFA: &str = "iam.mfa";
/// Store kind of SSH public keys (id `user/KEYID`).
pub const SSH_KEY: &str = "iam.ssh-key";
/// Store kind of signing certificates (id `user/CERTID`).
pub const SIGNING_CERT: &str = "iam.signing-cert";
/// Store kind of service-specific credentials (id `user/CREDID`).
pub const SERVICE_CREDENTIAL: &str = "iam.service-credential";
/// Store kind of server certificates.
pub const SERVER_CERT: &str = "iam.server-cert";
/// Store kind of SAML providers.
pub const SAML_PROVIDER: &str = "iam.saml-provider";
/// Store kind of OpenID Connect providers.
pub const OIDC_PROVIDER: &str = "iam.oidc-provider";
/// Store kind of account-wide IAM settings (one item, id [`SETTINGS_ID`]).
pub const ACCOUNT: &str = "iam.account";
/// The id of the account settings item.
pub const SETTINGS_ID: &str = "settings";
/// Store kind of access-key last-used records (global, id = access key id).
pub const ACCESS_KEY_USED: &str = "iam.access-key-used";

/// The store id of an entity named `name`: names are unique without regard to case.
pub fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A tag, as IAM's `Tag` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// 1-128 characters.
    pub key: String,
    /// 0-256 characters.
    pub value: String,
}

/// A console password (login profile) as stored: PBKDF2-HMAC-SHA256, never the password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoginProfile {
    /// ISO 8601.
    pub create_date: String,
    /// The user must choose a new password at next sign-in.
    pub password_reset_required: bool,
    /// The password hash, see `credentials::hash_password`.
    pub password_hash: String,
    /// When the password was last set (for MaxPasswordAge and the credential report).
    pub password_last_changed: String,
    /// Hashes of earlier passwords, newest first (PasswordReusePrevention).
    #[serde(default)]
    pub previous_hashes: Vec<String>,
}

/// An IAM user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRecord {
    /// The name, with its case as created.
    pub user_name: String,
    /// `AIDA...`.
    pub user_id: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    pub arn: String,
    /// ISO 8601.
    pub create_date: String,
    /// Tags, in the order set.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Inline policies: name -> document (JSON text as given).
    #[serde(default)]
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached_policies: Vec<String>,
    /// ARN of the permissions boundary.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    /// Names of the groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Ids of the user's access keys (records under `iam.access-key`).
    #[serde(default)]
    pub access_keys: Vec<String>,
    /// Serial numbers of the MFA devices enabled for the user.
    #[serde(default)]
    pub mfa_devices: Vec<String>,
    /// The console password.
    #[serde(default)]
    pub login_profile: Option<LoginProfile>,
    /// When the console password was last used.
    #[serde(default)]
    pub password_last_used: Option<String>,
}

/// An IAM group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupRecord {
    /// The name, with its case as created.
    pub group_name: String,
    /// `AGPA...`.
    pub group_id: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:group/PATH/NAME`.
    pub arn: String,
    /// ISO 8601.
    pub create_date: String,
    /// Inline policies: name -> document.
    #[serde(default)]
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached_policies: Vec<String>,
}

/// When and where a role was last used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleLastUsed {
    /// ISO 8601.
    pub last_used_date: String,
    /// The region of the request.
    pub region: String,
}

/// An IAM role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleRecord {
    /// The name, with its case as created.
    pub role_name: String,
    /// `AROA...`.
    pub role_id: String,
    /// `/` or `/a/b/`; service-linked roles live under `/aws-service-role/SERVICE/`.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME`.
    pub arn: String,
    /// ISO 8601.
    pub create_date: String,
    /// The trust policy (JSON text as given).
    pub assume_role_policy_document: String,
    /// Up to 1000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// 3600..=43200 seconds.
    pub max_session_duration: i64,
    /// Tags, in the order set.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Inline policies: name -> document.
    #[serde(default)]
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of attached managed policies.
    #[serde(default)]
    pub attached_policies: Vec<String>,
    /// ARN of the permissions boundary.
    #[serde(default)]
    pub permissions_boundary: Option<String>,
    /// When the role was last assumed or used by a session: kept with the usage data
    /// ([`crate::usage`]) and filled in when the role is shown, never stored here.
    #[serde(default, skip_serializing)]
    pub role_last_used: Option<RoleLastUsed>,
    /// The service a service-linked role belongs to (`elasticbeanstalk.amazonaws.com`).
    #[serde(default)]
    pub service_linked: Option<String>,
}

/// One version of a customer managed policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersionRecord {
    /// `v1`, `v2`, ...
    pub version_id: String,
    /// JSON text as given.
    pub document: String,
    /// ISO 8601.
    pub create_date: String,
}

/// A customer managed policy and its versions (at most 5, IAM quotas).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerPolicyRecord {
    /// The name.
    pub policy_name: String,
    /// `ANPA...`.
    pub policy_id: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:policy/PATH/NAME`.
    pub arn: String,
    /// Set at creation only.
    #[serde(default)]
    pub description: Option<String>,
    /// ISO 8601.
    pub create_date: String,
    /// ISO 8601: the last version change.
    pub update_date: String,
    /// The default version's id.
    pub default_version_id: String,
    /// The versions, oldest first.
    pub versions: Vec<PolicyVersionRecord>,
    /// The number the next version gets (AWS never reuses a version id).
    pub next_version: u32,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A managed policy as the authorizer and IAM read it: customer managed or AWS managed.
#[derive(Debug, Clone)]
pub struct ManagedPolicy {
    /// The ARN.
    pub arn: String,
    /// The name.
    pub name: String,
    /// `ANPA...`.
    pub id: String,
    /// The path.
    pub path: String,
    /// Whether AWS owns it (`arn:aws:iam::aws:policy/...`).
    pub aws_managed: bool,
    /// The description.
    pub description: Option<String>,
    /// ISO 8601.
    pub create_date: String,
    /// ISO 8601.
    pub update_date: String,
    /// The default version id.
    pub default_version_id: String,
    /// All versions, oldest first.
    pub versions: Vec<PolicyVersionRecord>,
    /// Tags (customer managed only).
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    /// The default version's document: what the policy grants.
    pub fn document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.version_id == self.default_version_id)
            .map(|v| v.document.as_str())
    }
}

impl From<CustomerPolicyRecord> for ManagedPolicy {
    fn from(p: CustomerPolicyRecord) -> Self {
        Self {
            arn: p.arn,
            name: p.policy_name,
            id: p.policy_id,
            path: p.path,
            aws_managed: false,
            description: p.description,
            create_date: p.create_date,
            update_date: p.update_date,
            default_version_id: p.default_version_id,
            versions: p.versions,
            tags: p.tags,
        }
    }
}

/// An instance profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InstanceProfileRecord {
    /// The name.
    pub instance_profile_name: String,
    /// `AIPA...`.
    pub instance_profile_id: String,
    /// The path.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:instance-profile/PATH/NAME`.
    pub arn: String,
    /// ISO 8601.
    pub create_date: String,
    /// Role names (at most one, IAM quotas).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A virtual MFA device. The TOTP seed is sealed under the master key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MfaDeviceRecord {
    /// `arn:aws:iam::ACCOUNT:mfa/PATH/NAME`.
    pub serial_number: String,
    /// The device name.
    pub name: String,
    /// The path.
    pub path: String,
    /// The 20-byte seed, sealed (base64).
    pub sealed_seed: String,
    /// The user it is enabled for.
    #[serde(default)]
    pub user_name: Option<String>,
    /// ISO 8601, when enabled.
    #[serde(default)]
    pub enable_date: Option<String>,
    /// The TOTP time step last accepted, so that a code is never accepted twice.
    #[serde(default)]
    pub last_step: u64,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// An SSH public key of a user (for CodeCommit).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SshKeyRecord {
    /// The owner.
    pub user_name: String,
    /// `APKA...`.
    pub ssh_public_key_id: String,
    /// MD5 fingerprint of the key.
    pub fingerprint: String,
    /// The key as uploaded.
    pub ssh_public_key_body: String,
    /// `Active` / `Inactive`.
    pub status: String,
    /// ISO 8601.
    pub upload_date: String,
}

/// A signing (X.509) certificate of a user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SigningCertificateRecord {
    /// The owner.
    pub user_name: String,
    /// The certificate id.
    pub certificate_id: String,
    /// PEM.
    pub certificate_body: String,
    /// `Active` / `Inactive`.
    pub status: String,
    /// ISO 8601.
    pub upload_date: String,
}

/// A service-specific credential (CodeCommit, Keyspaces, Bedrock). The password is sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceCredentialRecord {
    /// The owner.
    pub user_name: String,
    /// `ACCA...`.
    pub service_specific_credential_id: String,
    /// `codecommit.amazonaws.com`, ...
    pub service_name: String,
    /// `USER-at-ACCOUNT`.
    pub service_user_name: String,
    /// The password, sealed (base64).
    pub sealed_password: String,
    /// `Active` / `Inactive`.
    pub status: String,
    /// ISO 8601.
    pub create_date: String,
}

/// A server certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerCertificateRecord {
    /// The name.
    pub server_certificate_name: String,
    /// `ASCA...`.
    pub server_certificate_id: String,
    /// The path.
    pub path: String,
    /// `arn:aws:iam::ACCOUNT:server-certificate/PATH/NAME`.
    pub arn: String,
    /// ISO 8601.
    pub upload_date: String,
    /// PEM.
    pub certificate_body: String,
    /// PEM.
    #[serde(default)]
    pub certificate_chain: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A SAML identity provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SamlProviderRecord {
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub arn: String,
    /// The name.
    pub name: String,
    /// The metadata document.
    pub saml_metadata_document: String,
    /// ISO 8601.
    pub create_date: String,
    /// ISO 8601 (validity of the metadata; a year after upload when it names none).
    pub valid_until: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// An OpenID Connect identity provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OidcProviderRecord {
    /// `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH`.
    pub arn: String,
    /// `https://host/path` as given.
    pub url: String,
    /// Audiences.
    #[serde(default)]
    pub client_id_list: Vec<String>,
    /// Server certificate thumbprints (hex SHA-1).
    #[serde(default)]
    pub thumbprint_list: Vec<String>,
    /// ISO 8601.
    pub create_date: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The account password policy (`UpdateAccountPasswordPolicy`'s members).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordPolicy {
    /// 6..=128.
    pub minimum_password_length: i64,
    /// At least one of `!@#$%^&*()_+-=[]{}|'`.
    pub require_symbols: bool,
    /// At least one digit.
    pub require_numbers: bool,
    /// At least one upper-case letter.
    pub require_uppercase_characters: bool,
    /// At least one lower-case letter.
    pub require_lowercase_characters: bool,
    /// Users may change their own password.
    pub allow_users_to_change_password: bool,
    /// 1..=1095 days.
    #[serde(default)]
    pub max_password_age: Option<i64>,
    /// 1..=24 earlier passwords.
    #[serde(default)]
    pub password_reuse_prevention: Option<i64>,
    /// Expired passwords need an administrator.
    pub hard_expiry: bool,
}

/// A generated credential report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialReport {
    /// The CSV text.
    pub content: String,
    /// ISO 8601.
    pub generated_time: String,
}

/// Account-wide IAM settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccountSettings {
    /// The account alias (at most one).
    #[serde(default)]
    pub alias: Option<String>,
    /// The password policy, when one was set.
    #[serde(default)]
    pub password_policy: Option<PasswordPolicy>,
    /// The last credential report.
    #[serde(default)]
    pub credential_report: Option<CredentialReport>,
}

/// When and where an access key was last used (global, id = access key id).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyLastUsed {
    /// ISO 8601.
    pub last_used_date: String,
    /// The signing name of the service called (`iam`, `s3`, ...).
    pub service_name: String,
    /// The region of the request.
    pub region: String,
}

/// A stored IAM entity: its store kind and its id.
pub trait Entity: Serialize + DeserializeOwned {
    /// The store kind.
    const KIND: &'static str;
    /// The store id.
    fn store_id(&self) -> String;
}

macro_rules! named_entity {
    ($ty:ty, $kind:expr, $field:ident) => {
        impl Entity for $ty {
            const KIND: &'static str = $kind;
            fn store_id(&self) -> String {
                name_key(&self.$field)
            }
        }
    };
}

named_entity!(UserRecord, USER, user_name);
named_entity!(GroupRecord, GROUP, group_name);
named_entity!(RoleRecord, ROLE, role_name);
named_entity!(CustomerPolicyRecord, POLICY, policy_name);
named_entity!(
    InstanceProfileRecord,
    INSTANCE_PROFILE,
    instance_profile_name
);
named_entity!(MfaDeviceRecord, MFA, name);
named_entity!(
    ServerCertificateRecord,
    SERVER_CERT,
    server_certificate_name
);

impl Entity for SshKeyRecord {
    const KIND: &'static str = SSH_KEY;
    fn store_id(&self) -> String {
        format!("{}/{}", name_key(&self.user_name), self.ssh_public_key_id)
    }
}

impl Entity for SigningCertificateRecord {
    const KIND: &'static str = SIGNING_CERT;
    fn store_id(&self) -> String {
        format!("{}/{}", name_key(&self.user_name), self.certificate_id)
    }
}

impl Entity for ServiceCredentialRecord {
    const KIND: &'static str = SERVICE_CREDENTIAL;
    fn store_id(&self) -> String {
        format!(
            "{}/{}",
            name_key(&self.user_name),
            self.service_specific_credential_id
        )
    }
}

impl Entity for SamlProviderRecord {
    const KIND: &'static str = SAML_PROVIDER;
    fn store_id(&self) -> String {
        self.name.clone()
    }
}

impl Entity for OidcProviderRecord {
    const KIND: &'static str = OIDC_PROVIDER;
    fn store_id(&self) -> String {
        oidc_key(&self.url)
    }
}

/// The store id of an OIDC provider: its URL without the scheme, as in its ARN.
pub fn oidc_key(url: &str) -> String {
    url.strip_prefix("https://")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_owned()
}

/// Reads one entity and its store version.
pub async fn load_versioned<T: Entity>(
    store: &dyn Store,
    account: &str,
    id: &str,
) -> Result<Option<(T, i64)>, IamError> {
    let Some(item) = store.get(T::KIND, account, id).await? else {
        return Ok(None);
    };
    let record =
        serde_json::from_value(item.value).map_err(|e| IamError::corrupt(T::KIND, id, e))?;
    Ok(Some((record, item.version)))
}

/// Reads one entity.
pub async fn load<T: Entity>(
    store: &dyn Store,
    account: &str,
    id: &str,
) -> Result<Option<T>, IamError> {
    Ok(load_versioned(store, account, id).await?.map(|(r, _)| r))
}

/// Every entity of kind `T` in `account` whose id starts with `id_prefix`, in id order, with
/// store versions.
pub async fn list_all<T: Entity>(
    store: &dyn Store,
    account: &str,
    id_prefix: &str,
) -> Result<Vec<(T, i64)>, IamError> {
    let mut query = ListQuery::all(T::KIND, account);
    query.id_prefix = id_prefix;
    let page = store.list(query).await?;
    page.items
        .into_iter()
        .map(|item| {
            serde_json::from_value(item.value)
                .map(|r| (r, item.version))
                .map_err(|e| IamError::corrupt(T::KIND, &item.id, e))
        })
        .collect()
}

/// The user called `name` (any case).
pub async fn load_user(
    store: &dyn Store,
    account: &AccountId,
    name: &str,
) -> Result<Option<UserRecord>, IamError> {
    load(store, account.as_str(), &name_key(name)).await
}

/// The group called `name` (any case).
pub async fn load_group(
    store: &dyn Store,
    account: &AccountId,
    name: &str,
) -> Result<Option<GroupRecord>, IamError> {
    load(store, account.as_str(), &name_key(name)).await
}

/// The role called `name` (any case).
pub async fn load_role(
    store: &dyn Store,
    account: &AccountId,
    name: &str,
) -> Result<Option<RoleRecord>, IamError> {
    load(store, account.as_str(), &name_key(name)).await
}

/// The user whose unique id is `user_id` (`AIDA...`), by a scan of the account's users.
pub async fn user_by_id(
    store: &dyn Store,
    account: &AccountId,
    user_id: &str,
) -> Result<Option<UserRecord>, IamError> {
    Ok(list_all::<UserRecord>(store, account.as_str(), "")
        .await?
        .into_iter()
        .map(|(u, _)| u)
        .find(|u| u.user_id == user_id))
}

/// The role whose unique id is `role_id` (`AROA...`), by a scan of the account's roles.
pub async fn role_by_id(
    store: &dyn Store,
    account: &AccountId,
    role_id: &str,
) -> Result<Option<RoleRecord>, IamError> {
    Ok(list_all::<RoleRecord>(store, account.as_str(), "")
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .find(|r| r.role_id == role_id))
}

/// The managed policy with ARN `arn`: an AWS managed policy (`arn:aws:iam::aws:policy/...`)
/// or a customer managed policy of `account`. `None` for an ARN of another account.
pub async fn load_managed_policy(
    store: &dyn Store,
    account: &AccountId,
    arn: &str,
) -> Result<Option<ManagedPolicy>, IamError> {
    if arn.starts_with(AWS_POLICY_ARN_PREFIX) {
        return Ok(aws_managed_policy(arn));
    }
    let prefix = format!("arn:aws:iam::{}:policy/", account.as_str());
    let Some(rest) = arn.strip_prefix(&prefix) else {
        return Ok(None);
    };
    let name = rest.rsplit('/').next().unwrap_or(rest);
    let Some(record) =
        load::<CustomerPolicyRecord>(store, account.as_str(), &name_key(name)).await?
    else {
        return Ok(None);
    };
    // The path is part of the ARN: a policy named like this one under another path is not it.
    Ok((record.arn == arn).then(|| record.into()))
}

/// The account's IAM settings (defaults when none were stored).
pub async fn load_settings(
    store: &dyn Store,
    account: &AccountId,
) -> Result<(AccountSettings, Option<i64>), IamError> {
    Ok(
        match load_versioned::<AccountSettings>(store, account.as_str(), SETTINGS_ID).await? {
            Some((s, v)) => (s, Some(v)),
            None => (AccountSettings::default(), None),
        },
    )
}

impl Entity for AccountSettings {
    const KIND: &'static str = ACCOUNT;
    fn store_id(&self) -> String {
        SETTINGS_ID.to_owned()
    }
}

/// When an access key was last used, if ever.
pub async fn access_key_last_used(
    store: &dyn Store,
    access_key_id: &str,
) -> Result<Option<AccessKeyLastUsed>, IamError> {
    let Some(item) = store.get(ACCESS_KEY_USED, "", access_key_id).await? else {
        return Ok(None);
    };
    serde_json::from_value(item.value)
        .map(Some)
        .map_err(|e| IamError::corrupt(ACCESS_KEY_USED, access_key_id, e))
}

/// The ARN prefix of AWS managed policies.
pub const AWS_POLICY_ARN_PREFIX: &str = "arn:aws:iam::aws:policy/";

/// One built-in AWS managed policy.
#[derive(Debug, Clone, Copy)]
pub struct AwsManagedPolicy {
    /// The name (`AdministratorAccess`).
    pub name: &'static str,
    /// The path (`/` or `/job-function/`).
    pub path: &'static str,
    /// A fixed `ANPA...` id.
    pub id: &'static str,
    /// The description AWS shows.
    pub description: &'static str,
    /// The default version id.
    pub version: &'static str,
    /// The default version's document.
    pub document: &'static str,
}

impl AwsManagedPolicy {
    /// `arn:aws:iam::aws:policy{path}{name}`.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::aws:policy{}{}", self.path, self.name)
    }
}

/// The creation date reported for every built-in AWS managed policy (AdministratorAccess's).
pub const AWS_POLICY_CREATE_DATE: &str = "2015-02-06T18:39:46Z";

/// The built-in AWS managed policies. Documents are AWS's published default versions, except
/// `ReadOnlyAccess` and `SecurityAudit`, whose real documents list hundreds of actions, and the
/// `/root-task/` policies, whose action lists follow the tasks AWS documents: here
/// they are representative subsets (every service's `Describe*`/`Get*`/`List*` for the
/// services Portcullis serves, and the audit reads), documented in the crate README. Policy
/// ids are fixed values of AWS's shape, not AWS's own ids.
pub fn aws_managed_policies() -> &'static [AwsManagedPolicy] {
    &AWS_MANAGED
}

fn aws_managed_policy(arn: &str) -> Option<ManagedPolicy> {
    let p = AWS_MANAGED.iter().find(|p| p.arn() == arn)?;
    Some(ManagedPolicy {
        arn: p.arn(),
        name: p.name.to_owned(),
        id: p.id.to_owned(),
        path: p.path.to_owned(),
        aws_managed: true,
        description: Some(p.description.to_owned()),
        create_date: AWS_POLICY_CREATE_DATE.to_owned(),
        update_date: AWS_POLICY_CREATE_DATE.to_owned(),
        default_version_id: p.version.to_owned(),
        versions: vec![PolicyVersionRecord {
            version_id: p.version.to_owned(),
            document: p.document.to_owned(),
            create_date: AWS_POLICY_CREATE_DATE.to_owned(),
        }],
        tags: Vec::new(),
    })
}

static AWS_MANAGED: [AwsManagedPolicy; 13] = [
    AwsManagedPolicy {
        name: "AdministratorAccess",
        path: "/",
        id: "ANPAIWMBCKSKIEE64ZLYK",
        description: "Provides full access to AWS services and resources.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "ReadOnlyAccess",
        path: "/",
        id: "ANPAILL3HVNFSB6DCOWYQ",
        description: "Provides read-only access to AWS services and resources.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Generate*","iam:Get*","iam:List*","iam:Simulate*","sts:GetCallerIdentity","organizations:Describe*","organizations:List*","kms:Describe*","kms:Get*","kms:List*","cloudtrail:Describe*","cloudtrail:Get*","cloudtrail:List*","cloudtrail:LookupEvents","wafv2:Check*","wafv2:Describe*","wafv2:Get*","wafv2:List*","shield:Describe*","shield:Get*","shield:List*","guardduty:Describe*","guardduty:Get*","guardduty:List*","inspector2:BatchGet*","inspector2:Describe*","inspector2:Get*","inspector2:List*","artifact:Get*","artifact:List*"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "PowerUserAccess",
        path: "/",
        id: "ANPAJYRXTHIB4FOVS3ZXS",
        description: "Provides full access to AWS services and resources, but does not allow management of Users and groups.",
        version: "v5",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*","account:*"],"Resource":"*"},{"Effect":"Allow","Action":["account:GetAccountInformation","account:GetPrimaryEmail","account:ListRegions","iam:CreateServiceLinkedRole","iam:DeleteServiceLinkedRole","iam:ListRoles","organizations:DescribeOrganization"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "IAMFullAccess",
        path: "/",
        id: "ANPAI7XKCFMBPM3QQRRVQ",
        description: "Provides full access to IAM via the AWS Management Console.",
        version: "v2",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","organizations:DescribeAccount","organizations:DescribeOrganization","organizations:DescribeOrganizationalUnit","organizations:DescribePolicy","organizations:ListChildren","organizations:ListParents","organizations:ListPoliciesForTarget","organizations:ListRoots","organizations:ListPolicies","organizations:ListTargetsForPolicy"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "IAMReadOnlyAccess",
        path: "/",
        id: "ANPAJKSO7NDY4T57MWDSQ",
        description: "Provides read only access to IAM via the AWS Management Console.",
        version: "v4",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "SecurityAudit",
        path: "/",
        id: "ANPAIX2T3QCXHR2OGGCTO",
        description: "The security audit template grants access to read security configuration metadata. It is useful for software that audits the configuration of an AWS account.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GenerateCredentialReport","iam:GenerateServiceLastAccessedDetails","iam:Get*","iam:List*","iam:SimulateCustomPolicy","iam:SimulatePrincipalPolicy","organizations:Describe*","organizations:List*","kms:Describe*","kms:Get*","kms:List*","cloudtrail:DescribeTrails","cloudtrail:GetEventSelectors","cloudtrail:GetTrailStatus","cloudtrail:ListTags","cloudtrail:LookupEvents","guardduty:Get*","guardduty:List*","inspector2:List*","inspector2:Get*","shield:Describe*","shield:List*","wafv2:Describe*","wafv2:Get*","wafv2:List*"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AWSKeyManagementServicePowerUser",
        path: "/",
        id: "ANPAJNPP7PPPPMJRV2SA4",
        description: "Provides access to AWS Key Management Service (KMS).",
        version: "v2",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:CreateAlias","kms:CreateKey","kms:DeleteAlias","kms:Describe*","kms:GenerateRandom","kms:Get*","kms:List*","kms:TagResource","kms:UntagResource","iam:ListGroups","iam:ListRoles","iam:ListUsers"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "AWSOrganizationsFullAccess",
        path: "/",
        id: "ANPAJZXBNRCJKNLQHSB5M",
        description: "Provides full access to AWS Organizations.",
        version: "v6",
        document: r#"{"Version":"2012-10-17","Statement":[{"Sid":"AWSOrganizationsFullAccess","Effect":"Allow","Action":"organizations:*","Resource":"*"},{"Sid":"AWSOrganizationsFullAccessAccount","Effect":"Allow","Action":["account:PutAlternateContact","account:DeleteAlternateContact","account:GetAlternateContact","account:GetContactInformation","account:PutContactInformation","account:ListRegions","account:EnableRegion","account:DisableRegion","account:GetRegionOptStatus","account:GetPrimaryEmail","account:StartPrimaryEmailUpdate","account:AcceptPrimaryEmailUpdate"],"Resource":"*"},{"Sid":"AWSOrganizationsFullAccessCreateSLR","Effect":"Allow","Action":"iam:CreateServiceLinkedRole","Resource":"*","Condition":{"StringEquals":{"iam:AWSServiceName":"organizations.amazonaws.com"}}}]}"#,
    },
    // The root task policies: the only session policies AssumeRoot accepts (STS API
    // Reference, AssumeRoot, TaskPolicyArn). The action lists are the tasks AWS names.
    AwsManagedPolicy {
        name: "IAMAuditRootUserCredentials",
        path: "/root-task/",
        id: "ANPAQWB5PDKHX6PYGPAN2",
        description: "Provides privileged access to review the root user credentials of a member account, for an AssumeRoot session.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetAccessKeyLastUsed","iam:GetAccountSummary","iam:GetLoginProfile","iam:GetUser","iam:ListAccessKeys","iam:ListMFADevices","iam:ListSigningCertificates"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "IAMCreateRootUserPassword",
        path: "/root-task/",
        id: "ANPARLYKEI4IIAANNKKSU",
        description: "Provides privileged access to allow password recovery for the root user of a member account, for an AssumeRoot session.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreateLoginProfile","iam:GetLoginProfile","iam:GetUser"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "IAMDeleteRootUserCredentials",
        path: "/root-task/",
        id: "ANPAMNLMYTBX2KJQEVTAV",
        description: "Provides privileged access to delete the root user credentials of a member account, for an AssumeRoot session.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:DeactivateMFADevice","iam:DeleteAccessKey","iam:DeleteLoginProfile","iam:DeleteSigningCertificate","iam:GetAccessKeyLastUsed","iam:GetLoginProfile","iam:GetUser","iam:ListAccessKeys","iam:ListMFADevices","iam:ListSigningCertificates"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "S3UnlockBucketPolicy",
        path: "/root-task/",
        id: "ANPAETWT6UL66LDQBWZB2",
        description: "Provides privileged access to remove a misconfigured bucket policy that denies all principals access to an Amazon S3 bucket, for an AssumeRoot session.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:DeleteBucketPolicy","s3:GetBucketPolicy","s3:ListAllMyBuckets","s3:PutBucketPolicy"],"Resource":"*"}]}"#,
    },
    AwsManagedPolicy {
        name: "SQSUnlockQueuePolicy",
        path: "/root-task/",
        id: "ANPAXYA4CLMHP5WWQ5GXS",
        description: "Provides privileged access to remove a misconfigured queue policy that denies all principals access to an Amazon SQS queue, for an AssumeRoot session.",
        version: "v1",
        document: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sqs:GetQueueAttributes","sqs:ListQueues","sqs:SetQueueAttributes"],"Resource":"*"}]}"#,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_managed_policies_have_real_arns_and_parse() {
        let arns: Vec<String> = aws_managed_policies().iter().map(|p| p.arn()).collect();
        assert!(arns.contains(&"arn:aws:iam::aws:policy/AdministratorAccess".to_owned()));
        assert!(arns.contains(&"arn:aws:iam::aws:policy/AWSOrganizationsFullAccess".to_owned()));
        for p in aws_managed_policies() {
            let v: serde_json::Value = serde_json::from_str(p.document).unwrap();
            assert_eq!(v["Version"], "2012-10-17", "{}", p.name);
            assert_eq!(p.id.len(), 21);
        }
    }

    #[tokio::test]
    async fn managed_policy_lookup_by_arn() {
        let store = portcullis_store::open(
            &portcullis_store::StoreLocation::SqliteInMemory,
            portcullis_core::Secret::new(vec![7; 32]),
        )
        .await
        .unwrap();
        let account = AccountId::parse("123456789012").unwrap();
        let admin = load_managed_policy(
            &*store,
            &account,
            "arn:aws:iam::aws:policy/AdministratorAccess",
        )
        .await
        .unwrap()
        .unwrap();
        assert!(admin.aws_managed);
        assert!(admin.document().unwrap().contains("\"*\""));
        assert!(
            load_managed_policy(&*store, &account, "arn:aws:iam::123456789012:policy/nope")
                .await
                .unwrap()
                .is_none()
        );
        assert!(load_user(&*store, &account, "bob").await.unwrap().is_none());
    }
}
