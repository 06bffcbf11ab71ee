//! A real OpenLDAP `slapd` for the LDAP tests: a generated `slapd.conf` (mdb backend, core/cosine/
//! inetorgperson/nis schema) and LDIF in a temporary folder, loaded with `slapadd`, served on a free loopback
//! port, answered (a real bind) before the test goes on, killed on drop. Its `stats` log (one line per operation
//! received) is kept in the folder, so a test can count the binds the directory saw; `start_with_lockout` adds
//! the ppolicy overlay with a real lockout after `pwdMaxFailure` wrong passwords.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SUFFIX: &str = "dc=example,dc=org";
pub const SERVICE_DN: &str = "cn=svc,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-pw";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PASSWORD: &str = "admin-root-pw";
const POLICY: &str = "cn=lockout,ou=policies,dc=example,dc=org";

/// People of the directory: (uid, password, cn, mail).
pub const USERS: [(&str, &str, &str, &str); 3] = [
    ("ada", "ada-pw", "Ada Lovelace", "Ada@Example.org"),
    ("bob", "bob-pw", "Bob Builder", "bob@example.org"),
    ("admin", "admin-pw", "Admin", "admin@example.org"),
];

pub struct Slapd {
    pub url: String,
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

fn config(dir: &Path, lockout: bool) -> String {
    let (module, overlay) = if lockout {
        ("moduleload ppolicy\n", format!("overlay ppolicy\nppolicy_default \"{POLICY}\"\n"))
    } else {
        ("", String::new())
    };
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
{module}pidfile {d}/slapd.pid
argsfile {d}/slapd.args
# Unauthenticated binds (a DN with an empty password) succeed here, as on many directories: the broker must
# never send one.
allow bind_anon_dn
database mdb
maxsize 10485760
suffix \"{SUFFIX}\"
rootdn \"{ROOT_DN}\"
rootpw {ROOT_PASSWORD}
directory {d}/db
access to attrs=userPassword by self read by anonymous auth by * none
access to * by users read by * none
{overlay}",
        d = dir.display()
    )
}

/// The lockout policy: `max_failure` wrong passwords lock the entry until an admin unlocks it.
fn policy_ldif(max_failure: u32) -> String {
    format!(
        "dn: ou=policies,{SUFFIX}\nobjectClass: organizationalUnit\nou: policies\n\n\
         dn: {POLICY}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: lockout\npwdAttribute: userPassword\n\
         pwdMaxFailure: {max_failure}\npwdLockout: TRUE\npwdLockoutDuration: 0\npwdFailureCountInterval: 0\n\n"
    )
}

fn ldif() -> String {
    let mut out = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n\
         dn: {SERVICE_DN}\nobjectClass: person\ncn: svc\nsn: svc\nuserPassword: {SERVICE_PASSWORD}\n\n"
    );
    for (uid, pw, cn, mail) in USERS {
        out.push_str(&format!(
            "dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {cn}\nsn: {cn}\nmail: {mail}\nuserPassword: {pw}\n\n"
        ));
    }
    // Ada is an admin and staff, Bob only staff.
    out.push_str(&format!(
        "dn: cn=admins,{GROUPS}\nobjectClass: groupOfNames\ncn: admins\nmember: uid=ada,{PEOPLE}\n\n\
         dn: cn=staff,{GROUPS}\nobjectClass: groupOfNames\ncn: staff\nmember: uid=ada,{PEOPLE}\nmember: uid=bob,{PEOPLE}\n\n"
    ));
    out
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Slapd {
    /// Starts a directory with [`USERS`] and their groups; panics with slapd's own words if it cannot.
    pub async fn start() -> Slapd {
        Slapd::start_inner(None).await
    }

    /// The same directory with a lockout policy (ppolicy): `max_failure` wrong passwords for an entry lock it
    /// for good (`pwdLockoutDuration: 0`, failures never forgotten), as an Active Directory lockout would.
    pub async fn start_with_lockout(max_failure: u32) -> Slapd {
        Slapd::start_inner(Some(max_failure)).await
    }

    async fn start_inner(lockout: Option<u32>) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, config(dir.path(), lockout.is_some())).unwrap();
        let data = ldif() + &lockout.map(policy_ldif).unwrap_or_default();
        std::fs::write(dir.path().join("data.ldif"), data).unwrap();
        let load = Command::new("/usr/sbin/slapadd")
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(dir.path().join("data.ldif"))
            .output()
            .expect("slapadd (Debian package slapd) is installed");
        assert!(load.status.success(), "slapadd failed: {}", String::from_utf8_lossy(&load.stderr));
        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let child = Command::new("/usr/sbin/slapd")
            .arg("-h")
            .arg(format!("{url}/"))
            .arg("-f")
            .arg(&conf)
            // -d keeps it in the foreground (so it is our child and dies with `kill`); `stats` logs each
            // operation as it is received (before it is answered) to stderr, which goes to slapd.log.
            .arg("-d")
            .arg("stats")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("slapd.log")).unwrap()))
            .spawn()
            .expect("slapd is installed");
        let mut s = Slapd { url, port, child: Some(child), dir };
        s.wait_until_it_answers().await;
        s
    }

    /// Polls with a real service bind until it succeeds (or slapd died, or 20 s passed).
    async fn wait_until_it_answers(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("slapd exited ({status}): {}", self.log());
            }
            if self.bind(SERVICE_DN, SERVICE_PASSWORD).await {
                return;
            }
            assert!(Instant::now() < deadline, "slapd did not answer within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A simple bind; true when it succeeded.
    pub async fn bind(&self, dn: &str, pw: &str) -> bool {
        let settings = ldap3::LdapConnSettings::new().set_conn_timeout(Duration::from_secs(1));
        let Ok(Ok((conn, mut ldap))) =
            tokio::time::timeout(Duration::from_secs(2), ldap3::LdapConnAsync::with_settings(settings, &self.url))
                .await
        else {
            return false;
        };
        let driver = tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(2), ldap.simple_bind(dn, pw)).await,
            Ok(Ok(r)) if r.rc == 0
        );
        let _ = ldap.unbind().await;
        driver.abort();
        ok
    }

    /// The `entryUUID` of a person, read as the service account.
    pub async fn entry_uuid(&self, uid: &str) -> String {
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&self.url).await.unwrap();
        let driver = tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        ldap.simple_bind(SERVICE_DN, SERVICE_PASSWORD).await.unwrap().success().unwrap();
        let (found, _) = ldap
            .search(&format!("uid={uid},{PEOPLE}"), ldap3::Scope::Base, "(objectClass=*)", vec!["entryUUID"])
            .await
            .unwrap()
            .success()
            .unwrap();
        let e = ldap3::SearchEntry::construct(found.into_iter().next().unwrap());
        driver.abort();
        e.attrs["entryUUID"][0].clone()
    }

    /// Stops the server (the port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn folder(&self) -> &Path {
        self.dir.path()
    }

    /// What slapd logged so far (one `stats` line per operation received).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// The DNs of the simple binds the directory received, in order (logged when received, before the answer;
    /// `method=128` is a simple bind, a successful one logs a second line without it).
    pub fn bound_dns(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(" BIND dn=\"") && l.ends_with("method=128"))
            .filter_map(|l| l.split(" BIND dn=\"").nth(1)?.split('"').next().map(String::from))
            .collect()
    }

    /// How many binds the directory received for this DN.
    pub fn binds_of(&self, dn: &str) -> usize {
        self.bound_dns().iter().filter(|d| d.as_str() == dn).count()
    }

    /// Binds of anyone but the service account (which also binds for health checks).
    pub fn person_binds(&self) -> usize {
        self.bound_dns().iter().filter(|d| d.as_str() != SERVICE_DN).count()
    }

    /// Searches the directory received.
    pub fn searches(&self) -> usize {
        self.log().lines().filter(|l| l.contains(" SRCH base=")).count()
    }

    /// The failed binds ppolicy remembers for a person (`pwdFailureTime` values), read as the root DN.
    pub async fn failures_of(&self, uid: &str) -> usize {
        self.operational(uid, "pwdFailureTime").await.len()
    }

    /// Whether ppolicy has locked a person's entry (`pwdAccountLockedTime` set).
    pub async fn is_locked(&self, uid: &str) -> bool {
        !self.operational(uid, "pwdAccountLockedTime").await.is_empty()
    }

    async fn operational(&self, uid: &str, attr: &str) -> Vec<String> {
        let (conn, mut ldap) = ldap3::LdapConnAsync::new(&self.url).await.unwrap();
        let driver = tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        ldap.simple_bind(ROOT_DN, ROOT_PASSWORD).await.unwrap().success().unwrap();
        let (found, _) = ldap
            .search(&format!("uid={uid},{PEOPLE}"), ldap3::Scope::Base, "(objectClass=*)", vec![attr])
            .await
            .unwrap()
            .success()
            .unwrap();
        let e = ldap3::SearchEntry::construct(found.into_iter().next().unwrap());
        let _ = ldap.unbind().await;
        driver.abort();
        e.attrs.into_iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)).map(|(_, v)| v).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
