//! Centralized root access for member accounts (IAM User Guide, "Centrally manage root access
//! for member accounts"): ListOrganizationsFeatures,
//! Enable/DisableOrganizationsRootCredentialsManagement and
//! Enable/DisableOrganizationsRootSessions. The features live in the organization
//! ([`crate::orgs::root_access`]); STS AssumeRoot checks them.

use serde_json::{Value, json};

use crate::orgs::root_access::{
    self, Needs, ROOT_CREDENTIALS_MANAGEMENT, ROOT_SESSIONS, RootAccessError,
};

use super::{Cx, Iam, Out, err, internal};

impl Iam {
    /// Dispatches the root access actions; `None` for other actions.
    pub(crate) async fn root_access(&self, cx: &Cx<'_>, action: &str) -> Option<Out> {
        let (feature, enable) = match action {
            "ListOrganizationsFeatures" => return Some(self.list_features(cx).await),
            "EnableOrganizationsRootCredentialsManagement" => (ROOT_CREDENTIALS_MANAGEMENT, true),
            "DisableOrganizationsRootCredentialsManagement" => (ROOT_CREDENTIALS_MANAGEMENT, false),
            "EnableOrganizationsRootSessions" => (ROOT_SESSIONS, true),
            "DisableOrganizationsRootSessions" => (ROOT_SESSIONS, false),
            _ => return None,
        };
        Some(
            root_access::set_feature(self.store(), cx.acct(), feature, enable)
                .await
                .map(|(id, features)| output(&id, &features))
                .map_err(iam_error),
        )
    }

    async fn list_features(&self, cx: &Cx<'_>) -> Out {
        let (org, _) =
            root_access::organization(self.store(), cx.acct(), Needs::ManagementOrDelegated)
                .await
                .map_err(iam_error)?;
        Ok(output(&org.id, &org.root_features))
    }
}

fn output(organization_id: &str, features: &[String]) -> Value {
    json!({"OrganizationId": organization_id, "EnabledFeatures": features})
}

/// The IAM error of each refusal (IAM API Reference, the operations' Errors).
fn iam_error(e: RootAccessError) -> portcullis_aws::AwsError {
    match e {
        RootAccessError::OrganizationNotFound => err(
            "OrganizationNotFoundException",
            400,
            "The request was rejected because no organization is associated with your account.",
        ),
        RootAccessError::CallerIsNotManagementAccount => err(
            "CallerIsNotManagementAccountException",
            400,
            "The request was rejected because the account making the request is not the management account for the organization.",
        ),
        RootAccessError::NotManagementOrDelegatedAdministrator => err(
            "AccountNotManagementOrDelegatedAdministratorException",
            400,
            "The request was rejected because the account making the request is not the management account or delegated administrator account for centralized root access.",
        ),
        RootAccessError::ServiceAccessNotEnabled => err(
            "ServiceAccessNotEnabledException",
            400,
            "The request was rejected because trusted access is not enabled for IAM in Organizations.",
        ),
        RootAccessError::ConcurrentModification => err(
            "ConcurrentModification",
            409,
            "The request was rejected because multiple requests to change this object were submitted simultaneously. Wait a few minutes and submit your request again.",
        ),
        RootAccessError::Internal(e) => internal(e),
    }
}
