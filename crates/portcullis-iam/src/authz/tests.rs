use super::*;

#[test]
fn every_operation_of_the_tabled_services_has_a_row() {
    for service in ["iam", "sts", "cloudtrail", "organizations"] {
        let model = portcullis_model::service(service).unwrap();
        let rows = table::table(service).unwrap();
        let mut missing = Vec::new();
        for op in model.operations() {
            match table::rule(service, op.name()) {
                Some(rule) => {
                    assert_eq!(rule.action, format!("{service}:{}", op.name()));
                }
                None => missing.push(op.name()),
            }
        }
        assert!(missing.is_empty(), "{service} rows missing: {missing:?}");
        assert_eq!(
            rows.len(),
            model.operations().count(),
            "{service}: a row for no operation"
        );
    }
}

// ---- decisions over a store, with entities written as the IAM API stores them ----

use std::net::IpAddr;
use std::time::Duration;

use portcullis_core::{Arn, FixedClock, Principal};
use portcullis_store::{MasterKey, Precondition, StoreLocation, WriteOp};

use crate::auth::Mode;
use crate::iam::records::{GROUP, ROLE, USER, name_key};

const ACCOUNT: &str = "111122223333";
const ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

struct Fixture {
    store: Arc<dyn Store>,
    auth: Arc<Authenticator>,
    authz: Authorizer,
    clock: Arc<FixedClock>,
}

async fn fixture() -> Fixture {
    let master = Arc::new(MasterKey::generate().unwrap());
    let store = portcullis_store::open(&StoreLocation::SqliteInMemory, master.derive("audit"))
        .await
        .unwrap();
    let auth = Arc::new(Authenticator::new(
        store.clone(),
        master.clone(),
        Mode::Dev {
            default_account: account(),
        },
    ));
    let clock = Arc::new(FixedClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let authz = Authorizer::new(store.clone(), master, auth.clone(), clock.clone());
    Fixture {
        store,
        auth,
        authz,
        clock,
    }
}

fn account() -> AccountId {
    AccountId::parse(ACCOUNT).unwrap()
}

impl Fixture {
    async fn put(&self, kind: &str, name: &str, value: Value) {
        self.store
            .write(vec![WriteOp::put(
                kind,
                ACCOUNT,
                name_key(name),
                value,
                Precondition::Any,
            )])
            .await
            .unwrap();
        self.authz.invalidate(&account());
    }

    async fn user(&self, name: &str, extra: Value) {
        let mut user = json!({
            "UserName": name, "UserId": format!("AIDA{}", name.to_uppercase()), "Path": "/",
            "Arn": format!("arn:aws:iam::{ACCOUNT}:user/{name}"), "CreateDate": "2026-01-01T00:00:00Z",
        });
        merge(&mut user, extra);
        self.put(USER, name, user).await;
    }

    async fn role(&self, name: &str, trust: &str, extra: Value) {
        let mut role = json!({
            "RoleName": name, "RoleId": format!("AROA{}", name.to_uppercase()), "Path": "/",
            "Arn": format!("arn:aws:iam::{ACCOUNT}:role/{name}"), "CreateDate": "2026-01-01T00:00:00Z",
            "AssumeRolePolicyDocument": trust, "MaxSessionDuration": 3600,
        });
        merge(&mut role, extra);
        self.put(ROLE, name, role).await;
    }

    fn ctx(&self, principal: Principal) -> RequestContext {
        RequestContext {
            request_id: "req".into(),
            principal: principal.into(),
            region: "us-east-1".into(),
            source_ip: IpAddr::from([10, 0, 0, 1]),
            user_agent: "test".into(),
            secure_transport: true,
            received_at: self.clock.now(),
        }
    }

    async fn iam(&self, principal: &Principal, op: &str, input: Value) -> Result<(), AwsError> {
        self.authz
            .authorize(&self.ctx(principal.clone()), "iam", op, &input)
            .await
    }

    /// Calls STS as `principal`; the response body on success.
    async fn sts(&self, principal: &Principal, op: &str, input: Value) -> Result<String, AwsError> {
        let ctx = self.ctx(principal.clone());
        self.authz.authorize(&ctx, "sts", op, &input).await?;
        let response = crate::sts::call(&self.authz, &ctx, op, &input).await?;
        Ok(String::from_utf8(response.body().to_vec()).unwrap())
    }

    /// The principal of the temporary credentials in an STS response.
    async fn session_principal(&self, body: &str) -> Principal {
        let key = between(body, "<AccessKeyId>", "</AccessKeyId>");
        let token = between(body, "<SessionToken>", "</SessionToken>");
        self.auth.admit_session(key, token).unwrap().principal
    }
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).unwrap() + start.len();
    let to = text[from..].find(end).unwrap() + from;
    &text[from..to]
}

fn user_principal(name: &str) -> Principal {
    let mut p = Principal::root(account(), "AKIAUSER".into());
    p.arn = Arn::parse(&format!("arn:aws:iam::{ACCOUNT}:user/{name}")).unwrap();
    p.kind = CoreKind::IamUser;
    p.user_id = format!("AIDA{}", name.to_uppercase());
    p
}

fn trust_account() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":["sts:AssumeRole","sts:TagSession"]}}]}}"#
    )
}

#[tokio::test]
async fn new_users_have_no_permissions_and_the_denial_is_awss() {
    let f = fixture().await;
    f.user("alice", json!({})).await;
    let err = f
        .iam(
            &user_principal("alice"),
            "CreateUser",
            json!({"UserName": "bob"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "AccessDenied");
    assert_eq!(err.status, http::StatusCode::FORBIDDEN);
    assert!(
        err.message.starts_with(&format!(
            "User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: iam:CreateUser \
             on resource: arn:aws:iam::{ACCOUNT}:user/bob because no identity-based policy allows \
             the iam:CreateUser action. Encoded authorization failure message: "
        )),
        "{}",
        err.message
    );
    // Root may do anything in its own account.
    f.iam(
        &Principal::root(account(), "AKIAROOT".into()),
        "CreateUser",
        json!({"UserName": "bob"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn group_policies_grant_and_an_explicit_deny_wins() {
    let f = fixture().await;
    f.put(
        GROUP,
        "readers",
        json!({"GroupName": "readers", "GroupId": "AGPAREADERS", "Path": "/",
               "Arn": format!("arn:aws:iam::{ACCOUNT}:group/readers"), "CreateDate": "2026-01-01T00:00:00Z",
               "AttachedPolicies": ["arn:aws:iam::aws:policy/IAMReadOnlyAccess"]}),
    )
    .await;
    f.user("alice", json!({"Groups": ["readers"]})).await;
    let alice = user_principal("alice");
    f.iam(&alice, "GetUser", json!({"UserName": "alice"}))
        .await
        .unwrap();
    f.iam(&alice, "ListUsers", json!({})).await.unwrap();
    assert!(
        f.iam(&alice, "CreateUser", json!({"UserName": "x"}))
            .await
            .is_err()
    );

    f.user(
        "alice",
        json!({"Groups": ["readers"], "InlinePolicies": {
            "admin": ADMIN,
            "no-list": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:ListUsers","Resource":"*"}]}"#}}),
    )
    .await;
    f.iam(&alice, "CreateUser", json!({"UserName": "x"}))
        .await
        .unwrap();
    let err = f.iam(&alice, "ListUsers", json!({})).await.unwrap_err();
    assert!(
        err.message
            .contains("with an explicit deny in an identity-based policy"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_boundary_caps_an_administrator_and_changes_take_effect_on_invalidate() {
    let f = fixture().await;
    f.user(
        "admin",
        json!({"AttachedPolicies": ["arn:aws:iam::aws:policy/AdministratorAccess"],
               "PermissionsBoundary": "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}),
    )
    .await;
    let admin = user_principal("admin");
    f.iam(&admin, "ListRoles", json!({})).await.unwrap();
    let err = f
        .iam(&admin, "DeleteUser", json!({"UserName": "x"}))
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("because no permissions boundary allows"),
        "{}",
        err.message
    );
    // Without the boundary the same call is allowed (the put invalidates the cache).
    f.user(
        "admin",
        json!({"AttachedPolicies": ["arn:aws:iam::aws:policy/AdministratorAccess"]}),
    )
    .await;
    f.iam(&admin, "DeleteUser", json!({"UserName": "x"}))
        .await
        .unwrap();
}

#[tokio::test]
async fn compiled_policies_are_cached_until_invalidated() {
    let f = fixture().await;
    f.user("alice", json!({"InlinePolicies": {"admin": ADMIN}}))
        .await;
    let alice = user_principal("alice");
    f.iam(&alice, "ListUsers", json!({})).await.unwrap();
    // Written behind the authorizer's back: the cache still answers...
    f.store
        .write(vec![WriteOp::put(
            USER,
            ACCOUNT,
            "alice",
            json!({"UserName": "alice", "UserId": "AIDAALICE", "Path": "/",
                   "Arn": format!("arn:aws:iam::{ACCOUNT}:user/alice"), "CreateDate": "2026-01-01T00:00:00Z"}),
            Precondition::Any,
        )])
        .await
        .unwrap();
    f.iam(&alice, "ListUsers", json!({})).await.unwrap();
    // ...until IAM says something changed.
    f.authz.invalidate(&account());
    assert!(f.iam(&alice, "ListUsers", json!({})).await.is_err());
}

#[tokio::test]
async fn tag_conditions_see_request_and_resource_tags() {
    let f = fixture().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:TagUser","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/team":"blue"}}},
        {"Effect":"Allow","Action":"iam:DeleteUser","Resource":"*","Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}]}"#;
    f.user(
        "alice",
        json!({"InlinePolicies": {"tags": policy}, "Tags": [{"Key": "team", "Value": "blue"}]}),
    )
    .await;
    f.user("blue", json!({"Tags": [{"Key": "team", "Value": "blue"}]}))
        .await;
    f.user("red", json!({"Tags": [{"Key": "team", "Value": "red"}]}))
        .await;
    let alice = user_principal("alice");
    f.iam(
        &alice,
        "TagUser",
        json!({"UserName": "red", "Tags": [{"Key": "team", "Value": "blue"}]}),
    )
    .await
    .unwrap();
    assert!(
        f.iam(
            &alice,
            "TagUser",
            json!({"UserName": "red", "Tags": [{"Key": "team", "Value": "red"}]})
        )
        .await
        .is_err()
    );
    f.iam(&alice, "DeleteUser", json!({"UserName": "blue"}))
        .await
        .unwrap();
    assert!(
        f.iam(&alice, "DeleteUser", json!({"UserName": "red"}))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn assuming_a_role_replaces_permissions_and_session_policies_narrow() {
    let f = fixture().await;
    f.role(
        "reader",
        &trust_account(),
        json!({"AttachedPolicies": ["arn:aws:iam::aws:policy/IAMReadOnlyAccess"],
               "Tags": [{"Key": "dept", "Value": "ops"}]}),
    )
    .await;
    f.user(
        "alice",
        json!({"InlinePolicies": {"p": r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["sts:AssumeRole","iam:CreateUser"],"Resource":"*"}]}"#}}),
    )
    .await;
    let alice = user_principal("alice");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/reader");

    // Root cannot assume roles.
    let err = f
        .sts(
            &Principal::root(account(), "AKIAROOT".into()),
            "AssumeRole",
            json!({"RoleArn": role_arn, "RoleSessionName": "s"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.message, "Roots cannot assume roles");

    let body = f
        .sts(
            &alice,
            "AssumeRole",
            json!({"RoleArn": role_arn, "RoleSessionName": "s1"}),
        )
        .await
        .unwrap();
    assert!(body.contains(&format!(
        "<Arn>arn:aws:sts::{ACCOUNT}:assumed-role/reader/s1</Arn>"
    )));
    assert!(body.contains("<AssumedRoleId>AROAREADER:s1</AssumedRoleId>"));
    let session = f.session_principal(&body).await;
    assert!(session.access_key_id.starts_with("ASIA"));
    // The role's permissions, not alice's.
    f.iam(&session, "ListUsers", json!({})).await.unwrap();
    let err = f
        .iam(&session, "CreateUser", json!({"UserName": "x"}))
        .await
        .unwrap_err();
    assert!(err.message.starts_with(&format!(
        "User: arn:aws:sts::{ACCOUNT}:assumed-role/reader/s1 is not authorized"
    )));

    // A session policy narrows the role's permissions.
    let body = f
        .sts(
            &alice,
            "AssumeRole",
            json!({"RoleArn": role_arn, "RoleSessionName": "s2",
                   "Policy": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}"#}),
        )
        .await
        .unwrap();
    assert!(body.contains("<PackedPolicySize>"));
    let narrowed = f.session_principal(&body).await;
    f.iam(&narrowed, "GetUser", json!({"UserName": "alice"}))
        .await
        .unwrap();
    let err = f.iam(&narrowed, "ListUsers", json!({})).await.unwrap_err();
    assert!(
        err.message.contains("because no session policy allows"),
        "{}",
        err.message
    );

    // Role chaining is capped at one hour; beyond the role's maximum is refused.
    let err = f
        .sts(
            &session,
            "AssumeRole",
            json!({"RoleArn": role_arn, "RoleSessionName": "c", "DurationSeconds": 7200}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "ValidationError");
    assert!(err.message.contains("role chaining"));
    let err = f
        .sts(
            &alice,
            "AssumeRole",
            json!({"RoleArn": role_arn, "RoleSessionName": "c", "DurationSeconds": 7200}),
        )
        .await
        .unwrap_err();
    assert!(err.message.contains("MaxSessionDuration"));
}

#[tokio::test]
async fn trust_policy_conditions_external_id_and_identity_side() {
    let f = fixture().await;
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/bob"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"xyz"}}}}}}]}}"#
    );
    f.role("partner", &trust, json!({})).await;
    f.role("acct", &trust_account(), json!({})).await;
    f.user("bob", json!({})).await;
    let bob = user_principal("bob");
    let partner = format!("arn:aws:iam::{ACCOUNT}:role/partner");
    // Named directly by a same-account trust policy: no identity policy needed.
    f.sts(
        &bob,
        "AssumeRole",
        json!({"RoleArn": partner, "RoleSessionName": "s", "ExternalId": "xyz"}),
    )
    .await
    .unwrap();
    let err = f
        .sts(
            &bob,
            "AssumeRole",
            json!({"RoleArn": partner, "RoleSessionName": "s", "ExternalId": "nope"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "AccessDenied");
    // A trust policy naming only the account delegates to bob's own policies, which grant nothing.
    let err = f
        .sts(
            &bob,
            "AssumeRole",
            json!({"RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/acct"), "RoleSessionName": "s"}),
        )
        .await
        .unwrap_err();
    assert!(
        err.message.contains("no identity-based policy allows"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn sessions_issued_before_a_time_can_be_revoked() {
    let f = fixture().await;
    f.role(
        "r",
        &trust_account(),
        json!({"InlinePolicies": {"admin": ADMIN}}),
    )
    .await;
    f.user("alice", json!({"InlinePolicies": {"admin": ADMIN}}))
        .await;
    let body = f
        .sts(
            &user_principal("alice"),
            "AssumeRole",
            json!({"RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/r"), "RoleSessionName": "s"}),
        )
        .await
        .unwrap();
    let old = f.session_principal(&body).await;
    f.iam(&old, "ListUsers", json!({})).await.unwrap();
    f.clock.advance(Duration::from_secs(60));
    // "Revoke active sessions": deny everything to sessions issued before now.
    let revoke = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{{"DateLessThan":{{"aws:TokenIssueTime":"{}"}}}}}}]}}"#,
        portcullis_core::iso8601(f.clock.now())
    );
    f.role(
        "r",
        &trust_account(),
        json!({"InlinePolicies": {"admin": ADMIN, "AWSRevokeOlderSessions": revoke}}),
    )
    .await;
    let err = f.iam(&old, "ListUsers", json!({})).await.unwrap_err();
    assert!(err.message.contains("explicit deny"), "{}", err.message);
    f.clock.advance(Duration::from_secs(1));
    let body = f
        .sts(
            &user_principal("alice"),
            "AssumeRole",
            json!({"RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/r"), "RoleSessionName": "s"}),
        )
        .await
        .unwrap();
    let new = f.session_principal(&body).await;
    f.iam(&new, "ListUsers", json!({})).await.unwrap();
}

#[tokio::test]
async fn encoded_denials_decode_for_the_same_account_only() {
    let f = fixture().await;
    f.user("alice", json!({})).await;
    let err = f
        .iam(&user_principal("alice"), "ListUsers", json!({}))
        .await
        .unwrap_err();
    let encoded = err
        .message
        .rsplit("Encoded authorization failure message: ")
        .next()
        .unwrap();
    let decoded = f.authz.decode_message(&account(), encoded).unwrap();
    let decoded: Value = serde_json::from_str(&decoded).unwrap();
    assert_eq!(decoded["allowed"], false);
    assert_eq!(decoded["context"]["action"], "iam:ListUsers");
    let other = AccountId::parse("999988887777").unwrap();
    assert!(f.authz.decode_message(&other, encoded).is_none());
}

#[tokio::test]
async fn key_policies_decide_and_delegate_to_iam() {
    let f = fixture().await;
    f.user("alice", json!({"InlinePolicies": {"admin": ADMIN}}))
        .await;
    f.user("bob", json!({})).await;
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234");
    let delegate = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let ctx = f.ctx(user_principal("alice"));
    f.authz
        .authorize_with_resource_policy(&ctx, "kms:Encrypt", &key, &delegate, &[])
        .await
        .unwrap();
    let err = f
        .authz
        .authorize_with_resource_policy(
            &f.ctx(user_principal("bob")),
            "kms:Encrypt",
            &key,
            &delegate,
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, "AccessDeniedException");
    // A key policy that names only bob: IAM policies no longer count for alice.
    let bob_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/bob"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    assert!(
        f.authz
            .authorize_with_resource_policy(&ctx, "kms:Encrypt", &key, &bob_only, &[])
            .await
            .is_err()
    );
    f.authz
        .authorize_with_resource_policy(
            &f.ctx(user_principal("bob")),
            "kms:Encrypt",
            &key,
            &bob_only,
            &[],
        )
        .await
        .unwrap();
    // Keyless actions: IAM policies alone.
    f.authz
        .authorize_with_resource_policy(
            &ctx,
            "kms:CreateKey",
            &format!("arn:aws:kms:us-east-1:{ACCOUNT}:*"),
            "",
            &[],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn simulate_principal_policy_reports_decisions_and_missing_keys() {
    let f = fixture().await;
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iam:GetUser","Resource":"*"},
        {"Effect":"Allow","Action":"iam:CreateUser","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}"#;
    f.user("alice", json!({"InlinePolicies": {"p": policy}}))
        .await;
    let root = f.ctx(Principal::root(account(), "AKIAROOT".into()));
    let out = f
        .authz
        .simulate_principal_policy(
            &root,
            &json!({"PolicySourceArn": format!("arn:aws:iam::{ACCOUNT}:user/alice"),
                    "ActionNames": ["iam:GetUser", "iam:CreateUser", "iam:DeleteUser"]}),
        )
        .await
        .unwrap();
    let results = out["EvaluationResults"].as_array().unwrap();
    let decisions: Vec<&str> = results
        .iter()
        .map(|r| r["EvalDecision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allowed", "implicitDeny", "implicitDeny"]);
    assert_eq!(
        results[1]["MissingContextValues"],
        json!(["aws:MultiFactorAuthPresent"])
    );
    let out = f
        .authz
        .simulate_custom_policy(
            &root,
            &json!({"PolicyInputList": [policy], "ActionNames": ["iam:CreateUser"],
                    "ContextEntries": [{"ContextKeyName": "aws:MultiFactorAuthPresent",
                                        "ContextKeyValues": ["true"], "ContextKeyType": "boolean"}]}),
        )
        .await
        .unwrap();
    assert_eq!(out["EvaluationResults"][0]["EvalDecision"], "allowed");
}

#[tokio::test]
async fn simulation_results_page_with_max_items_and_marker() {
    let f = fixture().await;
    let root = f.ctx(Principal::root(account(), "AKIAROOT".into()));
    let input = |extra: Value| {
        let mut v = json!({"PolicyInputList": [ADMIN],
                           "ActionNames": ["iam:GetUser", "iam:ListUsers", "iam:CreateUser"]});
        merge(&mut v, extra);
        v
    };
    let first = f
        .authz
        .simulate_custom_policy(&root, &input(json!({"MaxItems": 2})))
        .await
        .unwrap();
    assert_eq!(first["EvaluationResults"].as_array().unwrap().len(), 2);
    assert_eq!(first["IsTruncated"], true);
    let marker = first["Marker"].as_str().unwrap().to_owned();
    let rest = f
        .authz
        .simulate_custom_policy(&root, &input(json!({"MaxItems": 2, "Marker": marker})))
        .await
        .unwrap();
    assert_eq!(
        rest["EvaluationResults"][0]["EvalActionName"],
        "iam:CreateUser"
    );
    assert_eq!(rest["IsTruncated"], false);
    let err = f
        .authz
        .simulate_custom_policy(&root, &input(json!({"Marker": "99"})))
        .await
        .unwrap_err();
    assert_eq!(err.code, "InvalidInput");
}

/// Counts how often the organization is asked.
struct CountingOrganizations(std::sync::atomic::AtomicUsize);

impl ServiceControlPolicies for CountingOrganizations {
    fn levels<'a>(
        &'a self,
        _account: &'a AccountId,
    ) -> BoxFuture<'a, Result<Option<ScpLevels>, IamError>> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let deny_delete = Policy::parse(
            "scp",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
                {"Effect":"Deny","Action":"iam:DeleteUser","Resource":"*"}]}"#,
            PolicyType::Scp,
        )
        .unwrap();
        Box::pin(async move {
            Ok(Some(ScpLevels {
                levels: vec![vec![deny_delete]],
                management_account: false,
            }))
        })
    }
}

#[tokio::test]
async fn organization_answers_are_cached_until_invalidated_and_scps_bind_root() {
    let mut f = fixture().await;
    let counter = Arc::new(CountingOrganizations(Default::default()));
    f.authz = Authorizer::new(
        f.store.clone(),
        f.authz.master.clone(),
        f.authz.auth.clone(),
        f.clock.clone(),
    )
    .with_service_control_policies(counter.clone());
    let root = Principal::root(account(), "AKIAROOT".into());
    f.iam(&root, "ListUsers", json!({})).await.unwrap();
    let err = f
        .iam(&root, "DeleteUser", json!({"UserName": "x"}))
        .await
        .unwrap_err();
    assert!(
        err.message
            .contains("with an explicit deny in a service control policy"),
        "{}",
        err.message
    );
    let asked = counter.0.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(asked, 1, "the second call is answered from the cache");
    f.authz.invalidate(&account());
    f.iam(&root, "ListUsers", json!({})).await.unwrap();
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn sessions_of_a_role_share_its_compiled_policies() {
    let f = fixture().await;
    let alice = f.read_only_role_and_its_assumer("reader").await;
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/reader");
    let assume = |name: &'static str| {
        let (f, alice, role_arn) = (&f, &alice, &role_arn);
        async move {
            let body = f
                .sts(
                    alice,
                    "AssumeRole",
                    json!({"RoleArn": role_arn, "RoleSessionName": name}),
                )
                .await
                .unwrap();
            f.session_principal(&body).await
        }
    };
    let first = assume("s1").await;
    f.iam(&first, "ListUsers", json!({})).await.unwrap();
    // The role loses its policy behind the authorizer's back: a new session's first request
    // still finds the role's policies compiled, read from no store.
    f.store
        .write(vec![WriteOp::put(
            ROLE,
            ACCOUNT,
            "reader",
            json!({"RoleName": "reader", "RoleId": "AROAREADER", "Path": "/",
                   "Arn": role_arn, "CreateDate": "2026-01-01T00:00:00Z",
                   "AssumeRolePolicyDocument": trust_account(), "MaxSessionDuration": 3600}),
            Precondition::Any,
        )])
        .await
        .unwrap();
    for name in ["s2", "s3"] {
        let session = assume(name).await;
        f.iam(&session, "ListUsers", json!({})).await.unwrap();
    }
    // Once IAM says something changed, every session of the role sees the change.
    f.authz.invalidate(&account());
    assert!(f.iam(&first, "ListUsers", json!({})).await.is_err());
    let session = assume("s4").await;
    assert!(f.iam(&session, "ListUsers", json!({})).await.is_err());
}

impl Fixture {
    /// A role `name` with IAMReadOnlyAccess that the account trusts, and the user alice, who
    /// may assume roles; alice's principal.
    async fn read_only_role_and_its_assumer(&self, name: &str) -> Principal {
        self.role(
            name,
            &trust_account(),
            json!({"AttachedPolicies": ["arn:aws:iam::aws:policy/IAMReadOnlyAccess"]}),
        )
        .await;
        self.user(
            "alice",
            json!({"InlinePolicies": {"p": r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}"#}}),
        )
        .await;
        user_principal("alice")
    }
}

/// A store that counts the rows it hands out (items got and listed).
struct Counting {
    inner: Arc<dyn Store>,
    rows: std::sync::atomic::AtomicUsize,
}

impl Counting {
    fn take(&self) -> usize {
        self.rows.swap(0, std::sync::atomic::Ordering::SeqCst)
    }
}

type StoreResult<'a, T> = BoxFuture<'a, Result<T, portcullis_store::StoreError>>;

impl Store for Counting {
    fn get<'a>(
        &'a self,
        kind: &'a str,
        account: &'a str,
        id: &'a str,
    ) -> StoreResult<'a, Option<portcullis_store::Item>> {
        Box::pin(async move {
            let item = self.inner.get(kind, account, id).await?;
            self.rows.fetch_add(
                usize::from(item.is_some()),
                std::sync::atomic::Ordering::SeqCst,
            );
            Ok(item)
        })
    }
    fn list<'a>(
        &'a self,
        query: portcullis_store::ListQuery<'a>,
    ) -> StoreResult<'a, portcullis_store::Page> {
        Box::pin(async move {
            let page = self.inner.list(query).await?;
            self.rows
                .fetch_add(page.items.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(page)
        })
    }
    fn write<'a>(&'a self, ops: Vec<WriteOp>) -> StoreResult<'a, ()> {
        self.inner.write(ops)
    }
    fn append_audit<'a>(
        &'a self,
        records: std::sync::Arc<[portcullis_store::NewAuditRecord]>,
    ) -> StoreResult<'a, ()> {
        self.inner.append_audit(records)
    }
    fn query_audit<'a>(
        &'a self,
        query: portcullis_store::AuditQuery,
    ) -> StoreResult<'a, Vec<portcullis_store::AuditRecord>> {
        self.inner.query_audit(query)
    }
    fn verify_audit<'a>(&'a self) -> StoreResult<'a, portcullis_store::AuditVerification> {
        self.inner.verify_audit()
    }
    fn health<'a>(&'a self) -> StoreResult<'a, ()> {
        self.inner.health()
    }
    fn reset<'a>(&'a self) -> StoreResult<'a, ()> {
        self.inner.reset()
    }
    fn close<'a>(&'a self) -> StoreResult<'a, ()> {
        self.inner.close()
    }
}

/// Regression (AssumeRole throughput fell as sessions accumulated): assuming a role and the
/// first request of the new session read the same rows whether 2 or 60 sessions exist, and
/// a session's later requests read none.
#[tokio::test]
async fn assume_role_and_session_requests_cost_the_same_however_many_sessions_exist() {
    let master = Arc::new(MasterKey::generate().unwrap());
    let inner = portcullis_store::open(&StoreLocation::SqliteInMemory, master.derive("audit"))
        .await
        .unwrap();
    let counting = Arc::new(Counting {
        inner,
        rows: Default::default(),
    });
    let store: Arc<dyn Store> = counting.clone();
    let auth = Arc::new(Authenticator::new(
        store.clone(),
        master.clone(),
        Mode::Secure,
    ));
    let clock = Arc::new(FixedClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let authz = Authorizer::new(store.clone(), master, auth.clone(), clock.clone());
    let f = Fixture {
        store,
        auth,
        authz,
        clock,
    };
    let alice = f.read_only_role_and_its_assumer("worker").await;
    let input =
        json!({"RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/worker"), "RoleSessionName": "s"});
    let mut costs = Vec::new();
    for n in 0..60 {
        counting.take();
        let body = f.sts(&alice, "AssumeRole", input.clone()).await.unwrap();
        let assume = counting.take();
        let session = f.session_principal(&body).await;
        f.iam(&session, "ListUsers", json!({})).await.unwrap();
        let first = counting.take();
        f.iam(&session, "GetUser", json!({"UserName": "alice"}))
            .await
            .unwrap();
        let later = counting.take();
        if n > 0 {
            costs.push((assume, first, later));
        }
    }
    assert!(costs.iter().all(|c| *c == costs[0]), "{costs:?}");
    assert_eq!(costs[0].1, 0, "a new session of a known role reads nothing");
}
