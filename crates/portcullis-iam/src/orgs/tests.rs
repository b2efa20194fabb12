//! Unit tests of Organizations over an in-memory store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use portcullis_core::{AccountId, FixedClock, Principal, RequestContext, Secret};
use portcullis_store::{MasterKey, StoreLocation};

use super::model::TAG;
use super::*;
use crate::Mode;
use crate::authz::ServiceControlPolicies;
use crate::iam::records;

const MGMT: &str = "111111111111";
const OUTSIDER: &str = "999999999999";
const DENY_S3: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}"#;

struct Fixture {
    orgs: Organizations,
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    auth: Arc<Authenticator>,
    clock: Arc<FixedClock>,
}

async fn fixture() -> Fixture {
    let store = portcullis_store::open(&StoreLocation::SqliteInMemory, Secret::new(vec![1; 32]))
        .await
        .unwrap();
    let master = Arc::new(MasterKey::generate().unwrap());
    let auth = Arc::new(Authenticator::new(
        store.clone(),
        master.clone(),
        Mode::Secure,
    ));
    let clock = Arc::new(FixedClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
    ));
    Fixture {
        orgs: Organizations::new(store.clone(), master.clone(), auth.clone(), clock.clone()),
        store,
        master,
        auth,
        clock,
    }
}

fn ctx(account: &str) -> RequestContext {
    RequestContext {
        request_id: "req-1".into(),
        principal: Principal::root(AccountId::parse(account).unwrap(), "AKIAROOT".into()).into(),
        region: "us-east-1".into(),
        source_ip: "127.0.0.1".parse().unwrap(),
        user_agent: "test".into(),
        secure_transport: false,
        received_at: SystemTime::UNIX_EPOCH,
    }
}

impl Fixture {
    async fn ok(&self, account: &str, op: &str, input: Value) -> Value {
        match self.orgs.call(&ctx(account), op, &input).await {
            Ok(v) => v,
            Err(e) => panic!("{op} {input}: {e}"),
        }
    }

    async fn err(&self, account: &str, op: &str, input: Value) -> AwsError {
        match self.orgs.call(&ctx(account), op, &input).await {
            Ok(v) => panic!("{op} {input} succeeded: {v}"),
            Err(e) => e,
        }
    }

    /// An organization with SCPs enabled; returns the root id.
    async fn org(&self) -> String {
        self.ok(MGMT, "CreateOrganization", json!({"FeatureSet": "ALL"}))
            .await;
        let roots = self.ok(MGMT, "ListRoots", json!({})).await;
        let root = roots["Roots"][0]["Id"].as_str().unwrap().to_owned();
        self.ok(
            MGMT,
            "EnablePolicyType",
            json!({"RootId": root, "PolicyType": SCP}),
        )
        .await;
        root
    }

    async fn ou(&self, parent: &str, name: &str) -> String {
        let out = self
            .ok(
                MGMT,
                "CreateOrganizationalUnit",
                json!({"ParentId": parent, "Name": name}),
            )
            .await;
        out["OrganizationalUnit"]["Id"].as_str().unwrap().to_owned()
    }

    async fn account(&self, name: &str) -> String {
        let status = self
            .create_account(json!({"Email": format!("{name}@example.com"), "AccountName": name}))
            .await;
        assert_eq!(status["State"], "SUCCEEDED", "{status}");
        status["AccountId"].as_str().unwrap().to_owned()
    }

    /// CreateAccount, which answers IN_PROGRESS; then the background work, as the server runs
    /// it; then the request's status.
    async fn create_account(&self, input: Value) -> Value {
        let out = self.ok(MGMT, "CreateAccount", input).await;
        let status = &out["CreateAccountStatus"];
        assert_eq!(status["State"], "IN_PROGRESS", "{out}");
        assert!(status.get("AccountId").is_none(), "{out}");
        assert!(status.get("CompletedTimestamp").is_none(), "{out}");
        self.orgs.run_due_work().await.unwrap();
        self.ok(
            MGMT,
            "DescribeCreateAccountStatus",
            json!({"CreateAccountRequestId": status["Id"]}),
        )
        .await["CreateAccountStatus"]
            .clone()
    }

    /// The account OUTSIDER, in no organization.
    async fn outsider(&self) {
        Accounts::new(self.store.clone(), self.master.clone())
            .ensure(
                &AccountId::parse(OUTSIDER).unwrap(),
                "outsider",
                SystemTime::UNIX_EPOCH,
            )
            .await
            .unwrap();
    }

    async fn policy(&self, name: &str, content: &str) -> String {
        let out = self
            .ok(
                MGMT,
                "CreatePolicy",
                json!({"Name": name, "Description": "", "Type": SCP, "Content": content}),
            )
            .await;
        out["Policy"]["PolicySummary"]["Id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn an_organization_is_created_once_and_read_by_its_members_only() {
    let f = fixture().await;
    let e = f.err(MGMT, "DescribeOrganization", json!({})).await;
    assert_eq!(e.code, "AWSOrganizationsNotInUseException");
    let out = f
        .ok(MGMT, "CreateOrganization", json!({"FeatureSet": "ALL"}))
        .await;
    let org = &out["Organization"];
    assert!(org["Id"].as_str().unwrap().starts_with("o-"));
    assert_eq!(org["MasterAccountId"], MGMT);
    assert_eq!(org["FeatureSet"], "ALL");
    let e = f.err(MGMT, "CreateOrganization", json!({})).await;
    assert_eq!(e.code, "AlreadyInOrganizationException");
    let e = f.err(OUTSIDER, "ListAccounts", json!({})).await;
    assert_eq!(e.code, "AWSOrganizationsNotInUseException");

    let member = f.account("dev").await;
    assert_eq!(
        f.ok(&member, "DescribeOrganization", json!({})).await["Organization"]["Id"],
        org["Id"]
    );
    let e = f.err(&member, "ListAccounts", json!({})).await;
    assert_eq!(e.code, "AccessDeniedException");
    let e = f.err(MGMT, "DeleteOrganization", json!({})).await;
    assert_eq!(e.code, "OrganizationNotEmptyException");
    f.ok(
        MGMT,
        "RemoveAccountFromOrganization",
        json!({"AccountId": member}),
    )
    .await;
    f.ok(MGMT, "DeleteOrganization", json!({})).await;
    let e = f.err(MGMT, "DescribeOrganization", json!({})).await;
    assert_eq!(e.code, "AWSOrganizationsNotInUseException");
}

#[tokio::test]
async fn ous_nest_five_levels_and_keep_sibling_names_unique() {
    let f = fixture().await;
    let root = f.org().await;
    let mut parent = root.clone();
    for level in 1..=5 {
        parent = f.ou(&parent, &format!("level{level}")).await;
    }
    let e = f
        .err(
            MGMT,
            "CreateOrganizationalUnit",
            json!({"ParentId": parent, "Name": "six"}),
        )
        .await;
    assert_eq!(e.code, "ConstraintViolationException");
    assert_eq!(
        e.fields,
        [("Reason", "OU_DEPTH_LIMIT_EXCEEDED".to_owned())],
        "{e}"
    );
    let e = f
        .err(
            MGMT,
            "CreateOrganizationalUnit",
            json!({"ParentId": root, "Name": "level1"}),
        )
        .await;
    assert_eq!(e.code, "DuplicateOrganizationalUnitException");
    let e = f
        .err(
            MGMT,
            "CreateOrganizationalUnit",
            json!({"ParentId": "ou-zzzz-zzzzzzzz", "Name": "x"}),
        )
        .await;
    assert_eq!(e.code, "ParentNotFoundException");

    let parents = f.ok(MGMT, "ListParents", json!({"ChildId": parent})).await;
    assert_eq!(parents["Parents"][0]["Type"], "ORGANIZATIONAL_UNIT");
    let children = f
        .ok(
            MGMT,
            "ListChildren",
            json!({"ParentId": root, "ChildType": "ORGANIZATIONAL_UNIT"}),
        )
        .await;
    assert_eq!(children["Children"].as_array().unwrap().len(), 1);
    let e = f
        .err(MGMT, "ListParents", json!({"ChildId": "ou-zzzz-zzzzzzzz"}))
        .await;
    assert_eq!(e.code, "ChildNotFoundException");

    // An OU with children cannot be deleted; a leaf can.
    let first = children["Children"][0]["Id"].as_str().unwrap().to_owned();
    let e = f
        .err(
            MGMT,
            "DeleteOrganizationalUnit",
            json!({"OrganizationalUnitId": first}),
        )
        .await;
    assert_eq!(e.code, "OrganizationalUnitNotEmptyException");
    f.ok(
        MGMT,
        "DeleteOrganizationalUnit",
        json!({"OrganizationalUnitId": parent}),
    )
    .await;
    let e = f
        .err(
            MGMT,
            "DescribeOrganizationalUnit",
            json!({"OrganizationalUnitId": parent}),
        )
        .await;
    assert_eq!(e.code, "OrganizationalUnitNotFoundException");
}

#[tokio::test]
async fn create_account_makes_the_account_its_access_role_and_a_status() {
    let f = fixture().await;
    let root = f.org().await;
    let status = f
        .create_account(json!({"Email": "a@example.com", "AccountName": "a", "RoleName": "Admin"}))
        .await;
    assert_eq!(status["State"], "SUCCEEDED");
    let account = status["AccountId"].as_str().unwrap();
    assert!(status["Id"].as_str().unwrap().starts_with("car-"));
    assert!(status["CompletedTimestamp"].is_u64());

    let role = records::load_role(&*f.store, &AccountId::parse(account).unwrap(), "Admin")
        .await
        .unwrap()
        .expect("access role");
    assert!(
        role.assume_role_policy_document
            .contains(&format!("arn:aws:iam::{MGMT}:root"))
    );
    assert!(role.inline_policies.contains_key("AdministratorAccess"));

    // The same email again fails in the status, as AWS reports it.
    let again = f
        .create_account(json!({"Email": "A@example.com", "AccountName": "b"}))
        .await;
    assert_eq!(again["State"], "FAILED");
    assert_eq!(again["FailureReason"], "EMAIL_ALREADY_EXISTS");
    assert!(again.get("AccountId").is_none());
    let failed = f
        .ok(
            MGMT,
            "ListCreateAccountStatus",
            json!({"States": ["FAILED"]}),
        )
        .await;
    assert_eq!(failed["CreateAccountStatuses"].as_array().unwrap().len(), 1);

    // Moves are checked against the source parent.
    let ou = f.ou(&root, "prod").await;
    let e = f
        .err(
            MGMT,
            "MoveAccount",
            json!({"AccountId": account, "SourceParentId": ou, "DestinationParentId": root}),
        )
        .await;
    assert_eq!(e.code, "DuplicateAccountException");
    f.ok(
        MGMT,
        "MoveAccount",
        json!({"AccountId": account, "SourceParentId": root, "DestinationParentId": ou}),
    )
    .await;
    let listed = f
        .ok(MGMT, "ListAccountsForParent", json!({"ParentId": ou}))
        .await;
    assert_eq!(listed["Accounts"][0]["Id"], account);
    let all = f.ok(MGMT, "ListAccounts", json!({"MaxResults": 1})).await;
    assert_eq!(all["Accounts"].as_array().unwrap().len(), 1);
    let next = f
        .ok(
            MGMT,
            "ListAccounts",
            json!({"MaxResults": 1, "NextToken": all["NextToken"]}),
        )
        .await;
    assert!(next.get("NextToken").is_none());
    assert_ne!(next["Accounts"][0]["Id"], all["Accounts"][0]["Id"]);
}

#[tokio::test]
async fn attachment_rules_follow_aws() {
    let f = fixture().await;
    let root = f.org().await;
    let account = f.account("a").await;
    let attached = f
        .ok(
            MGMT,
            "ListPoliciesForTarget",
            json!({"TargetId": account, "Filter": SCP}),
        )
        .await;
    assert_eq!(attached["Policies"][0]["Id"], "p-FullAWSAccess");
    assert_eq!(attached["Policies"][0]["AwsManaged"], true);

    // The last SCP cannot be detached.
    let e = f
        .err(
            MGMT,
            "DetachPolicy",
            json!({"PolicyId": "p-FullAWSAccess", "TargetId": account}),
        )
        .await;
    assert_eq!(e.code, "ConstraintViolationException");
    assert_eq!(
        e.fields,
        [(
            "Reason",
            "MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED".to_owned()
        )],
        "{e}"
    );

    let deny = f.policy("deny-s3", DENY_S3).await;
    f.ok(
        MGMT,
        "AttachPolicy",
        json!({"PolicyId": deny, "TargetId": account}),
    )
    .await;
    let e = f
        .err(
            MGMT,
            "AttachPolicy",
            json!({"PolicyId": deny, "TargetId": account}),
        )
        .await;
    assert_eq!(e.code, "DuplicatePolicyAttachmentException");
    for i in 0..3 {
        let p = f.policy(&format!("p{i}"), DENY_S3).await;
        f.ok(
            MGMT,
            "AttachPolicy",
            json!({"PolicyId": p, "TargetId": account}),
        )
        .await;
    }
    let sixth = f.policy("p6", DENY_S3).await;
    let e = f
        .err(
            MGMT,
            "AttachPolicy",
            json!({"PolicyId": sixth, "TargetId": account}),
        )
        .await;
    assert_eq!(
        e.fields,
        [(
            "Reason",
            "MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED".to_owned()
        )],
        "{e}"
    );
    let e = f.err(MGMT, "DeletePolicy", json!({"PolicyId": deny})).await;
    assert_eq!(e.code, "PolicyInUseException");
    let e = f
        .err(
            MGMT,
            "DetachPolicy",
            json!({"PolicyId": sixth, "TargetId": account}),
        )
        .await;
    assert_eq!(e.code, "PolicyNotAttachedException");
    let e = f
        .err(
            MGMT,
            "AttachPolicy",
            json!({"PolicyId": deny, "TargetId": "ou-zzzz-zzzzzzzz"}),
        )
        .await;
    assert_eq!(e.code, "TargetNotFoundException");
    let targets = f
        .ok(MGMT, "ListTargetsForPolicy", json!({"PolicyId": deny}))
        .await;
    assert_eq!(targets["Targets"][0]["TargetId"], account);
    assert_eq!(targets["Targets"][0]["Type"], "ACCOUNT");

    // Content limits and document rules.
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Action":["{}"],"Resource":"*"}}]}}"#,
        vec!["s3:GetObject"; 500].join("\",\"")
    );
    let e = f
        .err(
            MGMT,
            "CreatePolicy",
            json!({"Name": "big", "Description": "", "Type": SCP, "Content": big}),
        )
        .await;
    assert_eq!(e.code, "ConstraintViolationException");
    let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
    let e = f
        .err(
            MGMT,
            "CreatePolicy",
            json!({"Name": "bad", "Description": "", "Type": SCP, "Content": with_principal}),
        )
        .await;
    assert_eq!(e.code, "MalformedPolicyDocumentException");
    let e = f
        .err(
            MGMT,
            "CreatePolicy",
            json!({"Name": "deny-s3", "Description": "", "Type": SCP, "Content": DENY_S3}),
        )
        .await;
    assert_eq!(e.code, "DuplicatePolicyException");
    let e = f
        .err(
            MGMT,
            "UpdatePolicy",
            json!({"PolicyId": "p-FullAWSAccess", "Name": "x"}),
        )
        .await;
    assert_eq!(e.code, "InvalidInputException");

    // RCPs: not enabled, then RCPFullAWSAccess everywhere and not detachable.
    let e = f
        .err(
            MGMT,
            "AttachPolicy",
            json!({"PolicyId": "p-RCPFullAWSAccess", "TargetId": account}),
        )
        .await;
    assert_eq!(e.code, "PolicyTypeNotEnabledException");
    f.ok(
        MGMT,
        "EnablePolicyType",
        json!({"RootId": root, "PolicyType": RCP}),
    )
    .await;
    let e = f
        .err(
            MGMT,
            "DetachPolicy",
            json!({"PolicyId": "p-RCPFullAWSAccess", "TargetId": account}),
        )
        .await;
    assert_eq!(e.code, "InvalidInputException");
    assert_eq!(
        e.fields,
        [("Reason", "NON_DETACHABLE_POLICY".to_owned())],
        "{e}"
    );
    let e = f
        .err(
            MGMT,
            "EnablePolicyType",
            json!({"RootId": root, "PolicyType": RCP}),
        )
        .await;
    assert_eq!(e.code, "PolicyTypeAlreadyEnabledException");

    // Disabling SCPs detaches every SCP.
    f.ok(
        MGMT,
        "DisablePolicyType",
        json!({"RootId": root, "PolicyType": SCP}),
    )
    .await;
    let attached = f
        .ok(
            MGMT,
            "ListPoliciesForTarget",
            json!({"TargetId": account, "Filter": SCP}),
        )
        .await;
    assert!(attached["Policies"].as_array().unwrap().is_empty());
    f.ok(MGMT, "DeletePolicy", json!({"PolicyId": deny})).await;
}

#[tokio::test]
async fn levels_run_root_ou_account_and_skip_the_management_account() {
    let f = fixture().await;
    let root = f.org().await;
    let ou = f.ou(&root, "a").await;
    let inner = f.ou(&ou, "b").await;
    let account = f.account("x").await;
    f.ok(
        MGMT,
        "MoveAccount",
        json!({"AccountId": account, "SourceParentId": root, "DestinationParentId": inner}),
    )
    .await;
    let deny = f.policy("deny-s3", DENY_S3).await;
    f.ok(
        MGMT,
        "AttachPolicy",
        json!({"PolicyId": deny, "TargetId": ou}),
    )
    .await;
    let scps = OrganizationPolicies::new(f.store.clone());
    let levels = scps
        .levels(&AccountId::parse(&account).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!levels.management_account);
    assert_eq!(levels.levels.len(), 4);
    assert_eq!(levels.levels[1].len(), 2);
    let mgmt = scps
        .levels(&AccountId::parse(MGMT).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(mgmt.management_account);
    assert!(
        scps.levels(&AccountId::parse(OUTSIDER).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let m = scps
        .membership(&AccountId::parse(&account).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        m.path.ends_with(&format!("{root}/{ou}/{inner}/")),
        "{}",
        m.path
    );
    assert!(m.path.starts_with(&m.organization_id));
}

#[tokio::test]
async fn handshakes_invite_existing_accounts() {
    let f = fixture().await;
    f.org().await;
    let e = f
        .err(
            MGMT,
            "InviteAccountToOrganization",
            json!({"Target": {"Id": OUTSIDER, "Type": "ACCOUNT"}}),
        )
        .await;
    assert_eq!(e.code, "AccountNotFoundException");
    f.outsider().await;
    let h = f
        .ok(
            MGMT,
            "InviteAccountToOrganization",
            json!({"Target": {"Id": OUTSIDER, "Type": "ACCOUNT"}, "Notes": "hi"}),
        )
        .await;
    let id = h["Handshake"]["Id"].as_str().unwrap().to_owned();
    assert_eq!(h["Handshake"]["State"], "OPEN");
    let e = f
        .err(
            MGMT,
            "InviteAccountToOrganization",
            json!({"Target": {"Id": OUTSIDER, "Type": "ACCOUNT"}}),
        )
        .await;
    assert_eq!(e.code, "DuplicateHandshakeException");
    let mine = f.ok(OUTSIDER, "ListHandshakesForAccount", json!({})).await;
    assert_eq!(mine["Handshakes"][0]["Id"], id.as_str());
    let e = f
        .err(MGMT, "AcceptHandshake", json!({"HandshakeId": id}))
        .await;
    assert_eq!(e.code, "HandshakeNotFoundException");
    let accepted = f
        .ok(OUTSIDER, "AcceptHandshake", json!({"HandshakeId": id}))
        .await;
    assert_eq!(accepted["Handshake"]["State"], "ACCEPTED");
    let e = f
        .err(OUTSIDER, "DeclineHandshake", json!({"HandshakeId": id}))
        .await;
    assert_eq!(e.code, "HandshakeAlreadyInStateException");
    let account = f
        .ok(MGMT, "DescribeAccount", json!({"AccountId": OUTSIDER}))
        .await;
    assert_eq!(account["Account"]["JoinedMethod"], "INVITED");
    f.ok(OUTSIDER, "LeaveOrganization", json!({})).await;
    let e = f.err(MGMT, "LeaveOrganization", json!({})).await;
    assert_eq!(e.code, "MasterCannotLeaveOrganizationException");
    let e = f.err(OUTSIDER, "DescribeOrganization", json!({})).await;
    assert_eq!(e.code, "AWSOrganizationsNotInUseException");
}

#[tokio::test]
async fn delegated_administrators_tags_service_access_and_resource_policy() {
    let f = fixture().await;
    let root = f.org().await;
    let account = f.account("sec").await;
    let svc = "guardduty.amazonaws.com";
    let e = f
        .err(
            MGMT,
            "RegisterDelegatedAdministrator",
            json!({"AccountId": MGMT, "ServicePrincipal": svc}),
        )
        .await;
    assert_eq!(
        e.fields,
        [(
            "Reason",
            "CANNOT_REGISTER_MASTER_AS_DELEGATED_ADMINISTRATOR".to_owned()
        )],
        "{e}"
    );
    f.ok(
        MGMT,
        "RegisterDelegatedAdministrator",
        json!({"AccountId": account, "ServicePrincipal": svc}),
    )
    .await;
    // A delegated administrator reads the organization.
    let listed = f.ok(&account, "ListAccounts", json!({})).await;
    assert_eq!(listed["Accounts"].as_array().unwrap().len(), 2);
    let admins = f.ok(MGMT, "ListDelegatedAdministrators", json!({})).await;
    assert_eq!(admins["DelegatedAdministrators"][0]["Id"], account.as_str());
    f.ok(
        MGMT,
        "DeregisterDelegatedAdministrator",
        json!({"AccountId": account, "ServicePrincipal": svc}),
    )
    .await;
    let e = f
        .err(
            MGMT,
            "ListDelegatedServicesForAccount",
            json!({"AccountId": account}),
        )
        .await;
    assert_eq!(e.code, "AccountNotRegisteredException");

    f.ok(
        MGMT,
        "TagResource",
        json!({"ResourceId": root, "Tags": [{"Key": "env", "Value": "prod"}]}),
    )
    .await;
    let tags = f
        .ok(MGMT, "ListTagsForResource", json!({"ResourceId": root}))
        .await;
    assert_eq!(tags["Tags"], json!([{"Key": "env", "Value": "prod"}]));
    f.ok(
        MGMT,
        "UntagResource",
        json!({"ResourceId": root, "TagKeys": ["env"]}),
    )
    .await;

    f.ok(
        MGMT,
        "EnableAWSServiceAccess",
        json!({"ServicePrincipal": svc}),
    )
    .await;
    let access = f
        .ok(MGMT, "ListAWSServiceAccessForOrganization", json!({}))
        .await;
    assert_eq!(
        access["EnabledServicePrincipals"][0]["ServicePrincipal"],
        svc
    );

    let e = f.err(MGMT, "DescribeResourcePolicy", json!({})).await;
    assert_eq!(e.code, "ResourcePolicyNotFoundException");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"organizations:DescribeOrganization","Resource":"*"}}]}}"#
    );
    f.ok(MGMT, "PutResourcePolicy", json!({"Content": policy}))
        .await;
    let rp = f.ok(MGMT, "DescribeResourcePolicy", json!({})).await;
    assert_eq!(rp["ResourcePolicy"]["Content"], policy.as_str());
    f.ok(MGMT, "DeleteResourcePolicy", json!({})).await;
}

#[tokio::test]
async fn tag_policies_are_stored_and_inherited() {
    let f = fixture().await;
    let root = f.org().await;
    let account = f.account("t").await;
    let e = f
        .err(
            MGMT,
            "DescribeEffectivePolicy",
            json!({"PolicyType": TAG, "TargetId": account}),
        )
        .await;
    assert_eq!(e.code, "EffectivePolicyNotFoundException");
    f.ok(
        MGMT,
        "EnablePolicyType",
        json!({"RootId": root, "PolicyType": TAG}),
    )
    .await;
    let parent = r#"{"tags":{"costcenter":{"tag_key":{"@@assign":"CostCenter"},"tag_value":{"@@assign":["100","200"]}}}}"#;
    let child = r#"{"tags":{"costcenter":{"tag_value":{"@@append":["300"]}}}}"#;
    for (name, content, target) in [("p", parent, root.as_str()), ("c", child, account.as_str())] {
        let out = f
            .ok(
                MGMT,
                "CreatePolicy",
                json!({"Name": name, "Description": "", "Type": TAG, "Content": content}),
            )
            .await;
        let id = out["Policy"]["PolicySummary"]["Id"].clone();
        f.ok(
            MGMT,
            "AttachPolicy",
            json!({"PolicyId": id, "TargetId": target}),
        )
        .await;
    }
    let out = f
        .ok(
            &account,
            "DescribeEffectivePolicy",
            json!({"PolicyType": TAG}),
        )
        .await;
    let content: Value =
        serde_json::from_str(out["EffectivePolicy"]["PolicyContent"].as_str().unwrap()).unwrap();
    assert_eq!(
        content,
        json!({"tags":{"costcenter":{"tag_key":"CostCenter","tag_value":["100","200","300"]}}})
    );
}

#[tokio::test]
async fn account_requests_finish_in_the_background_even_after_a_restart() {
    let f = fixture().await;
    f.org().await;
    // Two requests answered IN_PROGRESS, then the server stops before finishing them.
    let mut ids = Vec::new();
    for name in ["a", "b"] {
        let out = f
            .ok(
                MGMT,
                "CreateAccount",
                json!({"Email": format!("{name}@example.com"), "AccountName": name}),
            )
            .await;
        ids.push(out["CreateAccountStatus"]["Id"].clone());
    }
    let pending = f
        .ok(
            MGMT,
            "ListCreateAccountStatus",
            json!({"States": ["IN_PROGRESS"]}),
        )
        .await;
    assert_eq!(
        pending["CreateAccountStatuses"].as_array().unwrap().len(),
        2
    );

    // The next start finishes them.
    let restarted = Organizations::new(
        f.store.clone(),
        f.master.clone(),
        Arc::new(Authenticator::new(
            f.store.clone(),
            f.master.clone(),
            Mode::Secure,
        )),
        f.clock.clone(),
    );
    restarted.run_due_work().await.unwrap();
    for id in ids {
        let out = f
            .ok(
                MGMT,
                "DescribeCreateAccountStatus",
                json!({"CreateAccountRequestId": id}),
            )
            .await;
        assert_eq!(out["CreateAccountStatus"]["State"], "SUCCEEDED", "{out}");
    }
    let accounts = f.ok(MGMT, "ListAccounts", json!({})).await;
    assert_eq!(accounts["Accounts"].as_array().unwrap().len(), 3);
    let done = f
        .ok(
            MGMT,
            "ListCreateAccountStatus",
            json!({"States": ["IN_PROGRESS"]}),
        )
        .await;
    assert_eq!(done["CreateAccountStatuses"], json!([]));

    // Requests beyond the quota (10 accounts) fail as AWS reports it, once in the background.
    for i in 0..8 {
        f.ok(
            MGMT,
            "CreateAccount",
            json!({"Email": format!("q{i}@example.com"), "AccountName": format!("q{i}")}),
        )
        .await;
    }
    f.orgs.run_due_work().await.unwrap();
    let failed = f
        .ok(
            MGMT,
            "ListCreateAccountStatus",
            json!({"States": ["FAILED"]}),
        )
        .await;
    let failed = failed["CreateAccountStatuses"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["FailureReason"], "ACCOUNT_LIMIT_EXCEEDED");
    let e = f
        .err(
            MGMT,
            "CreateAccount",
            json!({"Email": "late@example.com", "AccountName": "late"}),
        )
        .await;
    assert_eq!(e.code, "ConstraintViolationException");
    assert_eq!(
        e.fields,
        [("Reason", "ACCOUNT_NUMBER_LIMIT_EXCEEDED".to_owned())]
    );
}

#[tokio::test]
async fn closed_accounts_are_suspended_then_closed_and_their_principals_refused() {
    let f = fixture().await;
    f.org().await;
    let account = f.account("gone").await;
    let id = AccountId::parse(&account).unwrap();
    assert!(!f.auth.is_closed(&id).await.unwrap());
    f.ok(MGMT, "CloseAccount", json!({"AccountId": account}))
        .await;
    let described = f
        .ok(MGMT, "DescribeAccount", json!({"AccountId": account}))
        .await;
    assert_eq!(described["Account"]["Status"], "PENDING_CLOSURE");
    assert_eq!(described["Account"]["State"], "PENDING_CLOSURE");
    let e = f
        .err(MGMT, "CloseAccount", json!({"AccountId": account}))
        .await;
    assert_eq!(e.code, "AccountAlreadyClosedException");

    f.orgs.run_due_work().await.unwrap();
    let described = f
        .ok(MGMT, "DescribeAccount", json!({"AccountId": account}))
        .await;
    assert_eq!(described["Account"]["Status"], "SUSPENDED");
    assert_eq!(described["Account"]["State"], "SUSPENDED");
    assert!(f.auth.is_closed(&id).await.unwrap());
    // Another authenticator (another node, or after a restart) reads it from the store.
    let fresh = Authenticator::new(f.store.clone(), f.master.clone(), Mode::Secure);
    assert!(fresh.is_closed(&id).await.unwrap());

    // It cannot become a delegated administrator.
    let e = f
        .err(
            MGMT,
            "RegisterDelegatedAdministrator",
            json!({"AccountId": account, "ServicePrincipal": "iam.amazonaws.com"}),
        )
        .await;
    assert_eq!(
        e.fields,
        [(
            "Reason",
            "CANNOT_REGISTER_SUSPENDED_ACCOUNT_AS_DELEGATED_ADMINISTRATOR".to_owned()
        )]
    );

    // Its email cannot be used again.
    let again = f
        .create_account(json!({"Email": "gone@example.com", "AccountName": "again"}))
        .await;
    assert_eq!(again["FailureReason"], "EMAIL_ALREADY_EXISTS");

    // After the 90-day post-closure period it is permanently closed.
    f.clock.advance(Duration::from_secs(90 * 24 * 3600));
    f.orgs.run_due_work().await.unwrap();
    let described = f
        .ok(MGMT, "DescribeAccount", json!({"AccountId": account}))
        .await;
    assert_eq!(described["Account"]["Status"], "SUSPENDED");
    assert_eq!(described["Account"]["State"], "CLOSED");
    assert!(f.auth.is_closed(&id).await.unwrap());
}

#[tokio::test]
async fn invitations_to_an_email_reach_the_account_with_that_root_email() {
    let f = fixture().await;
    f.org().await;
    // An account made by CreateAccount that left: its root email is the one it was given.
    let account = f.account("wanderer").await;
    f.ok(&account, "LeaveOrganization", json!({})).await;
    let h = f
        .ok(
            MGMT,
            "InviteAccountToOrganization",
            json!({"Target": {"Id": "Wanderer@Example.com", "Type": "EMAIL"}}),
        )
        .await;
    assert_eq!(h["Handshake"]["Parties"][1]["Type"], "EMAIL");
    let id = h["Handshake"]["Id"].as_str().unwrap().to_owned();
    let mine = f.ok(&account, "ListHandshakesForAccount", json!({})).await;
    assert_eq!(mine["Handshakes"][0]["Id"], id.as_str());
    f.ok(&account, "AcceptHandshake", json!({"HandshakeId": id}))
        .await;
    let described = f
        .ok(MGMT, "DescribeAccount", json!({"AccountId": account}))
        .await;
    assert_eq!(described["Account"]["Email"], "wanderer@example.com");

    // Any other account by its default root email.
    f.outsider().await;
    let h = f
        .ok(
            MGMT,
            "InviteAccountToOrganization",
            json!({"Target": {"Id": format!("root+{OUTSIDER}@portcullis.invalid"), "Type": "EMAIL"}}),
        )
        .await;
    assert_eq!(h["Handshake"]["Resources"][1]["Type"], "EMAIL");
    let mine = f.ok(OUTSIDER, "ListHandshakesForAccount", json!({})).await;
    assert_eq!(mine["Handshakes"].as_array().unwrap().len(), 1);

    // An address no account has.
    let e = f
        .err(
            MGMT,
            "InviteAccountToOrganization",
            json!({"Target": {"Id": "nobody@example.com", "Type": "EMAIL"}}),
        )
        .await;
    assert_eq!(e.code, "InvalidInputException");
    assert_eq!(
        e.fields,
        [("Reason", "INVALID_EMAIL_ADDRESS_TARGET".to_owned())]
    );
}
