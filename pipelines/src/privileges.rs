//! Dropping root after the live interfaces are open: a sensor started as root (to
//! capture) switches to an unprivileged user (`nobody` unless the topology's `user` or
//! `--user` names another) before it reads a packet, as tcpdump's `-Z` and Suricata's
//! `--user` do. Its supplementary groups go, then its group, then its user; that root
//! cannot be taken back is checked. The store must be writable by that user: one
//! that does not exist yet is created and given to it, any other is checked.

use std::ffi::CString;
use std::io;
use std::path::Path;

use anyhow::{Context, bail};

/// The user a run started as root switches to by default.
pub const DEFAULT_USER: &str = "nobody";

/// Who the process became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The user's name.
    pub user: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

/// Whether the process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// As root, become `user` (a name or numeric uid), making sure `store` (created if
/// missing), when given, is writable by it; `None` when not root (nothing to drop).
pub fn drop_root(user: &str, store: Option<&Path>) -> anyhow::Result<Option<Dropped>> {
    if !is_root() {
        return Ok(None);
    }
    let (uid, gid) = lookup(user)?;
    if uid == 0 {
        bail!("`user = {user:?}` is root: name an unprivileged user to switch to");
    }
    if let Some(store) = store
        && !store.exists()
    {
        std::fs::create_dir_all(store)
            .with_context(|| format!("cannot create the store {}", store.display()))?;
        std::os::unix::fs::chown(store, Some(uid), Some(gid))
            .with_context(|| format!("cannot give the store {} to {user}", store.display()))?;
    }
    // SAFETY: setgroups reads one gid from a valid one-element array; return checked.
    check(unsafe { libc::setgroups(1, &gid) }, "setgroups")?;
    // SAFETY: setgid and setuid take plain ids; their return codes are checked.
    check(unsafe { libc::setgid(gid) }, "setgid")?;
    // SAFETY: as above.
    check(unsafe { libc::setuid(uid) }, "setuid")?;
    // SAFETY: setuid(0) as the unprivileged user must fail; it changes nothing if so.
    if unsafe { libc::setuid(0) } == 0 {
        bail!("root could be taken back after switching to {user}");
    }
    if let Some(store) = store {
        let probe = store.join(format!(".vigil-write-probe-{}", std::process::id()));
        std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe)).with_context(
            || {
                format!(
                    "the store {} is not writable by {user} (uid {uid}), the user this run \
                     switched to after opening its interfaces: give it to {user} (chown) or \
                     set `user`",
                    store.display()
                )
            },
        )?;
    }
    tracing::info!(user, uid, gid, "opened the interfaces as root; now running as {user}");
    Ok(Some(Dropped { user: user.to_string(), uid, gid }))
}

/// The uid and primary gid of `user` (a name, or a numeric uid).
fn lookup(user: &str) -> anyhow::Result<(u32, u32)> {
    let name = CString::new(user).context("a user name holds no NUL")?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero `passwd` is a valid value of this plain C struct.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: the NUL-terminated name, the struct,
    // the buffer with its true length, and the out-pointer; the return code is checked.
    let rc = unsafe {
        libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut found)
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc)).context(format!("looking up user {user}"));
    }
    if found.is_null() {
        if let Ok(uid) = user.parse::<u32>() {
            return Ok((uid, uid));
        }
        bail!("no user {user:?} on this system (set `user` to an existing one)");
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

fn check(rc: libc::c_int, what: &str) -> anyhow::Result<()> {
    if rc != 0 {
        return Err(io::Error::last_os_error()).context(format!("{what} while dropping root"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_looked_up_by_name_or_number() {
        assert_eq!(lookup("root").unwrap(), (0, 0));
        assert_eq!(lookup("4242").unwrap(), (4242, 4242));
        assert!(lookup("no-such-user-vigil").unwrap_err().to_string().contains("no user"));
    }
}
