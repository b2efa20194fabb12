//! Centralized root access (IAM User Guide, "Centrally manage root access for member
//! accounts"): the two features IAM enables on an organization, kept in its document, and the
//! rules AssumeRoot checks against them.
//!
//! IAM's ListOrganizationsFeatures, Enable/DisableOrganizationsRootCredentialsManagement and
//! Enable/DisableOrganizationsRootSessions (`crate::iam::root_access`) and STS's AssumeRoot
//! (`crate::sts`) read and change them here. Both need trusted access for
//! `iam.amazonaws.com` (Organizations EnableAWSServiceAccess).

use portcullis_store::{Precondition, Store, StoreError};

use super::model::OrgDoc;
use super::{load_org_of, put_org};
use crate::IamError;

/// Deleting, auditing and recovering root user credentials of member accounts.
pub const ROOT_CREDENTIALS_MANAGEMENT: &str = "RootCredentialsManagement";
/// Privileged root actions in member accounts (unlocking S3 bucket and SQS queue policies).
pub const ROOT_SESSIONS: &str = "RootSessions";
/// The service principal that must have trusted access.
pub const IAM_SERVICE: &str = "iam.amazonaws.com";

/// Why a caller may not read or change the features (the IAM errors of the same names).
#[derive(Debug)]
pub enum RootAccessError {
    /// `OrganizationNotFoundException`: the caller's account is in no organization.
    OrganizationNotFound,
    /// `CallerIsNotManagementAccountException`.
    CallerIsNotManagementAccount,
    /// `AccountNotManagementOrDelegatedAdministratorException`.
    NotManagementOrDelegatedAdministrator,
    /// `ServiceAccessNotEnabledException`: no trusted access for IAM.
    ServiceAccessNotEnabled,
    /// Other changes to the organization kept winning the race.
    ConcurrentModification,
    /// The store failed.
    Internal(IamError),
}

impl From<IamError> for RootAccessError {
    fn from(e: IamError) -> Self {
        Self::Internal(e)
    }
}

/// Who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The management account only (enabling a feature).
    Management,
    /// The management account or a delegated administrator for IAM.
    ManagementOrDelegated,
}

/// The organization of `account` with its store version, when `account` may act on its
/// root access features.
pub async fn organization(
    store: &dyn Store,
    account: &str,
    needs: Needs,
) -> Result<(OrgDoc, i64), RootAccessError> {
    let Some((org, version)) = load_org_of(store, account).await? else {
        return Err(RootAccessError::OrganizationNotFound);
    };
    let management = org.management == account;
    let delegated = org
        .delegated
        .iter()
        .any(|d| d.account == account && d.service == IAM_SERVICE);
    match needs {
        Needs::Management if !management => {
            return Err(RootAccessError::CallerIsNotManagementAccount);
        }
        Needs::ManagementOrDelegated if !management && !delegated => {
            return Err(RootAccessError::NotManagementOrDelegatedAdministrator);
        }
        _ => {}
    }
    if !org.service_access.contains_key(IAM_SERVICE) {
        return Err(RootAccessError::ServiceAccessNotEnabled);
    }
    Ok((org, version))
}

/// Enables or disables `feature` on the organization of `account`; returns the organization
/// id and the features enabled afterwards.
pub async fn set_feature(
    store: &dyn Store,
    account: &str,
    feature: &str,
    enable: bool,
) -> Result<(String, Vec<String>), RootAccessError> {
    let needs = if enable {
        Needs::Management
    } else {
        Needs::ManagementOrDelegated
    };
    for _ in 0..5 {
        let (mut org, version) = organization(store, account, needs).await?;
        org.root_features.retain(|f| f != feature);
        if enable {
            org.root_features.push(feature.to_owned());
            org.root_features.sort();
        }
        let op = put_org(&org, Precondition::Version(version))
            .map_err(|e| IamError::corrupt(super::model::ORG_KIND, &org.id, e.message))?;
        match store.write(vec![op]).await {
            Ok(()) => return Ok((org.id, org.root_features)),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(IamError::from(e).into()),
        }
    }
    Err(RootAccessError::ConcurrentModification)
}

/// The feature an AssumeRoot task policy needs: the credential tasks need root credentials
/// management, the unlock tasks root sessions (IAM User Guide, "Perform a privileged task on
/// a member account").
pub fn feature_for_task(task_policy_arn: &str) -> &'static str {
    if task_policy_arn.contains(":policy/root-task/IAM") {
        ROOT_CREDENTIALS_MANAGEMENT
    } else {
        ROOT_SESSIONS
    }
}

/// Why `caller` may not start a root session in `target` for `task_policy_arn`, if it may not.
pub async fn assume_root_refusal(
    store: &dyn Store,
    caller: &str,
    target: &str,
    task_policy_arn: &str,
) -> Result<Option<String>, IamError> {
    let org = match organization(store, caller, Needs::ManagementOrDelegated).await {
        Ok((org, _)) => org,
        Err(RootAccessError::Internal(e)) => return Err(e),
        Err(RootAccessError::OrganizationNotFound) => {
            return Ok(Some(
                "The caller's account is not in an organization.".to_owned(),
            ));
        }
        Err(_) => {
            return Ok(Some(
                "AssumeRoot needs the management account or a delegated administrator for IAM, with trusted access for IAM in the organization.".to_owned(),
            ));
        }
    };
    if target == org.management || !org.accounts.contains_key(target) {
        return Ok(Some(format!(
            "{target} is not a member account of the caller's organization."
        )));
    }
    let feature = feature_for_task(task_policy_arn);
    if !org.root_features.iter().any(|f| f == feature) {
        return Ok(Some(format!(
            "Centralized root access ({feature}) is not enabled in the organization."
        )));
    }
    Ok(None)
}
