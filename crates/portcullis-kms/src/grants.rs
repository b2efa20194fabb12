//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and the
//! check that a grant allows a call.
//!
//! As in AWS, a grant for the caller that lists the operation (and whose encryption-context
//! constraint the request meets) allows the call by itself, without the key policy. Grants
//! take effect at once here (the store is consistent), so a grant token is only checked for
//! being one this service issued; AWS needs tokens to bridge its eventual consistency.

use std::collections::BTreeMap;

use portcullis_core::{PrincipalKind, id};
use portcullis_store::{Precondition, WriteOp};
use serde_json::{Value, json};

use crate::record::{self, GRANT, GrantRecord, Input, KeyRecord, KeyState};
use crate::{Caller, Kms, KmsError, Scope, access_denied, ts};

/// The operations a grant can allow (`GrantOperation`).
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// Operations that take no encryption context, which AWS refuses in a grant with constraints.
const NO_CONTEXT_OPERATIONS: &[&str] = &[
    "Sign",
    "Verify",
    "GetPublicKey",
    "DescribeKey",
    "RetireGrant",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

const TOKEN_PREFIX: &str = "kms-grant-v1";

fn invalid_token() -> KmsError {
    KmsError::InvalidGrantToken("The grant token is not valid.".to_owned())
}

/// `(account, key id, grant id)` of a grant token.
fn parse_token(token: &str) -> Result<(String, String, String), KmsError> {
    let text = record::unb64(token)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_token)?;
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [TOKEN_PREFIX, account, key_id, grant_id, _nonce] => Ok((
            (*account).to_owned(),
            (*key_id).to_owned(),
            (*grant_id).to_owned(),
        )),
        _ => Err(invalid_token()),
    }
}

fn new_token(account: &str, key_id: &str, grant_id: &str) -> String {
    let nonce: String = id::random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    record::b64(format!("{TOKEN_PREFIX}:{account}:{key_id}:{grant_id}:{nonce}").as_bytes())
}

/// AWS accepts at most 10 grant tokens, each one it issued.
pub(crate) fn check_tokens(tokens: &[String]) -> Result<(), KmsError> {
    if tokens.len() > 10 {
        return Err(KmsError::Validation(
            "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10".to_owned(),
        ));
    }
    for t in tokens {
        parse_token(t)?;
    }
    Ok(())
}

/// Whether the caller is `spec`: the same ARN; the role of an assumed-role session; or any
/// principal of an account named by its root ARN or id.
fn principal_matches(ctx: &Caller<'_>, spec: &str) -> bool {
    let p = &ctx.principal;
    if spec == p.arn.as_str() {
        return true;
    }
    let account = p.account.as_str();
    if spec == account || spec == format!("arn:aws:iam::{account}:root") {
        return true;
    }
    if p.kind == PrincipalKind::AssumedRole
        && let Some(role) = p
            .arn
            .resource()
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next())
        && let Ok(arn) = portcullis_core::Arn::parse(spec)
    {
        return arn.service() == "iam"
            && arn.account() == account
            && arn.resource().starts_with("role/")
            && arn.resource().rsplit('/').next() == Some(role);
    }
    false
}

fn constraints_hold(grant: &GrantRecord, context: Option<&BTreeMap<String, String>>) -> bool {
    let empty = BTreeMap::new();
    let context = context.unwrap_or(&empty);
    if let Some(equals) = &grant.context_equals
        && equals != context
    {
        return false;
    }
    if let Some(subset) = &grant.context_subset
        && !subset.iter().all(|(k, v)| context.get(k) == Some(v))
    {
        return false;
    }
    true
}

fn grant_json(key: &KeyRecord, g: &GrantRecord) -> Value {
    let mut out = json!({
        "KeyId": key.arn,
        "GrantId": g.grant_id,
        "GranteePrincipal": g.grantee,
        "IssuingAccount": format!("arn:aws:iam::{}:root", g.issuing_account),
        "Operations": g.operations,
        "CreationDate": ts(g.created),
    });
    if let Some(n) = &g.name {
        record::set(&mut out, "Name", json!(n));
    }
    if let Some(r) = &g.retiring {
        record::set(&mut out, "RetiringPrincipal", json!(r));
    }
    let mut constraints = serde_json::Map::new();
    if let Some(c) = &g.context_equals {
        constraints.insert("EncryptionContextEquals".to_owned(), json!(c));
    }
    if let Some(c) = &g.context_subset {
        constraints.insert("EncryptionContextSubset".to_owned(), json!(c));
    }
    if !constraints.is_empty() {
        record::set(&mut out, "Constraints", Value::Object(constraints));
    }
    out
}

impl Kms {
    async fn grants_of(&self, key: &KeyRecord) -> Result<Vec<GrantRecord>, KmsError> {
        let items = record::list_all(
            self.store(),
            GRANT,
            &key.account,
            &format!("{}/", key.key_id),
        )
        .await?;
        items.iter().map(record::decode).collect()
    }

    /// A grant for the caller on `key` that allows `operation` with `context`.
    async fn find_grant(
        &self,
        ctx: &Caller<'_>,
        key: &KeyRecord,
        operation: &str,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<Option<GrantRecord>, KmsError> {
        Ok(self.grants_of(key).await?.into_iter().find(|g| {
            principal_matches(ctx, &g.grantee)
                && g.operations.iter().any(|o| o == operation)
                && constraints_hold(g, context)
        }))
    }

    pub(crate) async fn grant_allows(
        &self,
        ctx: &Caller<'_>,
        key: &KeyRecord,
        operation: &str,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<bool, KmsError> {
        Ok(self
            .find_grant(ctx, key, operation, context)
            .await?
            .is_some())
    }

    pub(crate) async fn create_grant(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let grantee = i.req("GranteePrincipal")?.to_owned();
        let retiring = i.str("RetiringPrincipal").map(str::to_owned);
        let mut operations = i.strings("Operations");
        operations.sort();
        operations.dedup();
        if operations.is_empty() {
            return Err(KmsError::Validation(
                "1 validation error detected: Value null at 'operations' failed to satisfy constraint: Member must not be null".to_owned(),
            ));
        }
        if let Some(bad) = operations
            .iter()
            .find(|o| !GRANT_OPERATIONS.contains(&o.as_str()))
        {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '[{bad}]' at 'operations' failed to satisfy constraint: Member must satisfy enum value set"
            )));
        }
        let constraints = record::Input(i.0.get("Constraints").unwrap_or(&Value::Null));
        let context_equals = constraints
            .0
            .get("EncryptionContextEquals")
            .map(|_| constraints.map("EncryptionContextEquals"));
        let context_subset = constraints
            .0
            .get("EncryptionContextSubset")
            .map(|_| constraints.map("EncryptionContextSubset"));
        if (context_equals.is_some() || context_subset.is_some())
            && let Some(op) = operations
                .iter()
                .find(|o| NO_CONTEXT_OPERATIONS.contains(&o.as_str()))
        {
            return Err(KmsError::Validation(format!(
                "Grant constraints are not supported for the {op} operation: it does not take an encryption context."
            )));
        }
        let r = self
            .resolve(ctx, i.req("KeyId")?, Scope::CrossAccount)
            .await?;
        check_tokens(&i.strings("GrantTokens"))?;
        // A grant with CreateGrant lets its grantee create grants for at most its own
        // operations (AWS: "the grantee can create grants with the same or fewer
        // permissions"); without such a grant the key policy decides.
        let parent = self.find_grant(ctx, &r.key, "CreateGrant", None).await?;
        match parent {
            Some(p) if operations.iter().all(|o| p.operations.contains(o)) => {}
            _ => {
                let operation_names: Vec<&str> = operations.iter().map(String::as_str).collect();
                let grantee_name = grantee.as_str();
                let mut conditions: Vec<(&str, &[&str])> = vec![
                    ("kms:GrantOperations", &operation_names),
                    ("kms:GranteePrincipal", std::slice::from_ref(&grantee_name)),
                    ("kms:GrantIsForAWSResource", &["false"]),
                ];
                let retiring_name = retiring.as_deref();
                if let Some(r) = &retiring_name {
                    conditions.push(("kms:RetiringPrincipal", std::slice::from_ref(r)));
                }
                let mut kinds = Vec::new();
                if context_equals.is_some() {
                    kinds.push("EncryptionContextEquals");
                }
                if context_subset.is_some() {
                    kinds.push("EncryptionContextSubset");
                }
                if !kinds.is_empty() {
                    conditions.push(("kms:GrantConstraintType", &kinds));
                }
                self.authorize_with(ctx, "CreateGrant", &r, None, &conditions, &[], false)
                    .await?;
            }
        }
        match r.key.state {
            KeyState::Disabled => {
                return Err(KmsError::Disabled(format!("{} is disabled.", r.key.arn)));
            }
            KeyState::PendingDeletion => {
                return Err(KmsError::InvalidState(format!(
                    "{} is pending deletion.",
                    r.key.arn
                )));
            }
            KeyState::Enabled | KeyState::PendingImport => {}
        }
        if i.bool("DryRun") {
            return Err(KmsError::DryRun(
                "The request would have succeeded, but the DryRun option is set.".to_owned(),
            ));
        }
        let name = i.str("Name").map(str::to_owned);
        // AWS: CreateGrant with the name and parameters of an existing grant returns that
        // grant's id instead of creating a second one.
        if name.is_some() {
            for g in self.grants_of(&r.key).await? {
                if g.name == name
                    && g.grantee == grantee
                    && g.retiring == retiring
                    && g.operations == operations
                    && g.context_equals == context_equals
                    && g.context_subset == context_subset
                {
                    let token = new_token(&r.key.account, &r.key.key_id, &g.grant_id);
                    return Ok(json!({"GrantToken": token, "GrantId": g.grant_id}));
                }
            }
        }
        let grant_id: String = id::random_bytes::<32>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let token = new_token(&r.key.account, &r.key.key_id, &grant_id);
        let grant = GrantRecord {
            grant_id: grant_id.clone(),
            key_id: r.key.key_id.clone(),
            name,
            grantee,
            retiring,
            operations,
            context_equals,
            context_subset,
            issuing_account: ctx.principal.account.to_string(),
            created: self.now_secs(),
            token: token.clone(),
        };
        let value = serde_json::to_value(&grant).map_err(|e| KmsError::Corrupt(e.to_string()))?;
        self.store()
            .write(vec![WriteOp::put(
                GRANT,
                &r.key.account,
                format!("{}/{grant_id}", r.key.key_id),
                value,
                Precondition::Absent,
            )])
            .await?;
        Ok(json!({"GrantToken": token, "GrantId": grant_id}))
    }

    pub(crate) async fn list_grants(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let r = self
            .resolve(ctx, i.req("KeyId")?, Scope::CrossAccount)
            .await?;
        self.authorize(ctx, "ListGrants", &r, None, &[], &[])
            .await?;
        let by_id = i.str("GrantId");
        let by_grantee = i.str("GranteePrincipal");
        let entries = self
            .grants_of(&r.key)
            .await?
            .into_iter()
            .filter(|g| {
                by_id.is_none_or(|x| x == g.grant_id) && by_grantee.is_none_or(|x| x == g.grantee)
            })
            .map(|g| (g.grant_id.clone(), grant_json(&r.key, &g)))
            .collect();
        let (page, next) = record::paginate(entries, i, 50)?;
        Ok(record::with_marker(json!({"Grants": page}), next))
    }

    pub(crate) async fn list_retirable_grants(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let retiring = i.req("RetiringPrincipal")?;
        self.authorize_account(ctx, "ListRetirableGrants", &[])
            .await?;
        let account = ctx.principal.account.as_str();
        let mut entries = Vec::new();
        for item in record::list_all(self.store(), GRANT, account, "").await? {
            let g: GrantRecord = record::decode(&item)?;
            if g.retiring.as_deref() != Some(retiring) {
                continue;
            }
            if let Some(key_item) = self.store().get(record::KEY, account, &g.key_id).await? {
                let key: KeyRecord = record::decode(&key_item)?;
                entries.push((item.id.clone(), grant_json(&key, &g)));
            }
        }
        let (page, next) = record::paginate(entries, i, 50)?;
        Ok(record::with_marker(json!({"Grants": page}), next))
    }

    pub(crate) async fn retire_grant(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let (account, key_id, grant_id) =
            match (i.str("GrantToken"), i.str("KeyId"), i.str("GrantId")) {
                (Some(token), _, _) => parse_token(token)?,
                (None, Some(key), Some(grant)) => {
                    let r = self.resolve(ctx, key, Scope::CrossAccount).await?;
                    (
                        r.key.account.clone(),
                        r.key.key_id.clone(),
                        grant.to_owned(),
                    )
                }
                _ => {
                    return Err(KmsError::Validation(
                        "Either a grant token or a key id and a grant id must be specified."
                            .to_owned(),
                    ));
                }
            };
        let id = format!("{key_id}/{grant_id}");
        let item = self
            .store()
            .get(GRANT, &account, &id)
            .await?
            .ok_or_else(|| KmsError::NotFound(format!("Grant ID {grant_id} not found")))?;
        let g: GrantRecord = record::decode(&item)?;
        // AWS: the retiring principal, the grantee when RetireGrant is among its operations,
        // and the account that created the grant may retire it.
        let allowed = g
            .retiring
            .as_deref()
            .is_some_and(|r| principal_matches(ctx, r))
            || (principal_matches(ctx, &g.grantee)
                && g.operations.iter().any(|o| o == "RetireGrant"))
            || (ctx.principal.kind == PrincipalKind::Root
                && ctx.principal.account.as_str() == g.issuing_account);
        if !allowed {
            let arn = crate::key_arn(&ctx.region, &account, &format!("key/{key_id}"));
            return Err(KmsError::Denied(access_denied(
                ctx,
                "kms:RetireGrant",
                &arn,
            )));
        }
        if i.bool("DryRun") {
            return Err(KmsError::DryRun(
                "The request would have succeeded, but the DryRun option is set.".to_owned(),
            ));
        }
        self.store()
            .write(vec![WriteOp::delete(
                GRANT,
                &account,
                id,
                Precondition::Version(item.version),
            )])
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn revoke_grant(
        &self,
        ctx: &Caller<'_>,
        i: &Input<'_>,
    ) -> Result<Value, KmsError> {
        let grant_id = i.req("GrantId")?;
        if grant_id.is_empty() || grant_id.len() > 128 {
            return Err(KmsError::InvalidGrantId(
                "The grant id is not valid.".to_owned(),
            ));
        }
        let r = self
            .resolve(ctx, i.req("KeyId")?, Scope::CrossAccount)
            .await?;
        self.authorize(ctx, "RevokeGrant", &r, None, &[], &[])
            .await?;
        let id = format!("{}/{grant_id}", r.key.key_id);
        let Some(item) = self.store().get(GRANT, &r.key.account, &id).await? else {
            return Err(KmsError::NotFound(format!("Grant ID {grant_id} not found")));
        };
        if i.bool("DryRun") {
            return Err(KmsError::DryRun(
                "The request would have succeeded, but the DryRun option is set.".to_owned(),
            ));
        }
        self.store()
            .write(vec![WriteOp::delete(
                GRANT,
                &r.key.account,
                id,
                Precondition::Version(item.version),
            )])
            .await?;
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = new_token("111122223333", "k", "g");
        assert_eq!(
            parse_token(&t).unwrap(),
            ("111122223333".into(), "k".into(), "g".into())
        );
        assert!(parse_token("garbage").is_err());
        assert!(check_tokens(&["x".into()]).is_err());
        assert!(check_tokens(&vec![t; 11]).is_err());
    }

    #[test]
    fn constraints() {
        let ctx = BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned()),
        ]);
        let mut g = GrantRecord {
            grant_id: "g".into(),
            key_id: "k".into(),
            name: None,
            grantee: "p".into(),
            retiring: None,
            operations: vec!["Decrypt".into()],
            context_equals: None,
            context_subset: Some(BTreeMap::from([("a".to_owned(), "1".to_owned())])),
            issuing_account: "111122223333".into(),
            created: 0,
            token: String::new(),
        };
        assert!(constraints_hold(&g, Some(&ctx)));
        assert!(!constraints_hold(&g, None));
        g.context_subset = None;
        g.context_equals = Some(BTreeMap::from([("a".to_owned(), "1".to_owned())]));
        assert!(!constraints_hold(&g, Some(&ctx)));
        assert!(constraints_hold(
            &g,
            Some(&BTreeMap::from([("a".to_owned(), "1".to_owned())]))
        ));
    }
}
