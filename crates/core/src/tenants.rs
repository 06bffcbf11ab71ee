//! Microsoft Entra ID multi-tenant sign-in ([MS-1]–[MS-4]): the discovery document of the shared endpoints names
//! the issuer `https://login.microsoftonline.com/{tenantid}/v2.0`, so the broker checks each ID token's `iss`
//! against that template with the token's own `tid`, admits only the configured tenants, and keys the person by
//! `tid` + `oid` (stable across apps), never by `sub` alone or by email.

/// The placeholder Microsoft puts in the issuer of its shared endpoints.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The tenant of personal Microsoft accounts (outlook.com, xbox.com, …).
pub const CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// One entry of a provider's `tenants`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRule {
    /// `"common"`: any tenant, personal accounts included.
    Any,
    /// `"organizations"`: any work or school tenant, i.e. every tenant but [`CONSUMERS_TENANT`].
    Organizations,
    /// `"consumers"`: personal Microsoft accounts only (the tenant [`CONSUMERS_TENANT`]).
    Consumers,
    /// One tenant by its id (a GUID, compared lower-case).
    Tenant(String),
}

/// The allowed tenants of a multi-tenant provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenants(Vec<TenantRule>);

/// Why a multi-tenant ID token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantError {
    /// `tid` missing or not a GUID.
    NoTenant,
    /// [MS-2] The tenant is not one the provider admits.
    TenantNotAllowed,
    /// [MS-3] `iss` is not the template with the token's own `tid`.
    IssuerMismatch,
    /// `oid` missing or not a GUID.
    NoObjectId,
}

impl std::fmt::Display for TenantError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TenantError::NoTenant => "the id_token has no tenant id (tid)",
            TenantError::TenantNotAllowed => "the id_token's tenant is not allowed",
            TenantError::IssuerMismatch => "the id_token's iss is not the issuer of its tenant",
            TenantError::NoObjectId => "the id_token has no object id (oid)",
        })
    }
}

/// A GUID in its usual 8-4-4-4-12 hex form (either case).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lens = [8, 4, 4, 4, 12];
    parts.len() == 5 && parts.iter().zip(lens).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Tenants {
    /// Parses a provider's `tenants` list: `"common"`, `"organizations"`, `"consumers"` or tenant GUIDs.
    pub fn parse(list: &[String]) -> Result<Tenants, String> {
        if list.is_empty() {
            return Err("must name at least one tenant".into());
        }
        let rules = list
            .iter()
            .map(|t| match t.as_str() {
                "common" => Ok(TenantRule::Any),
                "organizations" => Ok(TenantRule::Organizations),
                "consumers" => Ok(TenantRule::Consumers),
                g if is_guid(g) => Ok(TenantRule::Tenant(g.to_ascii_lowercase())),
                other => Err(format!("`{other}` is neither a tenant id (GUID) nor common/organizations/consumers")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tenants(rules))
    }

    /// [MS-2] Does the provider admit the tenant `tid` (a GUID)?
    pub fn allows(&self, tid: &str) -> bool {
        let tid = tid.to_ascii_lowercase();
        let consumer = tid == CONSUMERS_TENANT;
        self.0.iter().any(|r| match r {
            TenantRule::Any => true,
            TenantRule::Organizations => !consumer,
            TenantRule::Consumers => consumer,
            TenantRule::Tenant(t) => *t == tid,
        })
    }

    /// The path segment whose discovery document and endpoints the broker uses: `common` when personal accounts
    /// are admitted, `organizations` otherwise (the token's `tid` is what is checked, whichever is used).
    pub fn endpoint_segment(&self) -> &'static str {
        if self.allows(CONSUMERS_TENANT) { "common" } else { "organizations" }
    }
}

/// Whether an issuer is a multi-tenant template.
pub fn is_template(issuer: &str) -> bool {
    issuer.contains(TENANT_PLACEHOLDER)
}

/// [MS-1] [MS-2] [MS-3] Checks the (signature-verified) token's `iss`, `tid` and `oid` and returns the subject
/// `"{tid}:{oid}"` (lower-case), or why the token is refused.
pub fn subject(
    template: &str,
    tenants: &Tenants,
    iss: Option<&str>,
    tid: Option<&str>,
    oid: Option<&str>,
) -> Result<String, TenantError> {
    let tid = tid.filter(|t| is_guid(t)).ok_or(TenantError::NoTenant)?.to_ascii_lowercase();
    if !tenants.allows(&tid) {
        return Err(TenantError::TenantNotAllowed);
    }
    // Microsoft writes the tid of `iss` in lower case; a token naming another tenant (any case) is refused.
    if iss != Some(template.replace(TENANT_PLACEHOLDER, &tid).as_str()) {
        return Err(TenantError::IssuerMismatch);
    }
    let oid = oid.filter(|o| is_guid(o)).ok_or(TenantError::NoObjectId)?.to_ascii_lowercase();
    Ok(format!("{tid}:{oid}"))
}

/// [MS-3] An RFC 9207 `iss` parameter on a multi-tenant answer, before the code is redeemed: when the discovery
/// document advertises it, it must be there; when there, it must be the template with an admitted tenant's GUID
/// (and, once the ID token verified, that token's own `iss`: see `upstream::tenants::subject_of`).
pub fn iss_param_admissible(template: &str, tenants: &Tenants, iss: Option<&str>, advertised: bool) -> bool {
    let Some(iss) = iss else { return !advertised };
    let Some((pre, post)) = template.split_once(TENANT_PLACEHOLDER) else { return false };
    let tid = iss.strip_prefix(pre).and_then(|rest| rest.strip_suffix(post));
    tid.is_some_and(|t| is_guid(t) && tenants.allows(t) && iss == template.replace(TENANT_PLACEHOLDER, t))
}

/// [MS-3] Storm-0558: may a key that verified a token sign for that token's issuer? `key_issuers` are the
/// `issuer` members of the verifying key's JWK (Microsoft marks each key of its shared set with the issuer it signs
/// for: the `{tenantid}` template for Entra keys, the consumer tenant's issuer for personal-account keys). Each must
/// be the token's `iss` once `{tenantid}` is replaced by the token's own (lower-case) `tid`. A key without the
/// member is not restricted (the token's `iss` and `tid` are still checked by [`subject`]).
pub fn key_signs_for(key_issuers: &[&str], iss: Option<&str>, tid: Option<&str>) -> bool {
    key_issuers.iter().all(|k| match (iss, tid) {
        (Some(iss), _) if !is_template(k) => *k == iss,
        (Some(iss), Some(tid)) => k.replace(TENANT_PLACEHOLDER, &tid.to_ascii_lowercase()) == iss,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const A: &str = "11111111-1111-1111-1111-111111111111";
    const B: &str = "22222222-2222-2222-2222-222222222222";
    const O: &str = "33333333-3333-3333-3333-333333333333";

    fn iss(t: &str) -> String {
        T.replace(TENANT_PLACEHOLDER, t)
    }

    fn list(v: &[&str]) -> Tenants {
        Tenants::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn ms_1_the_subject_is_tid_and_oid() {
        assert_eq!(subject(T, &list(&[A]), Some(&iss(A)), Some(A), Some(O)), Ok(format!("{A}:{O}")));
        assert_eq!(subject(T, &list(&[A]), Some(&iss(A)), Some(A), None), Err(TenantError::NoObjectId));
        assert_eq!(subject(T, &list(&[A]), Some(&iss(A)), None, Some(O)), Err(TenantError::NoTenant));
    }

    #[test]
    fn ms_2_only_allowed_tenants_and_organizations_excludes_consumers() {
        assert_eq!(subject(T, &list(&[A]), Some(&iss(B)), Some(B), Some(O)), Err(TenantError::TenantNotAllowed));
        let orgs = list(&["organizations"]);
        assert!(orgs.allows(A) && orgs.allows(B) && !orgs.allows(CONSUMERS_TENANT));
        assert_eq!(orgs.endpoint_segment(), "organizations");
        let consumers = list(&["consumers"]);
        assert!(consumers.allows(CONSUMERS_TENANT) && !consumers.allows(A));
        assert_eq!(consumers.endpoint_segment(), "common");
        assert!(list(&["common"]).allows(CONSUMERS_TENANT) && list(&["common"]).allows(A));
        assert!(Tenants::parse(&["acme.onmicrosoft.com".into()]).is_err());
        assert!(Tenants::parse(&[]).is_err());
    }

    #[test]
    fn ms_3_iss_must_be_the_template_with_the_tokens_own_tid() {
        let both = list(&[A, B]);
        assert_eq!(subject(T, &both, Some(&iss(A)), Some(B), Some(O)), Err(TenantError::IssuerMismatch));
        assert_eq!(subject(T, &both, Some(T), Some(A), Some(O)), Err(TenantError::IssuerMismatch));
        assert_eq!(subject(T, &both, None, Some(A), Some(O)), Err(TenantError::IssuerMismatch));
    }

    #[test]
    fn ms_3_an_iss_parameter_names_an_admitted_tenant() {
        let a = list(&[A]);
        assert!(iss_param_admissible(T, &a, Some(&iss(A)), true));
        assert!(iss_param_admissible(T, &a, None, false));
        assert!(!iss_param_admissible(T, &a, None, true), "advertised but missing");
        assert!(!iss_param_admissible(T, &a, Some(&iss(B)), false), "a tenant not admitted");
        assert!(!iss_param_admissible(T, &a, Some(T), false), "the template itself");
        assert!(!iss_param_admissible(T, &a, Some(&iss("x")), false));
        assert!(!iss_param_admissible(T, &a, Some("https://evil.example/"), false));
    }

    #[test]
    fn ms_3_a_key_signs_only_for_the_issuer_it_names() {
        let consumers = iss(CONSUMERS_TENANT);
        assert!(key_signs_for(&[T], Some(&iss(A)), Some(A)));
        assert!(key_signs_for(&[T], Some(&iss(A)), Some(&A.to_ascii_uppercase())));
        assert!(!key_signs_for(&[T], Some(&iss(A)), Some(B)), "the template with another tid");
        assert!(!key_signs_for(&[T], Some(&iss(A)), None));
        assert!(!key_signs_for(&[T], None, Some(A)));
        assert!(!key_signs_for(&[&consumers], Some(&iss(A)), Some(A)), "a consumer key for tenant A");
        assert!(key_signs_for(&[&consumers], Some(&consumers), Some(CONSUMERS_TENANT)));
        assert!(!key_signs_for(&[&iss(B)], Some(&iss(A)), Some(A)), "tenant B's key for tenant A");
        assert!(!key_signs_for(&[T, &consumers], Some(&iss(A)), Some(A)), "every issuer of the key must match");
        assert!(key_signs_for(&[], Some(&iss(A)), Some(A)), "a key without an issuer member");
    }

    #[test]
    fn ms_4_the_same_oid_in_two_tenants_is_two_subjects() {
        let both = list(&[A, B]);
        let a = subject(T, &both, Some(&iss(A)), Some(A), Some(O)).unwrap();
        let b = subject(T, &both, Some(&iss(B)), Some(B), Some(O)).unwrap();
        assert_ne!(a, b);
    }
}
