//! AWS Security Token Service (query protocol, `2011-06-15`): AssumeRole, GetSessionToken,
//! GetFederationToken, GetCallerIdentity, GetAccessKeyInfo and DecodeAuthorizationMessage.
//!
//! Credentials are issued by [`crate::sessions`]; the authorizer evaluates the trust policy of
//! AssumeRole together with the caller's own policies, as the IAM User Guide's "Policy
//! evaluation logic" describes for role trust policies (within one account, a trust policy
//! that names the caller directly is enough; otherwise, and always across accounts, the
//! caller's identity policies must allow `sts:AssumeRole` too).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::Value;

use portcullis_aws::query::XmlWriter;
use portcullis_aws::{AwsError, Protocol, query};
use portcullis_core::{AccountId, Arn, Principal, PrincipalKind, RequestContext};
use portcullis_policy::{ContextValue, Policy, PolicyType, ResourcePolicies, ResourcePolicyKind};

use crate::Authorizer;
use crate::iam::records;
use crate::sessions::{self, IssuedCredentials, NewSession, SessionKind};

/// STS's XML namespace.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// STS's query protocol.
pub const PROTOCOL: Protocol = Protocol::Query { xmlns: XMLNS };

/// One hour: the default role session, and the cap of role chaining.
const ONE_HOUR: u64 = 3600;
/// Packed session policies and tags may use this many bytes (100%).
const PACKED_LIMIT: usize = 2048;

/// Serves one STS action. `input` has been decoded and validated against the operation's
/// input shape by the front, and the call authorized by its table row.
pub async fn call(
    authz: &Authorizer,
    ctx: &RequestContext,
    action: &str,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    // The operations that wait on the store are boxed: their futures are kilobytes, and an
    // unboxed one would make every STS call's future (GetCallerIdentity's too) that large, to
    // be copied as the request's future is built.
    match action {
        "GetCallerIdentity" => Ok(get_caller_identity(ctx)),
        "AssumeRole" => Box::pin(assume_role(authz, ctx, input)).await,
        "GetSessionToken" => Box::pin(get_session_token(authz, ctx, input)).await,
        "GetFederationToken" => Box::pin(get_federation_token(authz, ctx, input)).await,
        "GetAccessKeyInfo" => Box::pin(get_access_key_info(authz, ctx, input)).await,
        "DecodeAuthorizationMessage" => decode_authorization_message(authz, ctx, input),
        "AssumeRoleWithWebIdentity" => {
            Box::pin(assume_role_with_web_identity(authz, ctx, input)).await
        }
        "AssumeRoot" => Box::pin(assume_root(authz, ctx, input)).await,
        other => Err(AwsError::not_implemented(&format!("sts:{other}"))),
    }
}

/// `GetCallerIdentity`: who signed this request. Needs no permission, as in AWS.
fn get_caller_identity(ctx: &RequestContext) -> Response<Bytes> {
    let principal = &ctx.principal;
    query::response("GetCallerIdentity", XMLNS, &ctx.request_id, |xml| {
        xml.text_element("UserId", &principal.user_id);
        xml.text_element("Account", principal.account.as_str());
        xml.text_element("Arn", principal.arn.as_str());
    })
}

async fn assume_role(
    authz: &Authorizer,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    let caller = &ctx.principal;
    let role_arn = str_of(input, "RoleArn").unwrap_or_default();
    let session_name = str_of(input, "RoleSessionName").unwrap_or_default();
    let denied = || {
        AwsError::access_denied(
            PROTOCOL,
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            ),
        )
    };
    // "Roots cannot assume roles" (STS AssumeRole: the root user must not call it).
    if caller.kind == PrincipalKind::Root {
        return Err(AwsError::access_denied(
            PROTOCOL,
            "Roots cannot assume roles",
        ));
    }
    let arn = Arn::parse(&role_arn).map_err(|_| validation("RoleArn is not a valid ARN."))?;
    let role_account = AccountId::parse(arn.account()).map_err(|_| denied())?;
    // A closed account's roles cannot be assumed; AWS answers as for a role it does not find.
    if authz
        .auth()
        .is_closed(&role_account)
        .await
        .map_err(internal)?
    {
        return Err(denied());
    }
    let role_name = arn
        .resource()
        .strip_prefix("role/")
        .and_then(|r| r.rsplit('/').next())
        .ok_or_else(denied)?;
    let role = records::load_role(&**authz.store(), &role_account, role_name)
        .await
        .map_err(internal)?
        .filter(|r| r.arn == role_arn)
        .ok_or_else(denied)?;

    let caller_session = authz
        .auth()
        .session(&caller.access_key_id)
        .await
        .map_err(internal)?;
    let chained = caller.kind == PrincipalKind::AssumedRole;
    let max = u64::try_from(role.max_session_duration).unwrap_or(ONE_HOUR);
    let duration = match input.get("DurationSeconds").and_then(Value::as_u64) {
        Some(d) if chained && d > ONE_HOUR => {
            return Err(validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        Some(d) if d > max => {
            return Err(validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        Some(d) => d,
        None => ONE_HOUR,
    };

    let (policy, policy_arns) = session_policies(authz, &role_account, input).await?;
    let mut tags = tags_of(input, "Tags");
    let transitive: Vec<String> = strings_of(input, "TransitiveTagKeys");
    if let Some(bad) = transitive.iter().find(|k| !tags.contains_key(*k)) {
        return Err(AwsError::invalid_parameter_value(
            PROTOCOL,
            format!(
                "The specified transitive tag key {bad} must be included in the requested tags."
            ),
        ));
    }
    let mut transitive_keys = transitive.clone();
    // Transitive tags of a chained session pass on to the next session (IAM User Guide,
    // "Chaining roles with session tags").
    if let Some(parent) = &caller_session {
        for key in &parent.transitive_tag_keys {
            if let Some(v) = parent.tags.get(key) {
                tags.entry(key.clone()).or_insert_with(|| v.clone());
                if !transitive_keys.contains(key) {
                    transitive_keys.push(key.clone());
                }
            }
        }
    }
    let packed = packed_size(policy.as_deref(), &policy_arns, &tags)?;
    let source_identity = match (
        str_of(input, "SourceIdentity"),
        caller_session
            .as_ref()
            .and_then(|s| s.source_identity.clone()),
    ) {
        (Some(new), Some(old)) if new != old => {
            return Err(AwsError::access_denied(
                PROTOCOL,
                "The source identity of a chained role session cannot be changed.",
            ));
        }
        (new, old) => new.or(old),
    };

    // MFA given with the call: verified against the caller's device.
    let mfa_now = match (str_of(input, "SerialNumber"), str_of(input, "TokenCode")) {
        (Some(serial), Some(code)) => {
            verify_mfa(authz, caller, &serial, &code, ctx).await?;
            true
        }
        _ => false,
    };
    let mfa = mfa_now || caller.mfa_authenticated;

    let resource = trust_policy(
        authz,
        &role_arn,
        &role.assume_role_policy_document,
        &role_account,
    )
    .ok_or_else(denied)?;
    let mut extra: Vec<(String, ContextValue)> = Vec::new();
    for (key, member) in [
        ("sts:ExternalId", "ExternalId"),
        ("sts:RoleSessionName", "RoleSessionName"),
        ("sts:SourceIdentity", "SourceIdentity"),
    ] {
        if let Some(v) = str_of(input, member) {
            extra.push((key.to_owned(), ContextValue::string(v)));
        }
    }
    if mfa_now {
        extra.push((
            "aws:MultiFactorAuthPresent".to_owned(),
            ContextValue::bool(true),
        ));
        extra.push((
            "aws:MultiFactorAuthAge".to_owned(),
            ContextValue::number(0.0),
        ));
    } else if caller.token_issued_at.is_none() {
        // Long-term credentials carry no MFA; a trust policy that requires it must see false
        // ("Configuring MFA-protected API access": the key is absent, and BoolIfExists
        // conditions treat that as not authenticated).
    }
    let request_tags = tags_of(input, "Tags");
    for (k, v) in &request_tags {
        extra.push((
            format!("aws:RequestTag/{k}"),
            ContextValue::string(v.clone()),
        ));
    }
    if !request_tags.is_empty() {
        extra.push((
            "aws:TagKeys".to_owned(),
            ContextValue::strings(request_tags.keys().cloned()),
        ));
    }
    if !transitive.is_empty() {
        extra.push((
            "sts:TransitiveTagKeys".to_owned(),
            ContextValue::strings(transitive),
        ));
    }
    let mut actions = vec!["sts:AssumeRole"];
    if !request_tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if str_of(input, "SourceIdentity").is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    for action in actions {
        authz
            .decide(
                ctx,
                PROTOCOL,
                action,
                &role_arn,
                &[],
                &extra,
                Some(&resource),
            )
            .await?;
    }

    let user_id = format!("{}:{session_name}", role.role_id);
    let session_arn = Arn::new(
        portcullis_core::PARTITION,
        "sts",
        "",
        role_account.as_str(),
        &format!("assumed-role/{}/{session_name}", role.role_name),
    );
    let now = authz.clock().now();
    let principal = Principal {
        account: role_account.clone(),
        arn: session_arn.clone(),
        kind: PrincipalKind::AssumedRole,
        user_id: user_id.clone(),
        access_key_id: String::new(),
        mfa_authenticated: mfa,
        mfa_authenticated_at: if mfa_now {
            Some(now)
        } else {
            caller.mfa_authenticated_at
        },
        token_issued_at: None,
        tags: tags.clone(),
    };
    let (creds, _) = sessions::issue(
        authz.master(),
        NewSession {
            principal,
            kind: SessionKind::Role {
                role_arn: role.arn.clone(),
                role_name: role.role_name.clone(),
                role_id: role.role_id.clone(),
                session_name: session_name.clone(),
                chained,
            },
            policy,
            policy_arns,
            tags,
            transitive_tag_keys: transitive_keys,
            source_identity: source_identity.clone(),
            duration: Duration::from_secs(duration),
        },
        now,
    )
    .map_err(internal)?;
    authz
        .usage()
        .note_role_assumed(&role_account, &role.role_id, &ctx.region, now);
    Ok(query::response(
        "AssumeRole",
        XMLNS,
        &ctx.request_id,
        |xml| {
            credentials(xml, &creds);
            xml.start("AssumedRoleUser")
                .text_element("AssumedRoleId", &user_id)
                .text_element("Arn", session_arn.as_str())
                .end("AssumedRoleUser");
            if let Some(packed) = packed {
                xml.text_element("PackedPolicySize", &packed.to_string());
            }
            if let Some(source) = &source_identity {
                xml.text_element("SourceIdentity", source);
            }
        },
    ))
}

/// `AssumeRoot` (STS API Reference): a short session as the root user of a member account,
/// restricted by one of AWS's root task policies, for the management account or a delegated
/// administrator for IAM, once centralized root access is enabled
/// ([`crate::orgs::root_access`]). The caller needs `sts:AssumeRoot` on the member's root
/// (`arn:aws:iam::MEMBER:root`, condition key `sts:TaskPolicyArn`); the member account's SCPs
/// bind the session like any of its principals.
async fn assume_root(
    authz: &Authorizer,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    const MAX_ROOT_SESSION: u64 = 900;
    let caller = &ctx.principal;
    let target_input = str_of(input, "TargetPrincipal").unwrap_or_default();
    let target = target_input
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.strip_suffix(":root"))
        .unwrap_or(&target_input);
    let target = AccountId::parse(target)
        .map_err(|_| validation("TargetPrincipal must be a member account id or its root ARN."))?;
    let task = input
        .get("TaskPolicyArn")
        .and_then(|p| p.get("arn"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let is_root_task = task
        .strip_prefix(records::AWS_POLICY_ARN_PREFIX)
        .is_some_and(|rest| rest.starts_with("root-task/"))
        && records::aws_managed_policies()
            .iter()
            .any(|p| p.arn() == task);
    if !is_root_task {
        return Err(validation(
            "TaskPolicyArn must be one of the AWS managed root task policies (arn:aws:iam::aws:policy/root-task/...).",
        ));
    }
    let duration = input
        .get("DurationSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(MAX_ROOT_SESSION);
    if duration > MAX_ROOT_SESSION {
        return Err(validation(
            "The requested DurationSeconds exceeds the 900 seconds limit for root sessions.",
        ));
    }
    let resource = format!("arn:aws:iam::{}:root", target.as_str());
    let refused = |why: &str| {
        AwsError::access_denied(
            PROTOCOL,
            format!(
                "User: {} is not authorized to perform: sts:AssumeRoot on resource: {resource}: {why}",
                caller.arn
            ),
        )
    };
    // "You cannot use root user credentials to make this call."
    if caller.kind == PrincipalKind::Root {
        return Err(refused("root user credentials cannot call AssumeRoot."));
    }
    if let Some(why) = crate::orgs::root_access::assume_root_refusal(
        &**authz.store(),
        caller.account.as_str(),
        target.as_str(),
        &task,
    )
    .await
    .map_err(internal)?
    {
        return Err(refused(&why));
    }
    if authz.auth().is_closed(&target).await.map_err(internal)? {
        return Err(refused("the account is closed."));
    }
    // The caller's own policies decide, as for the Organizations actions it runs in its
    // account: the member's root is the resource, not a cross-account grant to ask for.
    let own_side = ResourcePolicies {
        owner_account: caller.account.as_str().to_owned(),
        policy: None,
        kind: ResourcePolicyKind::Resource,
        rcp_levels: Vec::new(),
        management_account: false,
    };
    let extra = [(
        "sts:TaskPolicyArn".to_owned(),
        ContextValue::string(task.clone()),
    )];
    authz
        .decide(
            ctx,
            PROTOCOL,
            "sts:AssumeRoot",
            &resource,
            &[],
            &extra,
            Some(&own_side),
        )
        .await?;

    let now = authz.clock().now();
    let principal = Principal::root(target.clone(), String::new());
    let (creds, _) = sessions::issue(
        authz.master(),
        NewSession {
            policy_arns: vec![task],
            ..NewSession::new(
                principal,
                SessionKind::Root {
                    caller_arn: caller.arn.as_str().to_owned(),
                },
                Duration::from_secs(duration),
            )
        },
        now,
    )
    .map_err(internal)?;
    Ok(query::response(
        "AssumeRoot",
        XMLNS,
        &ctx.request_id,
        |xml| {
            credentials(xml, &creds);
        },
    ))
}

async fn get_session_token(
    authz: &Authorizer,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    let caller = &ctx.principal;
    if caller.token_issued_at.is_some() {
        return Err(AwsError::access_denied(
            PROTOCOL,
            "Cannot call GetSessionToken with session credentials",
        ));
    }
    let requested = input
        .get("DurationSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(12 * ONE_HOUR);
    // The root user's sessions last at most one hour (STS API Reference, GetSessionToken).
    let duration = if caller.kind == PrincipalKind::Root {
        requested.min(ONE_HOUR)
    } else {
        requested
    };
    let mfa = match (str_of(input, "SerialNumber"), str_of(input, "TokenCode")) {
        (Some(serial), Some(code)) => {
            verify_mfa(authz, caller, &serial, &code, ctx).await?;
            true
        }
        _ => false,
    };
    let now = authz.clock().now();
    let mut principal = Principal::clone(caller);
    principal.mfa_authenticated = mfa;
    principal.mfa_authenticated_at = mfa.then_some(now);
    let (creds, _) = sessions::issue(
        authz.master(),
        NewSession::new(
            principal,
            SessionKind::SessionToken,
            Duration::from_secs(duration),
        ),
        now,
    )
    .map_err(internal)?;
    Ok(query::response(
        "GetSessionToken",
        XMLNS,
        &ctx.request_id,
        |xml| {
            credentials(xml, &creds);
        },
    ))
}

async fn get_federation_token(
    authz: &Authorizer,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    let caller = &ctx.principal;
    if caller.token_issued_at.is_some() {
        return Err(AwsError::access_denied(
            PROTOCOL,
            "Cannot call GetFederationToken with session credentials",
        ));
    }
    let name = str_of(input, "Name").unwrap_or_default();
    let requested = input
        .get("DurationSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(12 * ONE_HOUR);
    let duration = if caller.kind == PrincipalKind::Root {
        requested.min(ONE_HOUR)
    } else {
        requested
    };
    let (policy, policy_arns) = session_policies(authz, &caller.account, input).await?;
    let tags = tags_of(input, "Tags");
    let packed = packed_size(policy.as_deref(), &policy_arns, &tags)?;
    let account = caller.account.clone();
    let arn = Arn::new(
        portcullis_core::PARTITION,
        "sts",
        "",
        account.as_str(),
        &format!("federated-user/{name}"),
    );
    let user_id = format!("{}:{name}", account.as_str());
    let principal = Principal {
        account: account.clone(),
        arn: arn.clone(),
        kind: PrincipalKind::FederatedUser,
        user_id: user_id.clone(),
        access_key_id: String::new(),
        mfa_authenticated: false,
        mfa_authenticated_at: None,
        token_issued_at: None,
        tags: tags.clone(),
    };
    let (creds, _) = sessions::issue(
        authz.master(),
        NewSession {
            policy,
            policy_arns,
            tags,
            ..NewSession::new(
                principal,
                SessionKind::Federated {
                    user_name: caller.user_name().map(str::to_owned),
                    name: name.clone(),
                },
                Duration::from_secs(duration),
            )
        },
        authz.clock().now(),
    )
    .map_err(internal)?;
    Ok(query::response(
        "GetFederationToken",
        XMLNS,
        &ctx.request_id,
        |xml| {
            credentials(xml, &creds);
            xml.start("FederatedUser")
                .text_element("FederatedUserId", &user_id)
                .text_element("Arn", arn.as_str())
                .end("FederatedUser");
            if let Some(packed) = packed {
                xml.text_element("PackedPolicySize", &packed.to_string());
            }
        },
    ))
}

/// A role's trust policy as the resource policy of `sts:AssumeRole*` on it (`None` when the
/// stored document does not parse), parsed once for as long as it does not change.
fn trust_policy(
    authz: &Authorizer,
    role_arn: &str,
    document: &str,
    owner: &AccountId,
) -> Option<ResourcePolicies> {
    let trust = authz
        .resource_policy(role_arn, document, PolicyType::Trust)
        .ok()?;
    Some(ResourcePolicies {
        owner_account: owner.as_str().to_owned(),
        policy: Some(trust),
        kind: ResourcePolicyKind::Trust,
        rcp_levels: Vec::new(),
        management_account: false,
    })
}

async fn get_access_key_info(
    authz: &Authorizer,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    let key_id = str_of(input, "AccessKeyId").unwrap_or_default();
    let store = &**authz.store();
    let account = if key_id.starts_with(portcullis_core::id::prefix::TEMPORARY_ACCESS_KEY) {
        sessions::account_of(&key_id)
    } else {
        store
            .get(crate::keys::KIND, "", &key_id)
            .await
            .map_err(|e| internal(e.into()))?
            .and_then(|item| serde_json::from_value::<crate::AccessKeyRecord>(item.value).ok())
            .map(|k| k.account)
    };
    // Keys Portcullis did not issue: a 12-digit id names its account (as dev mode reads it).
    let account = account
        .or_else(|| AccountId::parse(&key_id).ok())
        .ok_or_else(|| {
            AwsError::invalid_parameter_value(PROTOCOL, "The access key ID is not valid.")
        })?;
    Ok(query::response(
        "GetAccessKeyInfo",
        XMLNS,
        &ctx.request_id,
        |xml| {
            xml.text_element("Account", account.as_str());
        },
    ))
}

fn decode_authorization_message(
    authz: &Authorizer,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    let encoded = str_of(input, "EncodedMessage").unwrap_or_default();
    let decoded = authz
        .decode_message(&ctx.principal.account, &encoded)
        .ok_or_else(|| {
            AwsError::new(
                "InvalidAuthorizationMessageException",
                StatusCode::BAD_REQUEST,
                "The error message being decoded is not valid.",
            )
        })?;
    Ok(query::response(
        "DecodeAuthorizationMessage",
        XMLNS,
        &ctx.request_id,
        |xml| {
            xml.text_element("DecodedMessage", &decoded);
        },
    ))
}

/// `AssumeRoleWithWebIdentity`: an unsigned call whose OIDC token (a JWT signed with RS256)
/// is verified against the keys of the issuer's JWKS ([`jwks_source`]), checked against the
/// role account's OIDC provider (issuer URL and audience), and whose claims the role's trust
/// policy sees as `<provider>:aud`, `<provider>:sub` and `<provider>:iss`.
async fn assume_role_with_web_identity(
    authz: &Authorizer,
    ctx: &RequestContext,
    input: &Value,
) -> Result<Response<Bytes>, AwsError> {
    let role_arn = str_of(input, "RoleArn").unwrap_or_default();
    let session_name = str_of(input, "RoleSessionName").unwrap_or_default();
    let token = str_of(input, "WebIdentityToken").unwrap_or_default();
    let now = ctx.received_at;
    let claims = web_identity::verify(&token, now).await?;
    let issuer = claims.issuer.clone();
    let provider_key = records::oidc_key(&issuer);
    let denied = || {
        AwsError::access_denied(
            PROTOCOL,
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        )
    };
    let arn = Arn::parse(&role_arn).map_err(|_| validation("RoleArn is not a valid ARN."))?;
    let account = AccountId::parse(arn.account()).map_err(|_| denied())?;
    let provider = records::load::<records::OidcProviderRecord>(
        &**authz.store(),
        account.as_str(),
        &provider_key,
    )
    .await
    .map_err(internal)?
    .ok_or_else(|| {
        web_identity::invalid(&format!(
            "No OpenIDConnect provider found in your account for {issuer}"
        ))
    })?;
    if !claims
        .audiences
        .iter()
        .any(|a| provider.client_id_list.contains(a))
    {
        return Err(web_identity::invalid("Incorrect token audience"));
    }
    let role_name = arn
        .resource()
        .strip_prefix("role/")
        .and_then(|r| r.rsplit('/').next())
        .ok_or_else(denied)?;
    let role = records::load_role(&**authz.store(), &account, role_name)
        .await
        .map_err(internal)?
        .filter(|r| r.arn == role_arn)
        .ok_or_else(denied)?;
    let max = u64::try_from(role.max_session_duration).unwrap_or(ONE_HOUR);
    let duration = match input.get("DurationSeconds").and_then(Value::as_u64) {
        Some(d) if d > max => {
            return Err(validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            ));
        }
        Some(d) => d,
        None => ONE_HOUR,
    };
    let (policy, policy_arns) = session_policies(authz, &account, input).await?;
    let packed = packed_size(policy.as_deref(), &policy_arns, &BTreeMap::new())?;

    // The trust policy alone decides: a web identity has no identity-based policies.
    let resource = trust_policy(
        authz,
        &role_arn,
        &role.assume_role_policy_document,
        &account,
    )
    .ok_or_else(denied)?;
    let principal = portcullis_policy::RequestPrincipal {
        arn: provider.arn.clone(),
        account: account.as_str().to_owned(),
        kind: portcullis_policy::PrincipalKind::Federated,
        role_arn: None,
        service_linked_role: false,
    };
    let audience = claims.audiences.first().cloned().unwrap_or_default();
    let mut context = portcullis_policy::Context::new();
    context.insert(
        &format!("{provider_key}:aud"),
        ContextValue::strings(claims.audiences.iter().cloned()),
    );
    context.insert(
        &format!("{provider_key}:sub"),
        ContextValue::string(claims.subject.clone()),
    );
    context.insert(
        &format!("{provider_key}:iss"),
        ContextValue::string(issuer.clone()),
    );
    context.insert(
        "aws:FederatedProvider",
        ContextValue::string(provider.arn.clone()),
    );
    context.insert("aws:SourceIp", ContextValue::ip(ctx.source_ip));
    context.insert(
        "aws:CurrentTime",
        ContextValue::date(crate::authz::odt(now)),
    );
    context.insert(
        "sts:RoleSessionName",
        ContextValue::string(session_name.clone()),
    );
    let request = portcullis_policy::Request::new(
        principal,
        "sts:AssumeRoleWithWebIdentity",
        role_arn.clone(),
    )
    .with_full_context(context);
    let no_identity_policies = portcullis_policy::PrincipalPolicies::default();
    let decision = portcullis_policy::evaluate(&no_identity_policies, Some(&resource), &request);
    if !decision.is_allowed() {
        return Err(denied());
    }

    let user_id = format!("{}:{session_name}", role.role_id);
    let session_arn = Arn::new(
        portcullis_core::PARTITION,
        "sts",
        "",
        account.as_str(),
        &format!("assumed-role/{}/{session_name}", role.role_name),
    );
    let principal = Principal {
        account: account.clone(),
        arn: session_arn.clone(),
        kind: PrincipalKind::AssumedRole,
        user_id: user_id.clone(),
        access_key_id: String::new(),
        mfa_authenticated: false,
        mfa_authenticated_at: None,
        token_issued_at: None,
        tags: BTreeMap::new(),
    };
    let (creds, _) = sessions::issue(
        authz.master(),
        NewSession {
            policy,
            policy_arns,
            ..NewSession::new(
                principal,
                SessionKind::Role {
                    role_arn: role.arn.clone(),
                    role_name: role.role_name.clone(),
                    role_id: role.role_id.clone(),
                    session_name: session_name.clone(),
                    chained: false,
                },
                Duration::from_secs(duration),
            )
        },
        authz.clock().now(),
    )
    .map_err(internal)?;
    authz
        .usage()
        .note_role_assumed(&account, &role.role_id, &ctx.region, authz.clock().now());
    Ok(query::response(
        "AssumeRoleWithWebIdentity",
        XMLNS,
        &ctx.request_id,
        |xml| {
            credentials(xml, &creds);
            xml.text_element("SubjectFromWebIdentityToken", &claims.subject);
            xml.start("AssumedRoleUser")
                .text_element("AssumedRoleId", &user_id)
                .text_element("Arn", session_arn.as_str())
                .end("AssumedRoleUser");
            if let Some(packed) = packed {
                xml.text_element("PackedPolicySize", &packed.to_string());
            }
            xml.text_element("Provider", &issuer);
            xml.text_element("Audience", &audience);
        },
    ))
}

/// The principal of an unsigned STS call (`AssumeRoleWithWebIdentity`): nobody. It is never
/// authorized for anything; the call itself proves who the caller is with its token.
pub fn anonymous_principal() -> Principal {
    let account = AccountId::parse("000000000000").unwrap_or_else(|_| AccountId::random());
    let mut principal = Principal::root(account, String::new());
    principal.kind = PrincipalKind::FederatedUser;
    principal.arn = Arn::new(
        portcullis_core::PARTITION,
        "sts",
        "",
        principal.account.as_str(),
        "federated-user/anonymous",
    );
    principal.user_id = "anonymous".to_owned();
    principal
}

/// The session policies of a request: the inline `Policy` (validated as a session policy)
/// and the managed `PolicyArns`, which must exist.
async fn session_policies(
    authz: &Authorizer,
    account: &AccountId,
    input: &Value,
) -> Result<(Option<String>, Vec<String>), AwsError> {
    let policy = str_of(input, "Policy");
    if let Some(text) = &policy
        && let Err(portcullis_policy::Error::Invalid { findings }) =
            Policy::parse("session-policy", text, PolicyType::Session)
    {
        let message = findings.first().map_or_else(
            || "Syntax errors in policy.".to_owned(),
            |f| f.message.clone(),
        );
        return Err(AwsError::new(
            "MalformedPolicyDocument",
            StatusCode::BAD_REQUEST,
            message,
        ));
    }
    let mut arns = Vec::new();
    for item in input
        .get("PolicyArns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(arn) = item.get("arn").and_then(Value::as_str) else {
            continue;
        };
        let found = records::load_managed_policy(&**authz.store(), account, arn)
            .await
            .map_err(internal)?;
        if found.is_none() {
            return Err(AwsError::invalid_parameter_value(
                PROTOCOL,
                format!("Policy {arn} does not exist or is not attachable."),
            ));
        }
        arns.push(arn.to_owned());
    }
    Ok((policy, arns))
}

/// The packed size of session policies and tags, in percent of the allowed value; `None` when
/// there are none. Over 100: `PackedPolicyTooLarge` (STS API Reference, AssumeRole).
fn packed_size(
    policy: Option<&str>,
    arns: &[String],
    tags: &BTreeMap<String, String>,
) -> Result<Option<usize>, AwsError> {
    if policy.is_none() && arns.is_empty() && tags.is_empty() {
        return Ok(None);
    }
    let bytes = policy.map_or(0, portcullis_policy::policy_size)
        + arns.iter().map(String::len).sum::<usize>()
        + tags
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
    let percent = (bytes * 100).div_ceil(PACKED_LIMIT);
    if percent > 100 {
        return Err(AwsError::new(
            "PackedPolicyTooLarge",
            StatusCode::BAD_REQUEST,
            format!(
                "Packed size of consumed sessions policies and session tags exceeds 100% of allowed value ({percent}%)."
            ),
        ));
    }
    Ok(Some(percent))
}

/// Checks a TOTP code of the caller's enabled MFA device `serial` (the IAM API's verifier:
/// RFC 6238, SHA-1, 6 digits, 30 s, one step of drift). An IAM user must use one of the
/// devices enabled for it.
async fn verify_mfa(
    authz: &Authorizer,
    caller: &Principal,
    serial: &str,
    code: &str,
    ctx: &RequestContext,
) -> Result<(), AwsError> {
    let failed = || {
        AwsError::access_denied(
            PROTOCOL,
            "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
        )
    };
    let store = &**authz.store();
    if let Some(name) = caller.user_name() {
        let user = records::load_user(store, &caller.account, name)
            .await
            .map_err(internal)?;
        if !user.is_some_and(|u| u.mfa_devices.iter().any(|d| d == serial)) {
            return Err(failed());
        }
    }
    let ok = crate::iam::verify_mfa_code(
        store,
        authz.master(),
        &caller.account,
        serial,
        code,
        ctx.received_at,
    )
    .await
    .map_err(internal)?;
    if ok { Ok(()) } else { Err(failed()) }
}

pub mod web_identity {
    //! OIDC tokens: JWT parsing, RS256 verification against the issuer's JWKS, and where the
    //! JWKS comes from.
    //!
    //! Portcullis does not reach out to the internet: the keys of an issuer come from the
    //! `PORTCULLIS_OIDC_JWKS` environment variable, a comma-separated list of
    //! `ISSUER=SOURCE`, where SOURCE is a JWKS file path or a loopback `http://127.0.0.1:PORT/...`
    //! (or `localhost`) URL that serves one.

    use std::time::SystemTime;

    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
    use http::StatusCode;
    use serde_json::Value;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use portcullis_aws::AwsError;

    /// The claims STS uses.
    #[derive(Debug, Clone)]
    pub struct Claims {
        /// `iss`.
        pub issuer: String,
        /// `sub`.
        pub subject: String,
        /// `aud` (a string or a list).
        pub audiences: Vec<String>,
    }

    /// `InvalidIdentityToken` (400) with `message`.
    pub fn invalid(message: &str) -> AwsError {
        AwsError::new("InvalidIdentityToken", StatusCode::BAD_REQUEST, message)
    }

    /// Verifies `token` at `now`: well formed, RS256-signed by a key of its issuer's JWKS,
    /// not expired and not used before `nbf`.
    pub async fn verify(token: &str, now: SystemTime) -> Result<Claims, AwsError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("The ID Token provided is not a valid JWT."));
        };
        let decode_json = |part: &str| -> Result<Value, AwsError> {
            let bytes = B64URL
                .decode(part.trim_end_matches('='))
                .map_err(|_| invalid("The ID Token provided is not a valid JWT."))?;
            serde_json::from_slice(&bytes)
                .map_err(|_| invalid("The ID Token provided is not a valid JWT."))
        };
        let header = decode_json(header)?;
        let claims = decode_json(payload)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(invalid(
                "Unsupported token signing algorithm; RS256 is required.",
            ));
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("The ID Token provided has no issuer."))?
            .to_owned();
        let signature = B64URL
            .decode(signature.trim_end_matches('='))
            .map_err(|_| invalid("The ID Token provided is not a valid JWT."))?;
        let jwks = load_jwks(&issuer).await?;
        let signed = token
            .rsplit_once('.')
            .map(|(m, _)| m)
            .unwrap_or_default()
            .as_bytes();
        let verified = jwks
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|k| k.get("kty").and_then(Value::as_str) == Some("RSA"))
            .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
            .any(|k| {
                let field = |name: &str| {
                    k.get(name)
                        .and_then(Value::as_str)
                        .and_then(|v| B64URL.decode(v.trim_end_matches('=')).ok())
                };
                match (field("n"), field("e")) {
                    (Some(n), Some(e)) => RsaPublicKeyComponents { n, e }
                        .verify(&RSA_PKCS1_2048_8192_SHA256, signed, &signature)
                        .is_ok(),
                    _ => false,
                }
            });
        if !verified {
            return Err(invalid("The ID Token signature could not be verified."));
        }
        let at = crate::authz::epoch(now);
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        if let Some(exp) = number("exp")
            && at >= exp
        {
            return Err(AwsError::new(
                "ExpiredTokenException",
                StatusCode::BAD_REQUEST,
                "Token expired: current date/time must be before the expiration date/time.",
            ));
        }
        if number("exp").is_none() {
            return Err(invalid("The ID Token provided has no expiration."));
        }
        if let Some(nbf) = number("nbf")
            && at < nbf
        {
            return Err(invalid("The ID Token provided is not yet valid."));
        }
        let audiences = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Claims {
            issuer,
            subject: claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            audiences,
        })
    }

    /// Where the JWKS of `issuer` is configured (see the module docs).
    pub fn jwks_source(issuer: &str) -> Option<String> {
        let config = std::env::var("PORTCULLIS_OIDC_JWKS").ok()?;
        let issuer = issuer.trim_end_matches('/');
        config.split(',').find_map(|entry| {
            let (iss, source) = entry.trim().split_once('=')?;
            (iss.trim_end_matches('/') == issuer).then(|| source.to_owned())
        })
    }

    async fn load_jwks(issuer: &str) -> Result<Value, AwsError> {
        let unavailable = || {
            AwsError::new(
                "IDPCommunicationError",
                StatusCode::BAD_REQUEST,
                format!("No keys are configured for the identity provider {issuer}."),
            )
        };
        let source = jwks_source(issuer).ok_or_else(unavailable)?;
        let text = match source.strip_prefix("http://") {
            Some(rest) => fetch_loopback(rest).await.ok_or_else(unavailable)?,
            None => tokio::fs::read_to_string(&source)
                .await
                .map_err(|_| unavailable())?,
        };
        serde_json::from_str(&text).map_err(|_| unavailable())
    }

    /// GET over plain HTTP/1.1 from a loopback address only (a test or sidecar issuer).
    async fn fetch_loopback(rest: &str) -> Option<String> {
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return None;
        }
        let mut stream = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::net::TcpStream::connect(authority),
        )
        .await
        .ok()?
        .ok()?;
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.take(1 << 20).read_to_end(&mut body),
        )
        .await
        .ok()?
        .ok()?;
        let text = String::from_utf8(body).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        (head.split_whitespace().nth(1) == Some("200")).then(|| body.to_owned())
    }
}

fn credentials(xml: &mut XmlWriter, creds: &IssuedCredentials) {
    xml.start("Credentials")
        .text_element("AccessKeyId", &creds.access_key_id)
        .text_element("SecretAccessKey", creds.secret_access_key.expose())
        .text_element("SessionToken", creds.session_token.expose())
        .text_element("Expiration", &creds.expiration)
        .end("Credentials");
}

fn str_of(input: &Value, member: &str) -> Option<String> {
    input.get(member).and_then(Value::as_str).map(str::to_owned)
}

fn strings_of(input: &Value, member: &str) -> Vec<String> {
    input
        .get(member)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn tags_of(input: &Value, member: &str) -> BTreeMap<String, String> {
    input
        .get(member)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    Some((
                        t.get("Key")?.as_str()?.to_owned(),
                        t.get("Value")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn validation(message: &str) -> AwsError {
    AwsError::new("ValidationError", StatusCode::BAD_REQUEST, message)
}

fn internal(e: crate::IamError) -> AwsError {
    tracing::error!(error = %e, "STS could not use the store");
    AwsError::internal_failure()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_size_is_a_percentage_and_refuses_over_100() {
        assert_eq!(packed_size(None, &[], &BTreeMap::new()).unwrap(), None);
        let small = packed_size(Some(r#"{"a": 1}"#), &[], &BTreeMap::new()).unwrap();
        assert_eq!(small, Some(1));
        let big: BTreeMap<String, String> = (0..50)
            .map(|i| (format!("key{i:03}"), "v".repeat(60)))
            .collect();
        let err = packed_size(None, &[], &big).unwrap_err();
        assert_eq!(err.code, "PackedPolicyTooLarge");
    }
}
