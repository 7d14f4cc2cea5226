//! Tests of the permission model (pve-access-control's semantics).

use super::super::{Pool, Token, User};
use super::*;

fn cfg() -> AccessConfig {
    let mut cfg = AccessConfig::new("paas", "secret");
    let mut alice = User {
        enable: true,
        ..User::default()
    };
    for (t, privsep) in [("sep", true), ("full", false)] {
        alice.tokens.insert(
            t.into(),
            Token {
                privsep,
                expire: 0,
                comment: None,
                secret: "x".into(),
            },
        );
    }
    cfg.users.insert("alice@pve".into(), alice);
    cfg
}

fn grant(cfg: &mut AccessConfig, path: &str, who: &str, role: &str, propagate: bool) {
    let node = cfg.acl.entry(path.into()).or_default();
    let map = if who.contains('!') {
        &mut node.tokens
    } else {
        &mut node.users
    };
    map.entry(who.into())
        .or_default()
        .insert(role.into(), propagate);
}

#[test]
fn propagation_and_noaccess() {
    let mut c = cfg();
    grant(&mut c, "/vms", "alice@pve", "PVEVMUser", true);
    let p = Perms::new(&c, "alice@pve");
    assert!(p.has("/vms/100", &["VM.PowerMgmt"]));
    assert!(!p.has("/vms/100", &["VM.Allocate"]));
    assert_eq!(
        p.check("/vms/100", &["VM.Allocate"]).unwrap_err().message,
        "Permission check failed (/vms/100, VM.Allocate)"
    );
    grant(&mut c, "/vms/101", "alice@pve", "NoAccess", false);
    let p = Perms::new(&c, "alice@pve");
    assert!(!p.has("/vms/101", &["VM.Audit"]));
    // Not propagated: only the path itself.
    grant(&mut c, "/storage", "alice@pve", "PVEDatastoreUser", false);
    let p = Perms::new(&c, "alice@pve");
    assert!(p.has("/storage", &["Datastore.AllocateSpace"]));
    assert!(!p.has("/storage/local", &["Datastore.AllocateSpace"]));
}

#[test]
fn tokens_intersect_with_their_user() {
    let mut c = cfg();
    // The privsep token has more than alice: it gets only what both have.
    grant(&mut c, "/", "alice@pve!sep", "Administrator", true);
    grant(&mut c, "/vms", "alice@pve", "PVEVMUser", true);
    let t = Perms::new(&c, "alice@pve!sep");
    assert!(t.has("/vms/100", &["VM.PowerMgmt"]));
    assert!(!t.has("/vms/100", &["VM.Allocate"]), "alice lacks it");
    assert!(!t.has("/nodes/pve1", &["Sys.Audit"]));
    // Without its own ACL a privsep token has nothing.
    c.acl.clear();
    grant(&mut c, "/", "alice@pve", "Administrator", true);
    assert!(
        Perms::new(&c, "alice@pve!sep")
            .privileges("/vms/100")
            .is_empty()
    );
    // A token without privilege separation has its user's rights.
    assert!(Perms::new(&c, "alice@pve!full").has("/vms/100", &["VM.Allocate"]));
    // An unknown token nothing.
    assert!(Perms::new(&c, "alice@pve!nope").privileges("/").is_empty());
    // root's own token (privsep 0) everything.
    assert!(Perms::new(&c, "root@pam!paas").has("/", &["Sys.PowerMgmt"]));
}

#[test]
fn pool_roles_reach_members_only() {
    let mut c = cfg();
    c.pools.insert(
        "tenant".into(),
        Pool {
            vms: [100].into(),
            ..Pool::default()
        },
    );
    grant(&mut c, "/pool/tenant", "alice@pve", "PVEVMAdmin", true);
    let p = Perms::new(&c, "alice@pve");
    assert!(p.has("/vms/100", &["VM.Allocate"]));
    assert!(!p.has("/vms/101", &["VM.Allocate"]));
    // A NoAccess on the guest itself is not trumped by the pool.
    grant(&mut c, "/vms/100", "alice@pve", "NoAccess", false);
    assert!(!Perms::new(&c, "alice@pve").has("/vms/100", &["VM.Audit"]));
}

#[test]
fn schema_checks() {
    let mut c = cfg();
    grant(&mut c, "/vms/100", "alice@pve", "PVEVMUser", false);
    let params: BTreeMap<String, String> = [("vmid".to_string(), "100".to_string())].into();
    let perm = json!({"check": ["perm", "/vms/{vmid}", ["VM.PowerMgmt"]]});
    assert!(check_permissions(&c, &perm, "alice@pve", &params).is_ok());
    let perm = json!({"check": ["perm", "/vms/{vmid}", ["VM.Allocate"]]});
    let e = check_permissions(&c, &perm, "alice@pve", &params).unwrap_err();
    assert_eq!(
        (e.status, e.message.as_str()),
        (403, "Permission check failed (/vms/100, VM.Allocate)")
    );
    let any = json!({"check": ["perm", "/vms/{vmid}", ["VM.Allocate", "VM.Backup"], "any", 1]});
    assert!(check_permissions(&c, &any, "alice@pve", &params).is_ok());
    let clone = json!({"check": ["and", ["perm", "/vms/{vmid}", ["VM.Clone"]], ["or", ["perm", "/vms/{newid}", ["VM.Allocate"]], ["perm", "/pool/{pool}", ["VM.Allocate"], "require_param", "pool"]]]});
    let e = check_permissions(&c, &clone, "alice@pve", &params).unwrap_err();
    assert_eq!(e.message, "Permission check failed (/vms/100, VM.Clone)");
    assert!(check_permissions(&c, &json!({"user": "all"}), "alice@pve", &params).is_ok());
    assert!(
        check_permissions(
            &c,
            &json!({"check": ["perm", "/", ["Sys.Audit"]]}),
            ROOT,
            &params
        )
        .is_ok()
    );
    assert_eq!(
        check_permissions(&c, &json!({}), "alice@pve", &params)
            .unwrap_err()
            .message,
        "Permission check failed (user != root@pam)"
    );
    assert_eq!(template_replace("/vms/{newid}", &params), "/vms/-");
}

#[test]
fn paths_normalise() {
    assert_eq!(normalize_path("vms//100/").as_deref(), Some("/vms/100"));
    assert_eq!(normalize_path("/").as_deref(), Some("/"));
    assert_eq!(normalize_path("/a b"), None);
}
