//! Unit tests of the IAM API over an in-memory store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use portcullis_core::{AccountId, FixedClock, Principal, RequestContext, Secret};
use portcullis_store::{MasterKey, StoreLocation};

use super::*;
use crate::{Authenticator, Mode};

struct Fixture {
    iam: Iam,
    ctx: RequestContext,
    clock: Arc<FixedClock>,
    store: Arc<dyn Store>,
}

async fn fixture() -> Fixture {
    fixture_with(Quotas::default()).await
}

async fn fixture_with(quotas: Quotas) -> Fixture {
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
    let account = AccountId::parse("123456789012").unwrap();
    let ctx = RequestContext {
        request_id: "req-1".into(),
        principal: Principal::root(account, "AKIAROOT".into()).into(),
        region: "us-east-1".into(),
        source_ip: "127.0.0.1".parse().unwrap(),
        user_agent: "test".into(),
        secure_transport: false,
        received_at: SystemTime::UNIX_EPOCH,
    };
    Fixture {
        iam: Iam::new(store.clone(), master, auth, clock.clone()).with_quotas(quotas),
        ctx,
        clock,
        store,
    }
}

impl Fixture {
    async fn ok(&self, action: &str, input: Value) -> Value {
        match self.iam.output(&self.ctx, action, &input).await {
            Ok(v) => v,
            Err(e) => panic!("{action} {input}: {e}"),
        }
    }

    async fn err(&self, action: &str, input: Value) -> AwsError {
        match self.iam.output(&self.ctx, action, &input).await {
            Ok(v) => panic!("{action} {input} succeeded: {v}"),
            Err(e) => e,
        }
    }
}

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const ALLOW_S3: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

#[tokio::test]
async fn users_are_unique_without_regard_to_case_and_errors_are_aws_words() {
    let f = fixture().await;
    let out = f
        .ok("CreateUser", json!({"UserName": "Bob", "Path": "/eng/"}))
        .await;
    assert_eq!(out["User"]["Arn"], "arn:aws:iam::123456789012:user/eng/Bob");
    assert!(out["User"]["UserId"].as_str().unwrap().starts_with("AIDA"));
    let e = f.err("CreateUser", json!({"UserName": "bob"})).await;
    assert_eq!(
        (e.code.as_ref(), e.status.as_u16()),
        ("EntityAlreadyExists", 409)
    );
    assert_eq!(e.message, "User with name bob already exists.");
    let e = f.err("GetUser", json!({"UserName": "alice"})).await;
    assert_eq!((e.code.as_ref(), e.status.as_u16()), ("NoSuchEntity", 404));
    assert_eq!(e.message, "The user with name alice cannot be found.");
    assert_eq!(
        f.ok("GetUser", json!({"UserName": "BOB"})).await["User"]["UserName"],
        "Bob"
    );
}

#[tokio::test]
async fn listing_paginates_with_marker_and_filters_by_path() {
    let f = fixture().await;
    for (name, path) in [
        ("u1", "/a/"),
        ("u2", "/a/"),
        ("u3", "/b/"),
        ("u4", "/a/"),
        ("u5", "/"),
    ] {
        f.ok("CreateUser", json!({"UserName": name, "Path": path}))
            .await;
    }
    let p1 = f.ok("ListUsers", json!({"MaxItems": 2})).await;
    assert_eq!(p1["IsTruncated"], true);
    let names = |v: &Value| {
        v["Users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["UserName"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&p1), ["u1", "u2"]);
    let p2 = f
        .ok("ListUsers", json!({"MaxItems": 2, "Marker": p1["Marker"]}))
        .await;
    assert_eq!(names(&p2), ["u3", "u4"]);
    let p3 = f
        .ok("ListUsers", json!({"MaxItems": 2, "Marker": p2["Marker"]}))
        .await;
    assert_eq!(names(&p3), ["u5"]);
    assert_eq!(p3["IsTruncated"], false);
    assert!(p3.get("Marker").is_none());
    let a = f.ok("ListUsers", json!({"PathPrefix": "/a/"})).await;
    assert_eq!(names(&a), ["u1", "u2", "u4"]);
}

#[tokio::test]
async fn delete_user_conflicts_until_everything_is_gone() {
    let f = fixture().await;
    f.ok("CreateUser", json!({"UserName": "bob"})).await;
    f.ok("CreateGroup", json!({"GroupName": "devs"})).await;
    f.ok(
        "AddUserToGroup",
        json!({"GroupName": "devs", "UserName": "bob"}),
    )
    .await;
    f.ok(
        "PutUserPolicy",
        json!({"UserName": "bob", "PolicyName": "s3", "PolicyDocument": ALLOW_S3}),
    )
    .await;
    let key = f.ok("CreateAccessKey", json!({"UserName": "bob"})).await;
    let key_id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    assert_eq!(
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap().len(),
        40
    );

    let conflict = |e: AwsError| (e.code.to_string(), e.message);
    assert_eq!(
        conflict(f.err("DeleteUser", json!({"UserName": "bob"})).await),
        (
            "DeleteConflict".into(),
            "Cannot delete entity, must delete access keys first.".into()
        )
    );
    f.ok(
        "DeleteAccessKey",
        json!({"UserName": "bob", "AccessKeyId": key_id}),
    )
    .await;
    assert_eq!(
        conflict(f.err("DeleteUser", json!({"UserName": "bob"})).await).1,
        "Cannot delete entity, must delete policies first."
    );
    f.ok(
        "DeleteUserPolicy",
        json!({"UserName": "bob", "PolicyName": "s3"}),
    )
    .await;
    assert_eq!(
        conflict(f.err("DeleteUser", json!({"UserName": "bob"})).await).1,
        "Cannot delete entity, must remove user from all groups first."
    );
    assert_eq!(
        conflict(f.err("DeleteGroup", json!({"GroupName": "devs"})).await).1,
        "Cannot delete entity, must remove users from group first."
    );
    f.ok(
        "RemoveUserFromGroup",
        json!({"GroupName": "devs", "UserName": "bob"}),
    )
    .await;
    f.ok("DeleteUser", json!({"UserName": "bob"})).await;
    f.ok("DeleteGroup", json!({"GroupName": "devs"})).await;
}

#[tokio::test]
async fn access_keys_are_capped_at_two_and_stored_for_the_authenticator() {
    let f = fixture().await;
    let user = f.ok("CreateUser", json!({"UserName": "bob"})).await;
    let k1 = f.ok("CreateAccessKey", json!({"UserName": "bob"})).await;
    f.ok("CreateAccessKey", json!({"UserName": "bob"})).await;
    let e = f.err("CreateAccessKey", json!({"UserName": "bob"})).await;
    assert_eq!(e.message, "Cannot exceed quota for AccessKeysPerUser: 2");
    let id = k1["AccessKey"]["AccessKeyId"].as_str().unwrap();
    let item = f
        .store
        .get(crate::keys::KIND, "", id)
        .await
        .unwrap()
        .unwrap();
    let record: crate::AccessKeyRecord = serde_json::from_value(item.value).unwrap();
    assert_eq!(
        record.principal().arn.as_str(),
        user["User"]["Arn"].as_str().unwrap()
    );
    assert_eq!(
        record.principal().user_id,
        user["User"]["UserId"].as_str().unwrap()
    );
    assert!(
        !item_contains_secret(&f, id, k1["AccessKey"]["SecretAccessKey"].as_str().unwrap()).await
    );
    f.ok(
        "UpdateAccessKey",
        json!({"UserName": "bob", "AccessKeyId": id, "Status": "Inactive"}),
    )
    .await;
    let list = f.ok("ListAccessKeys", json!({"UserName": "bob"})).await;
    let statuses: Vec<&str> = list["AccessKeyMetadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["Status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"Inactive"));
    let last = f
        .ok("GetAccessKeyLastUsed", json!({"AccessKeyId": id}))
        .await;
    assert_eq!(last["UserName"], "bob");
    assert_eq!(last["AccessKeyLastUsed"]["ServiceName"], "N/A");
}

async fn item_contains_secret(f: &Fixture, id: &str, secret: &str) -> bool {
    let item = f
        .store
        .get(crate::keys::KIND, "", id)
        .await
        .unwrap()
        .unwrap();
    item.value.to_string().contains(secret)
}

#[tokio::test]
async fn policy_versions_are_capped_and_the_default_is_protected() {
    let f = fixture().await;
    let p = f
        .ok(
            "CreatePolicy",
            json!({"PolicyName": "s3", "PolicyDocument": ALLOW_S3}),
        )
        .await;
    let arn = p["Policy"]["Arn"].as_str().unwrap().to_owned();
    assert_eq!(arn, "arn:aws:iam::123456789012:policy/s3");
    for _ in 0..4 {
        f.ok(
            "CreatePolicyVersion",
            json!({"PolicyArn": arn, "PolicyDocument": ALLOW_S3}),
        )
        .await;
    }
    let e = f
        .err(
            "CreatePolicyVersion",
            json!({"PolicyArn": arn, "PolicyDocument": ALLOW_S3}),
        )
        .await;
    assert_eq!((e.code.as_ref(), e.status.as_u16()), ("LimitExceeded", 409));
    let e = f
        .err(
            "DeletePolicyVersion",
            json!({"PolicyArn": arn, "VersionId": "v1"}),
        )
        .await;
    assert_eq!(e.message, "Cannot delete the default version of a policy.");
    f.ok(
        "SetDefaultPolicyVersion",
        json!({"PolicyArn": arn, "VersionId": "v3"}),
    )
    .await;
    f.ok(
        "DeletePolicyVersion",
        json!({"PolicyArn": arn, "VersionId": "v1"}),
    )
    .await;
    let v = f
        .ok(
            "CreatePolicyVersion",
            json!({"PolicyArn": arn, "PolicyDocument": ALLOW_S3, "SetAsDefault": true}),
        )
        .await;
    assert_eq!(
        v["PolicyVersion"]["VersionId"], "v6",
        "version ids are never reused"
    );
    let got = f.ok("GetPolicy", json!({"PolicyArn": arn})).await;
    assert_eq!(got["Policy"]["DefaultVersionId"], "v6");

    f.ok(
        "CreateRole",
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST}),
    )
    .await;
    f.ok(
        "AttachRolePolicy",
        json!({"RoleName": "r", "PolicyArn": arn}),
    )
    .await;
    assert_eq!(
        f.ok("GetPolicy", json!({"PolicyArn": arn})).await["Policy"]["AttachmentCount"],
        1
    );
    let e = f.err("DeletePolicy", json!({"PolicyArn": arn})).await;
    assert_eq!(e.message, "Cannot delete a policy attached to entities.");
    let ents = f
        .ok("ListEntitiesForPolicy", json!({"PolicyArn": arn}))
        .await;
    assert_eq!(ents["PolicyRoles"][0]["RoleName"], "r");
}

#[tokio::test]
async fn aws_managed_policies_attach_and_quota_applies() {
    let f = fixture().await;
    f.ok("CreateUser", json!({"UserName": "bob"})).await;
    f.ok(
        "AttachUserPolicy",
        json!({"UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    )
    .await;
    let e = f
        .err(
            "AttachUserPolicy",
            json!({"UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/Nope"}),
        )
        .await;
    assert_eq!(
        e.message,
        "Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable."
    );
    for i in 0..9 {
        let p = f
            .ok(
                "CreatePolicy",
                json!({"PolicyName": format!("p{i}"), "PolicyDocument": ALLOW_S3}),
            )
            .await;
        f.ok(
            "AttachUserPolicy",
            json!({"UserName": "bob", "PolicyArn": p["Policy"]["Arn"]}),
        )
        .await;
    }
    let e = f
        .err(
            "AttachUserPolicy",
            json!({"UserName": "bob", "PolicyArn": "arn:aws:iam::aws:policy/IAMFullAccess"}),
        )
        .await;
    assert_eq!(e.message, "Cannot exceed quota for PoliciesPerUser: 10");
    let listed = f
        .ok("ListAttachedUserPolicies", json!({"UserName": "bob"}))
        .await;
    assert_eq!(listed["AttachedPolicies"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn trust_and_identity_policies_are_validated() {
    let f = fixture().await;
    let e = f
        .err(
            "CreateRole",
            json!({"RoleName": "r", "AssumeRolePolicyDocument": ALLOW_S3}),
        )
        .await;
    assert_eq!(e.code, "MalformedPolicyDocument");
    let e = f
        .err(
            "CreateRole",
            json!({"RoleName": "r", "AssumeRolePolicyDocument": "{"}),
        )
        .await;
    assert_eq!(e.code, "MalformedPolicyDocument");
    f.ok(
        "CreateRole",
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": 7200}),
    )
    .await;
    let e = f
        .err(
            "PutRolePolicy",
            json!({"RoleName": "r", "PolicyName": "x", "PolicyDocument": TRUST}),
        )
        .await;
    assert_eq!(e.code, "MalformedPolicyDocument");
    let role = f.ok("GetRole", json!({"RoleName": "r"})).await;
    assert_eq!(role["Role"]["MaxSessionDuration"], 7200);
    // User inline policies share 2,048 characters.
    f.ok("CreateUser", json!({"UserName": "bob"})).await;
    let big = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
        "a".repeat(1000)
    );
    f.ok(
        "PutUserPolicy",
        json!({"UserName": "bob", "PolicyName": "a", "PolicyDocument": big}),
    )
    .await;
    let e = f
        .err(
            "PutUserPolicy",
            json!({"UserName": "bob", "PolicyName": "b", "PolicyDocument": big}),
        )
        .await;
    assert_eq!(e.code, "LimitExceeded");
}

#[tokio::test]
async fn tag_rules() {
    let f = fixture().await;
    f.ok(
        "CreateUser",
        json!({"UserName": "bob", "Tags": [{"Key": "team", "Value": "a"}]}),
    )
    .await;
    let e = f
        .err(
            "TagUser",
            json!({"UserName": "bob", "Tags": [{"Key": "aws:x", "Value": "a"}]}),
        )
        .await;
    assert_eq!(e.code, "InvalidInput");
    let e = f.err("TagUser", json!({"UserName": "bob", "Tags": [{"Key": "k", "Value": "a"}, {"Key": "K", "Value": "b"}]})).await;
    assert_eq!(e.code, "InvalidInput");
    f.ok(
        "TagUser",
        json!({"UserName": "bob", "Tags": [{"Key": "TEAM", "Value": "b"}]}),
    )
    .await;
    let tags = f.ok("ListUserTags", json!({"UserName": "bob"})).await;
    assert_eq!(tags["Tags"], json!([{"Key": "TEAM", "Value": "b"}]));
    let many: Vec<Value> = (0..50)
        .map(|i| json!({"Key": format!("k{i}"), "Value": ""}))
        .collect();
    let e = f
        .err("TagUser", json!({"UserName": "bob", "Tags": many}))
        .await;
    assert_eq!(e.code, "LimitExceeded");
    f.ok("UntagUser", json!({"UserName": "bob", "TagKeys": ["team"]}))
        .await;
    assert_eq!(
        f.ok("ListUserTags", json!({"UserName": "bob"})).await["Tags"],
        json!([])
    );
}

fn base32_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut buf, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let v = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
            .iter()
            .position(|&a| a == c)
            .unwrap() as u32;
        buf = (buf << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn virtual_mfa_enables_with_two_consecutive_codes() {
    use base64::Engine as _;
    let f = fixture().await;
    f.ok("CreateUser", json!({"UserName": "bob"})).await;
    let d = f
        .ok(
            "CreateVirtualMFADevice",
            json!({"VirtualMFADeviceName": "bob-phone"}),
        )
        .await;
    let serial = d["VirtualMFADevice"]["SerialNumber"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(serial, "arn:aws:iam::123456789012:mfa/bob-phone");
    let b32 = base64::engine::general_purpose::STANDARD
        .decode(d["VirtualMFADevice"]["Base32StringSeed"].as_str().unwrap())
        .unwrap();
    let seed = base32_decode(std::str::from_utf8(&b32).unwrap());
    assert_eq!(seed.len(), 20);
    let step = 1_795_000_000 / 30;
    let e = f
        .err("EnableMFADevice", json!({"UserName": "bob", "SerialNumber": serial,
            "AuthenticationCode1": totp(&seed, step + 1), "AuthenticationCode2": totp(&seed, step)}))
        .await;
    assert_eq!(
        (e.code.as_ref(), e.status.as_u16()),
        ("InvalidAuthenticationCode", 403)
    );
    f.ok(
        "EnableMFADevice",
        json!({"UserName": "bob", "SerialNumber": serial,
        "AuthenticationCode1": totp(&seed, step - 1), "AuthenticationCode2": totp(&seed, step)}),
    )
    .await;
    let listed = f.ok("ListMFADevices", json!({"UserName": "bob"})).await;
    assert_eq!(listed["MFADevices"][0]["SerialNumber"], serial.as_str());
    let account = AccountId::parse("123456789012").unwrap();
    f.clock.advance(Duration::from_secs(30));
    let now = f.clock.now();
    let code = totp(&seed, step + 1);
    assert!(
        verify_mfa_code(&*f.store, &f.iam.master, &account, &serial, &code, now)
            .await
            .unwrap()
    );
    assert!(
        !verify_mfa_code(&*f.store, &f.iam.master, &account, &serial, "000000x", now)
            .await
            .unwrap()
    );
    // A code is used up once accepted: the same code again, or an older one still inside
    // the window, is refused; the next step's code is accepted.
    for used in [totp(&seed, step + 1), totp(&seed, step)] {
        assert!(
            !verify_mfa_code(&*f.store, &f.iam.master, &account, &serial, &used, now)
                .await
                .unwrap()
        );
    }
    let next = totp(&seed, step + 2);
    assert!(
        verify_mfa_code(&*f.store, &f.iam.master, &account, &serial, &next, now)
            .await
            .unwrap()
    );
    // Nor can codes that STS accepted resynchronise the device.
    let e = f
        .err("ResyncMFADevice", json!({"UserName": "bob", "SerialNumber": serial,
            "AuthenticationCode1": totp(&seed, step + 1), "AuthenticationCode2": totp(&seed, step + 2)}))
        .await;
    assert_eq!(e.code, "InvalidAuthenticationCode");
    let e = f.err("DeleteUser", json!({"UserName": "bob"})).await;
    assert_eq!(
        e.message,
        "Cannot delete entity, must delete MFA device first."
    );
    let e = f
        .err("DeleteVirtualMFADevice", json!({"SerialNumber": serial}))
        .await;
    assert_eq!(e.code, "DeleteConflict");
    f.ok(
        "DeactivateMFADevice",
        json!({"UserName": "bob", "SerialNumber": serial}),
    )
    .await;
    f.ok("DeleteVirtualMFADevice", json!({"SerialNumber": serial}))
        .await;
    f.ok("DeleteUser", json!({"UserName": "bob"})).await;
}

#[tokio::test]
async fn login_profiles_follow_the_password_policy() {
    let f = fixture().await;
    f.ok("CreateUser", json!({"UserName": "bob"})).await;
    f.ok(
        "UpdateAccountPasswordPolicy",
        json!({"MinimumPasswordLength": 12, "RequireSymbols": true}),
    )
    .await;
    let e = f
        .err(
            "CreateLoginProfile",
            json!({"UserName": "bob", "Password": "short!"}),
        )
        .await;
    assert_eq!(e.code, "PasswordPolicyViolation");
    f.ok(
        "CreateLoginProfile",
        json!({"UserName": "bob", "Password": "long-enough-pass!"}),
    )
    .await;
    let e = f
        .err(
            "CreateLoginProfile",
            json!({"UserName": "bob", "Password": "long-enough-pass!"}),
        )
        .await;
    assert_eq!(e.code, "EntityAlreadyExists");
    let p = f.ok("GetAccountPasswordPolicy", json!({})).await;
    assert_eq!(p["PasswordPolicy"]["MinimumPasswordLength"], 12);
    let e = f.err("DeleteUser", json!({"UserName": "bob"})).await;
    assert_eq!(
        e.message,
        "Cannot delete entity, must delete login profile first."
    );
    let user = f
        .store
        .get(records::USER, "123456789012", "bob")
        .await
        .unwrap()
        .unwrap();
    assert!(!user.value.to_string().contains("long-enough-pass!"));
}

#[tokio::test]
async fn responses_are_xml_with_url_encoded_documents() {
    let f = fixture().await;
    f.ok(
        "CreateRole",
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST}),
    )
    .await;
    let response = f
        .iam
        .call(&f.ctx, "GetRole", &json!({"RoleName": "r"}))
        .await
        .unwrap();
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(body.starts_with(
        "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult><Role>"
    ));
    assert!(body.contains("<AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22"));
    assert!(body.ends_with(
        "<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetRoleResponse>"
    ));
    let response = f
        .iam
        .call(&f.ctx, "GetAccountSummary", &json!({}))
        .await
        .unwrap();
    let body = String::from_utf8(response.body().to_vec()).unwrap();
    assert!(body.contains("<entry><key>Roles</key><value>1</value></entry>"));
}

#[tokio::test]
async fn credential_report_lists_users_as_csv() {
    use base64::Engine as _;
    let f = fixture().await;
    f.ok("CreateUser", json!({"UserName": "bob"})).await;
    let e = f.err("GetCredentialReport", json!({})).await;
    assert_eq!(e.code, "ReportNotPresent");
    assert_eq!(
        f.ok("GenerateCredentialReport", json!({})).await["State"],
        "STARTED"
    );
    assert_eq!(
        f.ok("GenerateCredentialReport", json!({})).await["State"],
        "COMPLETE"
    );
    let r = f.ok("GetCredentialReport", json!({})).await;
    let csv = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(r["Content"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("user,arn,user_creation_time,password_enabled"));
    assert_eq!(lines[0].split(',').count(), 22);
    assert!(lines[1].starts_with("<root_account>,arn:aws:iam::123456789012:root,"));
    assert!(lines[2].starts_with("bob,arn:aws:iam::123456789012:user/bob,"));
    assert_eq!(lines[2].split(',').count(), 22);
}

#[tokio::test]
async fn instance_profiles_hold_one_role_and_block_role_deletion() {
    let f = fixture().await;
    f.ok(
        "CreateRole",
        json!({"RoleName": "r", "AssumeRolePolicyDocument": TRUST}),
    )
    .await;
    f.ok(
        "CreateInstanceProfile",
        json!({"InstanceProfileName": "ip"}),
    )
    .await;
    f.ok(
        "AddRoleToInstanceProfile",
        json!({"InstanceProfileName": "ip", "RoleName": "r"}),
    )
    .await;
    let e = f
        .err(
            "AddRoleToInstanceProfile",
            json!({"InstanceProfileName": "ip", "RoleName": "r"}),
        )
        .await;
    assert_eq!(e.code, "LimitExceeded");
    let e = f.err("DeleteRole", json!({"RoleName": "r"})).await;
    assert_eq!(
        e.message,
        "Cannot delete entity, must remove roles from instance profile first."
    );
    let got = f
        .ok("ListInstanceProfilesForRole", json!({"RoleName": "r"}))
        .await;
    assert_eq!(got["InstanceProfiles"][0]["Roles"][0]["RoleName"], "r");
    f.ok(
        "RemoveRoleFromInstanceProfile",
        json!({"InstanceProfileName": "ip", "RoleName": "r"}),
    )
    .await;
    f.ok("DeleteRole", json!({"RoleName": "r"})).await;
    let slr = f
        .ok(
            "CreateServiceLinkedRole",
            json!({"AWSServiceName": "elasticbeanstalk.amazonaws.com"}),
        )
        .await;
    assert_eq!(slr["Role"]["RoleName"], "AWSServiceRoleForElasticbeanstalk");
    let e = f
        .err(
            "DeleteRole",
            json!({"RoleName": "AWSServiceRoleForElasticbeanstalk"}),
        )
        .await;
    assert_eq!(e.code, "UnmodifiableEntity");
    f.ok(
        "DeleteServiceLinkedRole",
        json!({"RoleName": "AWSServiceRoleForElasticbeanstalk"}),
    )
    .await;
}

#[tokio::test]
async fn every_dispatched_action_is_a_model_operation() {
    let f = fixture().await;
    let model = portcullis_model::service("iam").unwrap();
    let mut built = 0;
    for op in model.operations() {
        match f.iam.output(&f.ctx, op.name(), &json!({})).await {
            Err(e) if e.code == "NotImplemented" => {}
            _ => built += 1,
        }
    }
    assert!(built >= 150, "only {built} operations built");
}

#[tokio::test]
async fn access_advisor_reports_attempts_per_service_action_and_entity() {
    let f = fixture().await;
    let account = AccountId::parse("123456789012").unwrap();
    let alice = f.ok("CreateUser", json!({"UserName": "alice"})).await["User"].clone();
    f.ok("CreateUser", json!({"UserName": "bob"})).await;
    f.ok("CreateGroup", json!({"GroupName": "devs"})).await;
    for user in ["alice", "bob"] {
        f.ok(
            "AddUserToGroup",
            json!({"GroupName": "devs", "UserName": user}),
        )
        .await;
    }
    f.ok("PutGroupPolicy", json!({"GroupName": "devs", "PolicyName": "iam-all",
        "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}"#}))
        .await;
    let read_only = "arn:aws:iam::aws:policy/IAMReadOnlyAccess";
    f.ok(
        "AttachUserPolicy",
        json!({"UserName": "alice", "PolicyArn": read_only}),
    )
    .await;
    let role = f
        .ok(
            "CreateRole",
            json!({"RoleName": "app", "AssumeRolePolicyDocument": TRUST}),
        )
        .await["Role"]
        .clone();
    f.ok("PutRolePolicy", json!({"RoleName": "app", "PolicyName": "keys",
        "PolicyDocument": r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","sts:GetCallerIdentity"],"Resource":"*"}]}"#}))
        .await;
    let unused = f.ok("GetRole", json!({"RoleName": "app"})).await;
    assert_eq!(unused["Role"]["RoleLastUsed"], json!({}));

    // Attempts, noted as authorization notes them, then written as the server writes them.
    let usage = crate::Usage::default();
    let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000 + s);
    let mut as_alice = Principal::root(account.clone(), "AKIAALICE".into());
    as_alice.kind = portcullis_core::PrincipalKind::IamUser;
    as_alice.user_id = alice["UserId"].as_str().unwrap().to_owned();
    let mut as_app = as_alice.clone();
    as_app.kind = portcullis_core::PrincipalKind::AssumedRole;
    as_app.user_id = format!("{}:s1", role["RoleId"].as_str().unwrap());
    usage.note_attempt(&as_alice, "iam:GetUser", "us-east-1", t(10));
    usage.note_attempt(&as_alice, "iam:ListUsers", "us-west-2", t(20));
    usage.note_role_assumed(
        &account,
        role["RoleId"].as_str().unwrap(),
        "eu-west-1",
        t(30),
    );
    usage.note_attempt(&as_app, "kms:Encrypt", "eu-west-1", t(40));
    usage.flush(&*f.store).await.unwrap();

    let got = f.ok("GetRole", json!({"RoleName": "app"})).await;
    assert_eq!(
        got["Role"]["RoleLastUsed"],
        json!({"LastUsedDate": iso8601(t(40)), "Region": "eu-west-1"})
    );
    let details = f
        .ok(
            "GetAccountAuthorizationDetails",
            json!({"Filter": ["Role"]}),
        )
        .await;
    assert_eq!(
        details["RoleDetailList"][0]["RoleLastUsed"]["LastUsedDate"],
        iso8601(t(40))
    );

    // A user, action level: IAM (granted by the group and the managed policy) with its
    // tracked actions; the role's services are not the user's.
    let job = f
        .ok(
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": alice["Arn"], "Granularity": "ACTION_LEVEL"}),
        )
        .await["JobId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(job.len(), 36);
    let report = f
        .ok("GetServiceLastAccessedDetails", json!({"JobId": job}))
        .await;
    assert_eq!(report["JobStatus"], "COMPLETED");
    assert_eq!(report["JobType"], "ACTION_LEVEL");
    let services = report["ServicesLastAccessed"].as_array().unwrap();
    assert_eq!(services.len(), 1, "{services:?}");
    let iam = &services[0];
    assert_eq!(iam["ServiceNamespace"], "iam");
    assert_eq!(iam["ServiceName"], "AWS Identity and Access Management");
    assert_eq!(iam["LastAuthenticated"], iso8601(t(20)));
    assert_eq!(iam["LastAuthenticatedEntity"], alice["Arn"]);
    assert_eq!(iam["LastAuthenticatedRegion"], "us-west-2");
    assert_eq!(iam["TotalAuthenticatedEntities"], 1);
    let actions: Vec<&str> = iam["TrackedActionsLastAccessed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ActionName"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["GetUser", "ListUsers"]);

    // A role, service level: KMS attempted, STS granted but never attempted.
    let job = f
        .ok(
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": role["Arn"]}),
        )
        .await["JobId"]
        .clone();
    let report = f
        .ok(
            "GetServiceLastAccessedDetails",
            json!({"JobId": job, "MaxItems": 1}),
        )
        .await;
    assert_eq!(report["IsTruncated"], true);
    let kms = &report["ServicesLastAccessed"][0];
    assert_eq!(
        (
            kms["ServiceNamespace"].as_str(),
            kms["LastAuthenticatedEntity"].as_str()
        ),
        (Some("kms"), role["Arn"].as_str())
    );
    assert!(kms.get("TrackedActionsLastAccessed").is_none());
    let rest = f
        .ok(
            "GetServiceLastAccessedDetails",
            json!({"JobId": job, "Marker": report["Marker"]}),
        )
        .await;
    assert_eq!(rest["ServicesLastAccessed"][0]["ServiceNamespace"], "sts");
    assert!(
        rest["ServicesLastAccessed"][0]
            .get("LastAuthenticated")
            .is_none()
    );
    assert_eq!(
        rest["ServicesLastAccessed"][0]["TotalAuthenticatedEntities"],
        0
    );

    // A group: its members, most recent first.
    let group_arn = "arn:aws:iam::123456789012:group/devs";
    let job = f
        .ok(
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": group_arn}),
        )
        .await["JobId"]
        .clone();
    let entities = f
        .ok(
            "GetServiceLastAccessedDetailsWithEntities",
            json!({"JobId": job, "ServiceNamespace": "iam"}),
        )
        .await;
    let list = entities["EntityDetailsList"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["EntityInfo"]["Name"], "alice");
    assert_eq!(list[0]["EntityInfo"]["Type"], "USER");
    assert_eq!(list[0]["LastAuthenticated"], iso8601(t(20)));
    assert_eq!(list[1]["EntityInfo"]["Name"], "bob");
    assert!(list[1].get("LastAuthenticated").is_none());

    // A managed policy: the users it is attached to.
    let job = f
        .ok(
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": read_only}),
        )
        .await["JobId"]
        .clone();
    let report = f
        .ok("GetServiceLastAccessedDetails", json!({"JobId": job}))
        .await;
    assert_eq!(
        report["ServicesLastAccessed"][0]["LastAuthenticatedEntity"],
        alice["Arn"]
    );

    // Which policies grant a service to alice: her managed policy and her group's inline one.
    let granting = f
        .ok(
            "ListPoliciesGrantingServiceAccess",
            json!({"Arn": alice["Arn"], "ServiceNamespaces": ["iam", "kms"]}),
        )
        .await;
    let entries = granting["PoliciesGrantingServiceAccess"]
        .as_array()
        .unwrap();
    assert_eq!(entries[0]["ServiceNamespace"], "iam");
    assert_eq!(
        entries[0]["Policies"],
        json!([
            {"PolicyName": "IAMReadOnlyAccess", "PolicyType": "MANAGED", "PolicyArn": read_only},
            {"PolicyName": "iam-all", "PolicyType": "INLINE", "EntityType": "GROUP", "EntityName": "devs"},
        ])
    );
    assert_eq!(entries[1]["Policies"], json!([]));

    // Errors as AWS's.
    let e = f
        .err(
            "GetServiceLastAccessedDetails",
            json!({"JobId": "00000000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_eq!((e.code.as_ref(), e.status.as_u16()), ("NoSuchEntity", 404));
    let e = f
        .err(
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": "arn:aws:iam::123456789012:user/nobody"}),
        )
        .await;
    assert_eq!(e.code, "NoSuchEntity");
    let e = f
        .err(
            "GenerateServiceLastAccessedDetails",
            json!({"Arn": "not-an-arn-at-all-really"}),
        )
        .await;
    assert_eq!((e.code.as_ref(), e.status.as_u16()), ("InvalidInput", 400));
    let e = f
        .err(
            "ListPoliciesGrantingServiceAccess",
            json!({"Arn": read_only, "ServiceNamespaces": ["iam"]}),
        )
        .await;
    assert_eq!(e.code, "InvalidInput");
}

#[tokio::test]
async fn configured_quotas_are_enforced_with_per_account_counters() {
    let quotas = Quotas {
        users_per_account: 2,
        roles_per_account: 1,
        attached_policies_per_user: 1,
        versions_per_policy: 2,
        ..Quotas::default()
    };
    let f = fixture_with(quotas).await;
    let counter = |kind: &'static str| {
        let store = f.store.clone();
        async move {
            store
                .get(quotas::COUNT, "123456789012", kind)
                .await
                .unwrap()
                .map(|item| item.value["Count"].as_u64().unwrap())
        }
    };
    f.ok("CreateUser", json!({"UserName": "u1"})).await;
    assert_eq!(counter(records::USER).await, Some(1));
    f.ok("CreateUser", json!({"UserName": "u2"})).await;
    let e = f.err("CreateUser", json!({"UserName": "u3"})).await;
    assert_eq!((e.code.as_ref(), e.status.as_u16()), ("LimitExceeded", 409));
    assert_eq!(e.message, "Cannot exceed quota for UsersPerAccount: 2");
    // A name already taken is still EntityAlreadyExists, not the quota.
    let e = f.err("CreateUser", json!({"UserName": "U1"})).await;
    assert_eq!(e.code, "EntityAlreadyExists");
    f.ok("DeleteUser", json!({"UserName": "u2"})).await;
    assert_eq!(counter(records::USER).await, Some(1));
    f.ok("CreateUser", json!({"UserName": "u3"})).await;
    // Renaming moves the record, not the count.
    f.ok("UpdateUser", json!({"UserName": "u3", "NewUserName": "u4"}))
        .await;
    assert_eq!(counter(records::USER).await, Some(2));
    let summary = f.ok("GetAccountSummary", json!({})).await;
    assert_eq!(summary["SummaryMap"]["Users"], 2);
    assert_eq!(summary["SummaryMap"]["UsersQuota"], 2);
    assert_eq!(summary["SummaryMap"]["AttachedPoliciesPerUserQuota"], 1);

    // Service-linked roles count as roles.
    f.ok(
        "CreateRole",
        json!({"RoleName": "r1", "AssumeRolePolicyDocument": TRUST}),
    )
    .await;
    let e = f
        .err(
            "CreateServiceLinkedRole",
            json!({"AWSServiceName": "elasticbeanstalk.amazonaws.com"}),
        )
        .await;
    assert_eq!(e.message, "Cannot exceed quota for RolesPerAccount: 1");

    // Per-entity quotas.
    f.ok(
        "AttachUserPolicy",
        json!({"UserName": "u1", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
    )
    .await;
    let e = f
        .err(
            "AttachUserPolicy",
            json!({"UserName": "u1", "PolicyArn": "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}),
        )
        .await;
    assert_eq!(e.message, "Cannot exceed quota for PoliciesPerUser: 1");
    let arn = f
        .ok(
            "CreatePolicy",
            json!({"PolicyName": "p", "PolicyDocument": ALLOW_S3}),
        )
        .await["Policy"]["Arn"]
        .clone();
    f.ok(
        "CreatePolicyVersion",
        json!({"PolicyArn": arn, "PolicyDocument": ALLOW_S3}),
    )
    .await;
    let e = f
        .err(
            "CreatePolicyVersion",
            json!({"PolicyArn": arn, "PolicyDocument": ALLOW_S3}),
        )
        .await;
    assert!(
        e.message
            .starts_with("A managed policy can have up to 2 versions."),
        "{}",
        e.message
    );

    // An account from before counters: counted by listing once, then kept.
    f.store
        .write(vec![WriteOp::delete(
            quotas::COUNT,
            "123456789012",
            records::USER,
            Precondition::Any,
        )])
        .await
        .unwrap();
    f.ok("DeleteUser", json!({"UserName": "u4"})).await;
    assert_eq!(counter(records::USER).await, Some(1));
}
