//! PVE's built-in roles, derived from the privilege groups exactly as pve-access-control's
//! `create_roles` does (AC AccessControl.pm:1050-1199, pinned df0a60e74d80).

use std::collections::{BTreeMap, BTreeSet};

/// One privilege category: `(category, root-only, admin, user, audit)`.
type Group = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

/// AC AccessControl.pm:1050 `my $privgroups = { ... }`.
const PRIVGROUPS: [Group; 7] = [
    (
        "VM",
        &[],
        &[
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.HWType",
            "VM.Config.Options",
            "VM.Allocate",
            "VM.Clone",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ],
        &[
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.Backup",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ],
        &["VM.Audit", "VM.GuestAgent.Audit"],
    ),
    (
        "Sys",
        &[
            "Sys.PowerMgmt",
            "Sys.Modify",
            "Sys.Incoming",
            "Sys.AccessNetwork",
        ],
        &["Sys.Console", "Sys.Syslog"],
        &[],
        &["Sys.Audit"],
    ),
    (
        "Datastore",
        &[],
        &["Datastore.Allocate", "Datastore.AllocateTemplate"],
        &["Datastore.AllocateSpace"],
        &["Datastore.Audit"],
    ),
    (
        "SDN",
        &[],
        &["SDN.Allocate", "SDN.Audit"],
        &["SDN.Use"],
        &["SDN.Audit"],
    ),
    (
        "User",
        &["Realm.Allocate"],
        &["User.Modify", "Group.Allocate", "Realm.AllocateUser"],
        &[],
        &[],
    ),
    (
        "Pool",
        &[],
        &["Pool.Allocate"],
        &["Pool.Audit"],
        &["Pool.Audit"],
    ),
    (
        "Mapping",
        &[],
        &["Mapping.Modify"],
        &["Mapping.Use"],
        &["Mapping.Audit"],
    ),
];

/// Every valid privilege name (`$valid_privs`).
pub(crate) fn valid_privs() -> BTreeSet<String> {
    let mut all: BTreeSet<String> = BTreeSet::from(["Permissions.Modify".to_string()]);
    for (_, root, admin, user, audit) in PRIVGROUPS {
        for p in root.iter().chain(admin).chain(user).chain(audit) {
            all.insert((*p).to_string());
        }
    }
    all
}

/// The built-in ("special") roles and their privileges (`create_roles`).
pub(crate) fn builtin_roles() -> BTreeMap<String, BTreeSet<String>> {
    let mut roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |role: String, privs: &[&str]| {
        roles
            .entry(role)
            .or_default()
            .extend(privs.iter().map(|p| (*p).to_string()));
    };
    for (cat, _, admin, user, audit) in PRIVGROUPS {
        for list in [admin, user, audit] {
            add(format!("PVE{cat}Admin"), list);
            add("PVEAdmin".to_string(), list);
        }
        if !user.is_empty() {
            add(format!("PVE{cat}User"), user);
            add(format!("PVE{cat}User"), audit);
        }
        add("PVEAuditor".to_string(), audit);
    }
    add("PVETemplateUser".to_string(), &["VM.Clone", "VM.Audit"]);
    // "remove Mapping.Modify from PVEAdmin, only Administrator, root@pam and PVEMappingAdmin
    // should be able to use that for now" (AC AccessControl.pm:1192-1194).
    if let Some(admin) = roles.get_mut("PVEAdmin") {
        admin.remove("Mapping.Modify");
    }
    roles.insert("NoAccess".to_string(), BTreeSet::new());
    roles.insert("Administrator".to_string(), valid_privs());
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_have_pves_privilege_lists() {
        let r = builtin_roles();
        let set = |name: &str| -> Vec<&str> { r[name].iter().map(String::as_str).collect() };
        assert_eq!(
            set("PVEAuditor"),
            vec![
                "Datastore.Audit",
                "Mapping.Audit",
                "Pool.Audit",
                "SDN.Audit",
                "Sys.Audit",
                "VM.Audit",
                "VM.GuestAgent.Audit",
            ]
        );
        assert_eq!(
            set("PVEDatastoreUser"),
            vec!["Datastore.AllocateSpace", "Datastore.Audit"]
        );
        assert_eq!(
            set("PVEVMUser"),
            vec![
                "VM.Audit",
                "VM.Backup",
                "VM.Config.CDROM",
                "VM.Config.Cloudinit",
                "VM.Console",
                "VM.GuestAgent.Audit",
                "VM.GuestAgent.FileRead",
                "VM.GuestAgent.FileSystemMgmt",
                "VM.GuestAgent.FileWrite",
                "VM.PowerMgmt",
            ]
        );
        assert_eq!(r["PVEVMAdmin"].len(), 23);
        assert!(r["PVEVMAdmin"].contains("VM.Allocate"));
        assert!(!r["PVEVMAdmin"].contains("Sys.Audit"));
        assert!(r["NoAccess"].is_empty());
        assert!(r["Administrator"].contains("Permissions.Modify"));
        assert!(r["Administrator"].contains("Sys.PowerMgmt"));
        assert!(!r["PVEAdmin"].contains("Sys.PowerMgmt"));
        assert!(!r["PVEAdmin"].contains("Mapping.Modify"));
        assert!(!r["PVEAdmin"].contains("Permissions.Modify"));
        assert!(
            !r.contains_key("PVEUserUser"),
            "User has no user privileges"
        );
        assert_eq!(set("PVETemplateUser"), vec!["VM.Audit", "VM.Clone"]);
        assert!(r.contains_key("PVEPoolUser") && r.contains_key("PVESDNUser"));
    }
}
