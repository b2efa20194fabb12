//! IAM `SimulatePrincipalPolicy` and `SimulateCustomPolicy` on the policy engine.
//!
//! Both evaluate every action in `ActionNames` against every ARN in `ResourceArns` (`*` when
//! none) with the given `ContextEntries`, the principal's policies (or the given ones), the
//! permissions boundary, and an optional resource policy, and return botocore's
//! `SimulatePolicyResponse` as JSON (the IAM API serializes it). As AWS's simulator, they do
//! not add global keys the caller did not give: missing keys are reported in
//! `MissingContextValues`.

use serde_json::{Value, json};

use portcullis_aws::AwsError;
use portcullis_core::{AccountId, RequestContext};
use portcullis_policy::{
    Context, ContextValue, Effect, Layer, Policy, PolicyType, PrincipalKind, PrincipalPolicies,
    Request, RequestPrincipal, ResourcePolicies, ResourcePolicyKind, evaluate,
};

use super::{Authorizer, push};
use crate::iam::records;

impl Authorizer {
    /// `SimulatePrincipalPolicy`: the policies of the user, group or role `PolicySourceArn`
    /// (a user's include its groups'), plus `PolicyInputList`.
    pub async fn simulate_principal_policy(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Value, AwsError> {
        let source = input
            .get("PolicySourceArn")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let account = &ctx.principal.account;
        let mut set = PrincipalPolicies::default();
        let mut tags = std::collections::BTreeMap::new();
        let resource = source.split(':').nth(5).unwrap_or_default();
        let name = resource.rsplit('/').next().unwrap_or_default();
        let no_entity = || {
            AwsError::new(
                "NoSuchEntity",
                http::StatusCode::NOT_FOUND,
                format!("The specified PolicySourceArn {source} could not be found."),
            )
        };
        let principal = if resource.starts_with("user/") {
            let held = self
                .load_user_policies(account, name)
                .await
                .map_err(super::internal)?
                .ok_or_else(no_entity)?;
            held.apply(&mut set, &mut tags);
            RequestPrincipal::from_arn(source).ok_or_else(no_entity)?
        } else if resource.starts_with("group/") {
            let group = records::load_group(&**self.store(), account, name)
                .await
                .map_err(super::internal)?
                .ok_or_else(no_entity)?;
            for (policy, doc) in &group.inline_policies {
                push(&mut set.identity, policy, doc, PolicyType::Identity);
            }
            self.push_managed(
                &mut set.identity,
                account,
                &group.attached_policies,
                PolicyType::Identity,
            )
            .await
            .map_err(super::internal)?;
            placeholder_user(account)
        } else if resource.starts_with("role/") {
            let role = records::load_role(&**self.store(), account, name)
                .await
                .map_err(super::internal)?
                .ok_or_else(no_entity)?;
            for (policy, doc) in &role.inline_policies {
                push(&mut set.identity, policy, doc, PolicyType::Identity);
            }
            self.push_managed(
                &mut set.identity,
                account,
                &role.attached_policies,
                PolicyType::Identity,
            )
            .await
            .map_err(super::internal)?;
            set.boundary = self
                .boundary(account, role.permissions_boundary.as_deref())
                .await
                .map_err(super::internal)?;
            RequestPrincipal {
                arn: format!(
                    "arn:aws:sts::{}:assumed-role/{}/simulation",
                    account.as_str(),
                    role.role_name
                ),
                account: account.as_str().to_owned(),
                kind: PrincipalKind::AssumedRole,
                role_arn: Some(role.arn.clone()),
                service_linked_role: role.service_linked.is_some(),
            }
        } else {
            return Err(invalid_input(&format!("Invalid ARN: {source}")));
        };
        // SCPs bind the principals of member accounts, and the simulator includes them
        // (IAM User Guide, "Testing IAM policies with the IAM policy simulator").
        if let Some(scps) = self.scps.levels(account).await.map_err(super::internal)? {
            set.scp_levels = scps.levels;
            set.management_account = scps.management_account;
        }
        add_input_policies(&mut set, input)?;
        simulate(&set, principal, input, account)
    }

    /// `SimulateCustomPolicy`: only the policies given in `PolicyInputList` (and
    /// `PermissionsBoundaryPolicyInputList`).
    pub async fn simulate_custom_policy(
        &self,
        ctx: &RequestContext,
        input: &Value,
    ) -> Result<Value, AwsError> {
        let mut set = PrincipalPolicies::default();
        add_input_policies(&mut set, input)?;
        simulate(
            &set,
            placeholder_user(&ctx.principal.account),
            input,
            &ctx.principal.account,
        )
    }
}

fn placeholder_user(account: &AccountId) -> RequestPrincipal {
    RequestPrincipal {
        arn: format!("arn:aws:iam::{}:user/SimulatedUser", account.as_str()),
        account: account.as_str().to_owned(),
        kind: PrincipalKind::User,
        role_arn: None,
        service_linked_role: false,
    }
}

fn add_input_policies(set: &mut PrincipalPolicies, input: &Value) -> Result<(), AwsError> {
    for (i, text) in strings(input, "PolicyInputList").iter().enumerate() {
        set.identity.push(parse(
            &format!("PolicyInputList.{}", i + 1),
            text,
            PolicyType::Identity,
        )?);
    }
    for (i, text) in strings(input, "PermissionsBoundaryPolicyInputList")
        .iter()
        .enumerate()
    {
        set.boundary = Some(parse(
            &format!("PermissionsBoundaryPolicyInputList.{}", i + 1),
            text,
            PolicyType::Boundary,
        )?);
    }
    Ok(())
}

fn simulate(
    set: &PrincipalPolicies,
    principal: RequestPrincipal,
    input: &Value,
    account: &AccountId,
) -> Result<Value, AwsError> {
    let principal = match input.get("CallerArn").and_then(Value::as_str) {
        Some(caller) => RequestPrincipal::from_arn(caller)
            .ok_or_else(|| invalid_input(&format!("Invalid CallerArn: {caller}")))?,
        None => principal,
    };
    let resource_policy = match input.get("ResourcePolicy").and_then(Value::as_str) {
        Some(text) => Some(ResourcePolicies {
            owner_account: input
                .get("ResourceOwner")
                .and_then(Value::as_str)
                .and_then(|o| o.split(':').nth(4).filter(|a| !a.is_empty()).or(Some(o)))
                .unwrap_or(account.as_str())
                .to_owned(),
            policy: Some(parse("ResourcePolicy", text, PolicyType::Resource)?),
            kind: ResourcePolicyKind::Resource,
            rcp_levels: Vec::new(),
            management_account: false,
        }),
        None => None,
    };
    let context = context_entries(input)?;
    let mut resources = strings(input, "ResourceArns");
    if resources.is_empty() {
        resources.push("*".to_owned());
    }
    let mut results = Vec::new();
    for action in strings(input, "ActionNames") {
        for resource in &resources {
            let request = Request::new(principal.clone(), action.clone(), resource.clone())
                .with_full_context(context.clone());
            let decision = evaluate(set, resource_policy.as_ref(), &request);
            let matched: Vec<Value> = decision
                .matched
                .iter()
                .map(|m| {
                    json!({"SourcePolicyId": m.policy_id, "SourcePolicyType": source_type(m.layer, m.policy_id)})
                })
                .collect();
            let missing: Vec<&str> = decision.missing_context_keys.iter().collect();
            let eval = match decision.effect {
                Effect::Allow => "allowed",
                Effect::ExplicitDeny => "explicitDeny",
                Effect::ImplicitDeny => "implicitDeny",
            };
            let mut result = json!({
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": eval,
                "MatchedStatements": matched,
                "MissingContextValues": missing,
            });
            if set.boundary.is_some() {
                let capped = decision.effect != Effect::Allow
                    && decision.deciding_layer == Layer::PermissionsBoundary;
                if let Some(obj) = result.as_object_mut() {
                    obj.insert(
                        "PermissionsBoundaryDecisionDetail".to_owned(),
                        json!({"AllowedByPermissionsBoundary": !capped}),
                    );
                }
            }
            if !set.scp_levels.is_empty() {
                let denied = decision.effect != Effect::Allow
                    && decision.deciding_layer == Layer::ServiceControlPolicy;
                if let Some(obj) = result.as_object_mut() {
                    obj.insert(
                        "OrganizationsDecisionDetail".to_owned(),
                        json!({"AllowedByOrganizations": !denied}),
                    );
                }
            }
            results.push(result);
        }
    }
    paginate(results, input)
}

/// `MaxItems` (default 100) and `Marker` over the results, as IAM's list operations page.
fn paginate(results: Vec<Value>, input: &Value) -> Result<Value, AwsError> {
    let start = match input.get("Marker").and_then(Value::as_str) {
        Some(marker) => marker
            .parse::<usize>()
            .ok()
            .filter(|m| *m <= results.len())
            .ok_or_else(|| invalid_input("Invalid Marker."))?,
        None => 0,
    };
    let max = input
        .get("MaxItems")
        .and_then(Value::as_u64)
        .and_then(|m| usize::try_from(m).ok())
        .unwrap_or(100);
    let total = results.len();
    let end = start.saturating_add(max).min(total);
    let page: Vec<Value> = results
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect();
    if end < total {
        Ok(json!({"EvaluationResults": page, "IsTruncated": true, "Marker": end.to_string()}))
    } else {
        Ok(json!({"EvaluationResults": page, "IsTruncated": false}))
    }
}

fn source_type(layer: Layer, id: &str) -> &'static str {
    match layer {
        Layer::ResourceBased => "resource",
        _ if id.starts_with("arn:aws:iam::aws:policy/") => "aws-managed",
        _ if id.contains(":policy/") => "user-managed",
        _ if id.contains(":role/") => "role",
        _ if id.contains(":group/") => "group",
        _ if id.contains(":user/") => "user",
        _ => "none",
    }
}

/// `ContextEntries` as an engine context; list types become multivalued keys.
fn context_entries(input: &Value) -> Result<Context, AwsError> {
    let mut context = Context::new();
    for entry in input
        .get("ContextEntries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = entry.get("ContextKeyName").and_then(Value::as_str) else {
            continue;
        };
        let values = strings(entry, "ContextKeyValues");
        let ty = entry
            .get("ContextKeyType")
            .and_then(Value::as_str)
            .unwrap_or("string");
        let value = if ty.ends_with("List") {
            ContextValue::strings(values)
        } else {
            match values.as_slice() {
                [one] => ContextValue::string(one.clone()),
                _ => {
                    return Err(invalid_input(&format!(
                        "Context key {name} of type {ty} must have exactly one value."
                    )));
                }
            }
        };
        context.insert(name, value);
    }
    Ok(context)
}

fn parse(id: &str, text: &str, ty: PolicyType) -> Result<Policy, AwsError> {
    Policy::parse(id, text, ty).map_err(|e| {
        let message = match e {
            portcullis_policy::Error::Invalid { findings } => findings.first().map_or_else(
                || "Syntax errors in policy.".to_owned(),
                |f| f.message.clone(),
            ),
            other => other.to_string(),
        };
        AwsError::new(
            "MalformedPolicyDocument",
            http::StatusCode::BAD_REQUEST,
            message,
        )
    })
}

fn strings(input: &Value, member: &str) -> Vec<String> {
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

fn invalid_input(message: &str) -> AwsError {
    AwsError::new("InvalidInput", http::StatusCode::BAD_REQUEST, message)
}
