//! The declarative tables: for every operation of a service, the IAM action it needs, the
//! resource it acts on and the request context keys it contributes.
//!
//! One table per service, one row per operation, in the order of botocore's model so that a
//! newcomer finds an operation by its AWS name. The rows are data: [`super::resolve`] turns a
//! row and a validated input into a [`portcullis_policy::Request`].
//!
//! The resource of a row is the ARN the IAM Service Authorization Reference lists for the
//! action ("Actions, resources, and condition keys for ..."); actions without a resource type
//! are authorized on `*`.

/// What an operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    /// No resource type: authorized on `*`.
    Any,
    /// No authorization at all (`sts:GetCallerIdentity`, `sts:GetSessionToken`: AWS requires
    /// no permission).
    Free,
    /// Authorized inside the service itself, which needs data the front does not have: the
    /// trust policy (`sts:AssumeRole*`), the key policy (every KMS operation).
    Deferred,
    /// An IAM user named by the input member; when the member is absent, the calling user
    /// (IAM acts on the caller's own user then). The path comes from the input's `Path`
    /// (create) or the stored user.
    User(&'static str),
    /// An IAM group named by the input member.
    Group(&'static str),
    /// An IAM role named by the input member.
    Role(&'static str),
    /// An instance profile named by the input member.
    InstanceProfile(&'static str),
    /// The user owning the access key the input member names.
    AccessKeyOwner(&'static str),
    /// An OIDC provider created from the URL in the input member.
    OidcUrl(&'static str),
    /// The input member holds the resource ARN (`*` when absent).
    Arn(&'static str),
    /// An ARN template: `{partition}`, `{region}`, `{account}`, and `{Member}` for a member of
    /// the input (`{Path}` defaults to `/`, other absent members to `*`).
    Tpl(&'static str),
    /// The input member holds either an ARN (used as is) or a name (put in the template).
    NameOrArn(&'static str, &'static str),
}

/// A request context key an operation contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `aws:RequestTag/<key>` for each tag of the member (`[{Key, Value}]`), and `aws:TagKeys`.
    RequestTags(&'static str),
    /// `aws:TagKeys` from a list of tag keys.
    TagKeys(&'static str),
    /// `iam:PermissionsBoundary`: the boundary ARN in the member, or, when the input has none,
    /// the one the user or role has now.
    Boundary(&'static str),
    /// `iam:PolicyARN`, from the member.
    PolicyArn(&'static str),
    /// A single-valued key set from a string member: `(condition key, member)`.
    Str(&'static str, &'static str),
    /// A set-valued key set from a list-of-strings member: `(condition key, member)`.
    List(&'static str, &'static str),
    /// The role ARN in the member is passed to a service: the caller also needs
    /// `iam:PassRole` on it, with `iam:PassedToService` set to the service principal.
    PassRole(&'static str, &'static str),
}

/// One operation's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The operation name (`CreateUser`).
    pub operation: &'static str,
    /// The IAM action (`iam:CreateUser`).
    pub action: &'static str,
    /// What it acts on.
    pub resource: Res,
    /// The context keys it contributes beyond the global ones.
    pub keys: &'static [Key],
}

macro_rules! rows {
    ($prefix:literal; $($op:ident, $res:expr, [$($key:expr),* $(,)?]);* $(;)?) => {
        &[$(Rule {
            operation: stringify!($op),
            action: concat!($prefix, ":", stringify!($op)),
            resource: $res,
            keys: &[$($key),*],
        }),*]
    };
}

use Key::*;
use Res::*;

/// The row of `service`'s `operation`, if the table has one.
pub fn rule(service: &str, operation: &str) -> Option<&'static Rule> {
    table(service)?.iter().find(|r| r.operation == operation)
}

/// The table of a service (by signing name), if it has one.
pub fn table(service: &str) -> Option<&'static [Rule]> {
    match service {
        "iam" => Some(IAM),
        "sts" => Some(STS),
        "cloudtrail" => Some(CLOUDTRAIL),
        "organizations" => Some(ORGANIZATIONS),
        "kms" => Some(KMS),
        _ => None,
    }
}

/// IAM (`iam:`). Tags on create and tag operations give `aws:RequestTag/*`; the boundary and
/// policy keys are set on the operations the IAM condition key table lists for them.
pub const IAM: &[Rule] = rows!["iam";
    AcceptDelegationRequest, Any, [];
    AddClientIDToOpenIDConnectProvider, Arn("OpenIDConnectProviderArn"), [];
    AddRoleToInstanceProfile, InstanceProfile("InstanceProfileName"), [];
    AddUserToGroup, Group("GroupName"), [];
    AssociateDelegationRequest, Any, [];
    AttachGroupPolicy, Group("GroupName"), [PolicyArn("PolicyArn")];
    AttachRolePolicy, Role("RoleName"), [Boundary("PermissionsBoundary"), PolicyArn("PolicyArn")];
    AttachUserPolicy, User("UserName"), [Boundary("PermissionsBoundary"), PolicyArn("PolicyArn")];
    ChangePassword, User("UserName"), [];
    CreateAccessKey, User("UserName"), [];
    CreateAccountAlias, Any, [];
    CreateDelegationRequest, Any, [];
    CreateGroup, Group("GroupName"), [];
    CreateInstanceProfile, InstanceProfile("InstanceProfileName"), [RequestTags("Tags")];
    CreateLoginProfile, User("UserName"), [];
    CreateOpenIDConnectProvider, OidcUrl("Url"), [RequestTags("Tags")];
    CreatePolicy, Tpl("arn:{partition}:iam::{account}:policy{Path}{PolicyName}"), [RequestTags("Tags")];
    CreatePolicyVersion, Arn("PolicyArn"), [];
    CreateRole, Role("RoleName"), [RequestTags("Tags"), Boundary("PermissionsBoundary")];
    CreateSAMLProvider, Tpl("arn:{partition}:iam::{account}:saml-provider/{Name}"), [RequestTags("Tags")];
    CreateServiceLinkedRole, Any, [Str("iam:AWSServiceName", "AWSServiceName")];
    CreateServiceSpecificCredential, User("UserName"), [];
    CreateUser, User("UserName"), [RequestTags("Tags"), Boundary("PermissionsBoundary")];
    CreateVirtualMFADevice, Tpl("arn:{partition}:iam::{account}:mfa{Path}{VirtualMFADeviceName}"), [RequestTags("Tags")];
    DeactivateMFADevice, User("UserName"), [];
    DeleteAccessKey, User("UserName"), [];
    DeleteAccountAlias, Any, [];
    DeleteAccountPasswordPolicy, Any, [];
    DeleteGroup, Group("GroupName"), [];
    DeleteGroupPolicy, Group("GroupName"), [];
    DeleteInstanceProfile, InstanceProfile("InstanceProfileName"), [];
    DeleteLoginProfile, User("UserName"), [];
    DeleteOpenIDConnectProvider, Arn("OpenIDConnectProviderArn"), [];
    DeletePolicy, Arn("PolicyArn"), [];
    DeletePolicyVersion, Arn("PolicyArn"), [];
    DeleteRole, Role("RoleName"), [];
    DeleteRolePermissionsBoundary, Role("RoleName"), [Boundary("PermissionsBoundary")];
    DeleteRolePolicy, Role("RoleName"), [Boundary("PermissionsBoundary")];
    DeleteSAMLProvider, Arn("SAMLProviderArn"), [];
    DeleteSSHPublicKey, User("UserName"), [];
    DeleteServerCertificate, Tpl("arn:{partition}:iam::{account}:server-certificate{Path}{ServerCertificateName}"), [];
    DeleteServiceLinkedRole, Role("RoleName"), [];
    DeleteServiceSpecificCredential, User("UserName"), [];
    DeleteSigningCertificate, User("UserName"), [];
    DeleteUser, User("UserName"), [];
    DeleteUserPermissionsBoundary, User("UserName"), [Boundary("PermissionsBoundary")];
    DeleteUserPolicy, User("UserName"), [Boundary("PermissionsBoundary")];
    DeleteVirtualMFADevice, NameOrArn("SerialNumber", "arn:{partition}:iam::{account}:mfa/{SerialNumber}"), [];
    DetachGroupPolicy, Group("GroupName"), [PolicyArn("PolicyArn")];
    DetachRolePolicy, Role("RoleName"), [Boundary("PermissionsBoundary"), PolicyArn("PolicyArn")];
    DetachUserPolicy, User("UserName"), [Boundary("PermissionsBoundary"), PolicyArn("PolicyArn")];
    DisableOrganizationsRootCredentialsManagement, Any, [];
    DisableOrganizationsRootSessions, Any, [];
    DisableOutboundWebIdentityFederation, Any, [];
    EnableMFADevice, User("UserName"), [];
    EnableOrganizationsRootCredentialsManagement, Any, [];
    EnableOrganizationsRootSessions, Any, [];
    EnableOutboundWebIdentityFederation, Any, [];
    GenerateCredentialReport, Any, [];
    GenerateOrganizationsAccessReport, Any, [Str("iam:OrganizationsPolicyId", "OrganizationsPolicyId")];
    GenerateServiceLastAccessedDetails, Arn("Arn"), [];
    GetAccessKeyLastUsed, AccessKeyOwner("AccessKeyId"), [];
    GetAccountAuthorizationDetails, Any, [];
    GetAccountPasswordPolicy, Any, [];
    GetAccountSummary, Any, [];
    GetContextKeysForCustomPolicy, Any, [];
    GetContextKeysForPrincipalPolicy, Arn("PolicySourceArn"), [];
    GetCredentialReport, Any, [];
    GetDelegationRequest, Any, [];
    GetGroup, Group("GroupName"), [];
    GetGroupPolicy, Group("GroupName"), [];
    GetHumanReadableSummary, Arn("EntityArn"), [];
    GetInstanceProfile, InstanceProfile("InstanceProfileName"), [];
    GetLoginProfile, User("UserName"), [];
    GetMFADevice, User("UserName"), [];
    GetOpenIDConnectProvider, Arn("OpenIDConnectProviderArn"), [];
    GetOrganizationsAccessReport, Any, [];
    GetOutboundWebIdentityFederationInfo, Any, [];
    GetPolicy, Arn("PolicyArn"), [];
    GetPolicyVersion, Arn("PolicyArn"), [];
    GetRole, Role("RoleName"), [];
    GetRolePolicy, Role("RoleName"), [];
    GetSAMLProvider, Arn("SAMLProviderArn"), [];
    GetSSHPublicKey, User("UserName"), [];
    GetServerCertificate, Tpl("arn:{partition}:iam::{account}:server-certificate{Path}{ServerCertificateName}"), [];
    GetServiceLastAccessedDetails, Any, [];
    GetServiceLastAccessedDetailsWithEntities, Any, [];
    GetServiceLinkedRoleDeletionStatus, Any, [];
    GetUser, User("UserName"), [];
    GetUserPolicy, User("UserName"), [];
    ListAccessKeys, User("UserName"), [];
    ListAccountAliases, Any, [];
    ListAttachedGroupPolicies, Group("GroupName"), [];
    ListAttachedRolePolicies, Role("RoleName"), [];
    ListAttachedUserPolicies, User("UserName"), [];
    ListDelegationRequests, Any, [];
    ListEntitiesForPolicy, Arn("PolicyArn"), [];
    ListGroupPolicies, Group("GroupName"), [];
    ListGroups, Any, [];
    ListGroupsForUser, User("UserName"), [];
    ListInstanceProfileTags, InstanceProfile("InstanceProfileName"), [];
    ListInstanceProfiles, Any, [];
    ListInstanceProfilesForRole, Role("RoleName"), [];
    ListMFADeviceTags, NameOrArn("SerialNumber", "arn:{partition}:iam::{account}:mfa/{SerialNumber}"), [];
    ListMFADevices, User("UserName"), [];
    ListOpenIDConnectProviderTags, Arn("OpenIDConnectProviderArn"), [];
    ListOpenIDConnectProviders, Any, [];
    ListOrganizationsFeatures, Any, [];
    ListPolicies, Any, [];
    ListPoliciesGrantingServiceAccess, Arn("Arn"), [];
    ListPolicyTags, Arn("PolicyArn"), [];
    ListPolicyVersions, Arn("PolicyArn"), [];
    ListRolePolicies, Role("RoleName"), [];
    ListRoleTags, Role("RoleName"), [];
    ListRoles, Any, [];
    ListSAMLProviderTags, Arn("SAMLProviderArn"), [];
    ListSAMLProviders, Any, [];
    ListSSHPublicKeys, User("UserName"), [];
    ListServerCertificateTags, Tpl("arn:{partition}:iam::{account}:server-certificate{Path}{ServerCertificateName}"), [];
    ListServerCertificates, Any, [];
    ListServiceSpecificCredentials, User("UserName"), [];
    ListSigningCertificates, User("UserName"), [];
    ListUserPolicies, User("UserName"), [];
    ListUserTags, User("UserName"), [];
    ListUsers, Any, [];
    ListVirtualMFADevices, Any, [];
    PutGroupPolicy, Group("GroupName"), [];
    PutRolePermissionsBoundary, Role("RoleName"), [Boundary("PermissionsBoundary")];
    PutRolePolicy, Role("RoleName"), [Boundary("PermissionsBoundary")];
    PutUserPermissionsBoundary, User("UserName"), [Boundary("PermissionsBoundary")];
    PutUserPolicy, User("UserName"), [Boundary("PermissionsBoundary")];
    RejectDelegationRequest, Any, [];
    RemoveClientIDFromOpenIDConnectProvider, Arn("OpenIDConnectProviderArn"), [];
    RemoveRoleFromInstanceProfile, InstanceProfile("InstanceProfileName"), [];
    RemoveUserFromGroup, Group("GroupName"), [];
    ResetServiceSpecificCredential, User("UserName"), [];
    ResyncMFADevice, User("UserName"), [];
    SendDelegationToken, Any, [];
    SetDefaultPolicyVersion, Arn("PolicyArn"), [];
    SetSecurityTokenServicePreferences, Any, [];
    SimulateCustomPolicy, Any, [];
    SimulatePrincipalPolicy, Arn("PolicySourceArn"), [];
    TagInstanceProfile, InstanceProfile("InstanceProfileName"), [RequestTags("Tags")];
    TagMFADevice, NameOrArn("SerialNumber", "arn:{partition}:iam::{account}:mfa/{SerialNumber}"), [RequestTags("Tags")];
    TagOpenIDConnectProvider, Arn("OpenIDConnectProviderArn"), [RequestTags("Tags")];
    TagPolicy, Arn("PolicyArn"), [RequestTags("Tags")];
    TagRole, Role("RoleName"), [RequestTags("Tags")];
    TagSAMLProvider, Arn("SAMLProviderArn"), [RequestTags("Tags")];
    TagServerCertificate, Tpl("arn:{partition}:iam::{account}:server-certificate{Path}{ServerCertificateName}"), [RequestTags("Tags")];
    TagUser, User("UserName"), [RequestTags("Tags")];
    UntagInstanceProfile, InstanceProfile("InstanceProfileName"), [TagKeys("TagKeys")];
    UntagMFADevice, NameOrArn("SerialNumber", "arn:{partition}:iam::{account}:mfa/{SerialNumber}"), [TagKeys("TagKeys")];
    UntagOpenIDConnectProvider, Arn("OpenIDConnectProviderArn"), [TagKeys("TagKeys")];
    UntagPolicy, Arn("PolicyArn"), [TagKeys("TagKeys")];
    UntagRole, Role("RoleName"), [TagKeys("TagKeys")];
    UntagSAMLProvider, Arn("SAMLProviderArn"), [TagKeys("TagKeys")];
    UntagServerCertificate, Tpl("arn:{partition}:iam::{account}:server-certificate{Path}{ServerCertificateName}"), [TagKeys("TagKeys")];
    UntagUser, User("UserName"), [TagKeys("TagKeys")];
    UpdateAccessKey, User("UserName"), [];
    UpdateAccountPasswordPolicy, Any, [];
    UpdateAssumeRolePolicy, Role("RoleName"), [];
    UpdateDelegationRequest, Any, [];
    UpdateGroup, Group("GroupName"), [];
    UpdateLoginProfile, User("UserName"), [];
    UpdateOpenIDConnectProviderThumbprint, Arn("OpenIDConnectProviderArn"), [];
    UpdateRole, Role("RoleName"), [];
    UpdateRoleDescription, Role("RoleName"), [];
    UpdateSAMLProvider, Arn("SAMLProviderArn"), [];
    UpdateSSHPublicKey, User("UserName"), [];
    UpdateServerCertificate, Tpl("arn:{partition}:iam::{account}:server-certificate{Path}{ServerCertificateName}"), [];
    UpdateServiceSpecificCredential, User("UserName"), [];
    UpdateSigningCertificate, User("UserName"), [];
    UpdateUser, User("UserName"), [];
    UploadSSHPublicKey, User("UserName"), [];
    UploadServerCertificate, Tpl("arn:{partition}:iam::{account}:server-certificate{Path}{ServerCertificateName}"), [RequestTags("Tags")];
    UploadSigningCertificate, User("UserName"), [];
];

/// STS (`sts:`). AssumeRole* are decided by STS itself against the trust policy; GetCallerIdentity
/// and GetSessionToken need no permission.
pub const STS: &[Rule] = rows!["sts";
    AssumeRole, Deferred, [];
    AssumeRoleWithSAML, Deferred, [];
    AssumeRoleWithWebIdentity, Deferred, [];
    AssumeRoot, Deferred, [];
    DecodeAuthorizationMessage, Any, [];
    GetAccessKeyInfo, Any, [];
    GetCallerIdentity, Free, [];
    GetDelegatedAccessToken, Any, [];
    GetFederationToken, Tpl("arn:{partition}:sts::{account}:federated-user/{Name}"), [RequestTags("Tags")];
    GetSessionToken, Free, [];
    GetWebIdentityToken, Any, [RequestTags("Tags")];
];

/// CloudTrail (`cloudtrail:`): trails, event data stores, channels and dashboards by ARN.
pub const CLOUDTRAIL: &[Rule] = rows!["cloudtrail";
    AddTags, Arn("ResourceId"), [RequestTags("TagsList")];
    CancelQuery, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    CreateChannel, Tpl("arn:{partition}:cloudtrail:{region}:{account}:channel/{Name}"), [];
    CreateDashboard, Tpl("arn:{partition}:cloudtrail:{region}:{account}:dashboard/{Name}"), [RequestTags("TagsList")];
    CreateEventDataStore, Tpl("arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/*"), [RequestTags("TagsList")];
    CreateTrail, NameOrArn("Name", "arn:{partition}:cloudtrail:{region}:{account}:trail/{Name}"), [RequestTags("TagsList"), PassRole("CloudWatchLogsRoleArn", "cloudtrail.amazonaws.com")];
    DeleteChannel, NameOrArn("Channel", "arn:{partition}:cloudtrail:{region}:{account}:channel/{Channel}"), [];
    DeleteDashboard, NameOrArn("DashboardId", "arn:{partition}:cloudtrail:{region}:{account}:dashboard/{DashboardId}"), [];
    DeleteEventDataStore, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    DeleteResourcePolicy, Arn("ResourceArn"), [];
    DeleteTrail, NameOrArn("Name", "arn:{partition}:cloudtrail:{region}:{account}:trail/{Name}"), [];
    DeregisterOrganizationDelegatedAdmin, Any, [];
    DescribeQuery, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    DescribeTrails, Any, [];
    DisableFederation, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    EnableFederation, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [PassRole("FederationRoleArn", "cloudtrail.amazonaws.com")];
    GenerateQuery, Any, [];
    GetChannel, NameOrArn("Channel", "arn:{partition}:cloudtrail:{region}:{account}:channel/{Channel}"), [];
    GetDashboard, NameOrArn("DashboardId", "arn:{partition}:cloudtrail:{region}:{account}:dashboard/{DashboardId}"), [];
    GetEventConfiguration, NameOrArn("TrailName", "arn:{partition}:cloudtrail:{region}:{account}:trail/{TrailName}"), [];
    GetEventDataStore, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    GetEventSelectors, NameOrArn("TrailName", "arn:{partition}:cloudtrail:{region}:{account}:trail/{TrailName}"), [];
    GetImport, Any, [];
    GetInsightSelectors, NameOrArn("TrailName", "arn:{partition}:cloudtrail:{region}:{account}:trail/{TrailName}"), [];
    GetQueryResults, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    GetResourcePolicy, Arn("ResourceArn"), [];
    GetTrail, NameOrArn("Name", "arn:{partition}:cloudtrail:{region}:{account}:trail/{Name}"), [];
    GetTrailStatus, NameOrArn("Name", "arn:{partition}:cloudtrail:{region}:{account}:trail/{Name}"), [];
    ListChannels, Any, [];
    ListDashboards, Any, [];
    ListEventDataStores, Any, [];
    ListImportFailures, Any, [];
    ListImports, Any, [];
    ListInsightsData, Any, [];
    ListInsightsMetricData, NameOrArn("TrailName", "arn:{partition}:cloudtrail:{region}:{account}:trail/{TrailName}"), [];
    ListPublicKeys, Any, [];
    ListQueries, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    ListTags, Any, [];
    ListTrails, Any, [];
    LookupEvents, Any, [];
    PutEventConfiguration, NameOrArn("TrailName", "arn:{partition}:cloudtrail:{region}:{account}:trail/{TrailName}"), [];
    PutEventSelectors, NameOrArn("TrailName", "arn:{partition}:cloudtrail:{region}:{account}:trail/{TrailName}"), [];
    PutInsightSelectors, NameOrArn("TrailName", "arn:{partition}:cloudtrail:{region}:{account}:trail/{TrailName}"), [];
    PutResourcePolicy, Arn("ResourceArn"), [];
    RegisterOrganizationDelegatedAdmin, Any, [];
    RemoveTags, Arn("ResourceId"), [RequestTags("TagsList")];
    RestoreEventDataStore, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    SearchSampleQueries, Any, [];
    StartDashboardRefresh, NameOrArn("DashboardId", "arn:{partition}:cloudtrail:{region}:{account}:dashboard/{DashboardId}"), [];
    StartEventDataStoreIngestion, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    StartImport, Any, [];
    StartLogging, NameOrArn("Name", "arn:{partition}:cloudtrail:{region}:{account}:trail/{Name}"), [];
    StartQuery, Any, [];
    StopEventDataStoreIngestion, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    StopImport, Any, [];
    StopLogging, NameOrArn("Name", "arn:{partition}:cloudtrail:{region}:{account}:trail/{Name}"), [];
    UpdateChannel, NameOrArn("Channel", "arn:{partition}:cloudtrail:{region}:{account}:channel/{Channel}"), [];
    UpdateDashboard, NameOrArn("DashboardId", "arn:{partition}:cloudtrail:{region}:{account}:dashboard/{DashboardId}"), [];
    UpdateEventDataStore, NameOrArn("EventDataStore", "arn:{partition}:cloudtrail:{region}:{account}:eventdatastore/{EventDataStore}"), [];
    UpdateTrail, NameOrArn("Name", "arn:{partition}:cloudtrail:{region}:{account}:trail/{Name}"), [PassRole("CloudWatchLogsRoleArn", "cloudtrail.amazonaws.com")];
];

/// Organizations (`organizations:`). Organization, OU, account and policy ARNs need the
/// organization's id; until Organizations is built they are authorized on `*`.
pub const ORGANIZATIONS: &[Rule] = rows!["organizations";
    AcceptHandshake, Any, [];
    AttachPolicy, Any, [];
    CancelHandshake, Any, [];
    CloseAccount, Any, [];
    CreateAccount, Any, [RequestTags("Tags")];
    CreateGovCloudAccount, Any, [RequestTags("Tags")];
    CreateOrganization, Any, [];
    CreateOrganizationalUnit, Any, [RequestTags("Tags")];
    CreatePolicy, Any, [RequestTags("Tags"), Str("organizations:PolicyType", "Type")];
    DeclineHandshake, Any, [];
    DeleteOrganization, Any, [];
    DeleteOrganizationalUnit, Any, [];
    DeletePolicy, Any, [];
    DeleteResourcePolicy, Any, [];
    DeregisterDelegatedAdministrator, Any, [Str("organizations:ServicePrincipal", "ServicePrincipal")];
    DescribeAccount, Any, [];
    DescribeCreateAccountStatus, Any, [];
    DescribeEffectivePolicy, Any, [Str("organizations:PolicyType", "PolicyType")];
    DescribeHandshake, Any, [];
    DescribeOrganization, Any, [];
    DescribeOrganizationalUnit, Any, [];
    DescribePolicy, Any, [];
    DescribeResourcePolicy, Any, [];
    DescribeResponsibilityTransfer, Any, [];
    DetachPolicy, Any, [];
    DisableAWSServiceAccess, Any, [Str("organizations:ServicePrincipal", "ServicePrincipal")];
    DisablePolicyType, Any, [Str("organizations:PolicyType", "PolicyType")];
    EnableAWSServiceAccess, Any, [Str("organizations:ServicePrincipal", "ServicePrincipal")];
    EnableAllFeatures, Any, [];
    EnablePolicyType, Any, [Str("organizations:PolicyType", "PolicyType")];
    InviteAccountToOrganization, Any, [RequestTags("Tags")];
    InviteOrganizationToTransferResponsibility, Any, [RequestTags("Tags")];
    LeaveOrganization, Any, [];
    ListAWSServiceAccessForOrganization, Any, [];
    ListAccounts, Any, [];
    ListAccountsForParent, Any, [];
    ListAccountsWithInvalidEffectivePolicy, Any, [];
    ListChildren, Any, [];
    ListCreateAccountStatus, Any, [];
    ListDelegatedAdministrators, Any, [Str("organizations:ServicePrincipal", "ServicePrincipal")];
    ListDelegatedServicesForAccount, Any, [];
    ListEffectivePolicyValidationErrors, Any, [];
    ListHandshakesForAccount, Any, [];
    ListHandshakesForOrganization, Any, [];
    ListInboundResponsibilityTransfers, Any, [];
    ListOrganizationalUnitsForParent, Any, [];
    ListOutboundResponsibilityTransfers, Any, [];
    ListParents, Any, [];
    ListPolicies, Any, [];
    ListPoliciesForTarget, Any, [];
    ListRoots, Any, [];
    ListTagsForResource, Any, [];
    ListTargetsForPolicy, Any, [];
    MoveAccount, Any, [];
    PutResourcePolicy, Any, [RequestTags("Tags")];
    RegisterDelegatedAdministrator, Any, [Str("organizations:ServicePrincipal", "ServicePrincipal")];
    RemoveAccountFromOrganization, Any, [];
    TagResource, Any, [RequestTags("Tags")];
    TerminateResponsibilityTransfer, Any, [];
    UntagResource, Any, [TagKeys("TagKeys")];
    UpdateOrganizationalUnit, Any, [];
    UpdatePolicy, Any, [];
    UpdateResponsibilityTransfer, Any, [];
];

/// KMS (`kms:`): every operation is authorized by the KMS service against the key policy
/// (and IAM policies where the key policy delegates to the account) through
/// [`super::Authorizer::authorize_with_resource_policy`]; operations without a key are asked
/// with an empty key policy, so IAM policies alone decide them.
pub const KMS: &[Rule] = &[];
