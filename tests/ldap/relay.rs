//! A TCP relay in front of slapd that reads the LDAP messages passing through (BER framing only): it counts the
//! searches and the simple binds of one DN, and holds each BindResponse to a bind of that DN until the test
//! releases it, so that a test can act while the directory has processed a bind whose answer the broker has not
//! seen yet (no timing).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

pub struct Relay {
    pub url: String,
    /// Binds of the held DN received so far.
    binds: watch::Receiver<usize>,
    /// Search requests received so far.
    searches: watch::Receiver<usize>,
    release: Arc<Semaphore>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    dn: String,
    binds: watch::Sender<usize>,
    searches: watch::Sender<usize>,
    release: Arc<Semaphore>,
}

impl Relay {
    /// Relays to `upstream_port` on loopback, holding the answers to binds of `dn`.
    pub async fn start(upstream_port: u16, dn: &str) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ldap://{}", listener.local_addr().unwrap());
        let (binds_tx, binds) = watch::channel(0);
        let (searches_tx, searches) = watch::channel(0);
        let release = Arc::new(Semaphore::new(0));
        let shared =
            Arc::new(Shared { dn: dn.to_string(), binds: binds_tx, searches: searches_tx, release: release.clone() });
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await else { continue };
                tokio::spawn(pump_pair(client, server, shared.clone()));
            }
        });
        Relay { url, binds, searches, release, task }
    }

    /// Waits until the relay has seen at least `n` binds of the held DN.
    pub async fn wait_binds(&self, n: usize) {
        self.binds.clone().wait_for(|v| *v >= n).await.unwrap();
    }

    /// Waits until the relay has seen at least `n` searches.
    pub async fn wait_searches(&self, n: usize) {
        self.searches.clone().wait_for(|v| *v >= n).await.unwrap();
    }

    pub fn binds(&self) -> usize {
        *self.binds.borrow()
    }

    pub fn searches(&self) -> usize {
        *self.searches.borrow()
    }

    /// Lets `n` held answers (present or future) through.
    pub fn release(&self, n: usize) {
        self.release.add_permits(n);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump_pair(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let held = Arc::new(Mutex::new(HashSet::new()));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = tokio::spawn(pump(cr, sw, shared.clone(), held.clone(), true));
    let down = tokio::spawn(pump(sr, cw, shared, held, false));
    let _ = up.await;
    let _ = down.await;
}

/// Copies whole LDAP messages from `r` to `w`; requests are inspected, held answers wait for a release.
async fn pump(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    shared: Arc<Shared>,
    held: Arc<Mutex<HashSet<Vec<u8>>>>,
    requests: bool,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        while let Some(n) = message_len(&buf) {
            let msg: Vec<u8> = buf.drain(..n).collect();
            if let Some((id, op, body)) = parse(&msg) {
                if requests {
                    if op == 0x63 {
                        shared.searches.send_modify(|v| *v += 1);
                    }
                    if op == 0x60 && bind_dn(body).as_deref() == Some(shared.dn.as_bytes()) {
                        held.lock().unwrap().insert(id.to_vec());
                        shared.binds.send_modify(|v| *v += 1);
                    }
                } else if op == 0x61 && held.lock().unwrap().remove(id) {
                    shared.release.acquire().await.unwrap().forget();
                }
            }
            if w.write_all(&msg).await.is_err() {
                return;
            }
        }
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                let _ = w.shutdown().await;
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A BER length at `pos`: (length, position after it).
fn length(b: &[u8], pos: usize) -> Option<(usize, usize)> {
    let first = *b.get(pos)?;
    if first < 0x80 {
        return Some((first as usize, pos + 1));
    }
    let n = (first & 0x7f) as usize;
    let bytes = b.get(pos + 1..pos + 1 + n)?;
    Some((bytes.iter().fold(0usize, |a, x| (a << 8) | *x as usize), pos + 1 + n))
}

/// The length of the first whole message in `b`, if it is all there.
fn message_len(b: &[u8]) -> Option<usize> {
    let (len, start) = length(b, 1)?;
    (b.len() >= start + len).then_some(start + len)
}

/// (message id bytes, protocol op tag, op content) of one LDAPMessage.
fn parse(m: &[u8]) -> Option<(&[u8], u8, &[u8])> {
    let (_, pos) = length(m, 1)?;
    let (id_len, id_start) = length(m, pos + 1)?;
    let id = m.get(id_start..id_start + id_len)?;
    let op_pos = id_start + id_len;
    let op = *m.get(op_pos)?;
    let (op_len, op_start) = length(m, op_pos + 1)?;
    Some((id, op, m.get(op_start..op_start + op_len)?))
}

/// The name of a BindRequest: version INTEGER, then name OCTET STRING.
fn bind_dn(body: &[u8]) -> Option<Vec<u8>> {
    let (v_len, v_start) = length(body, 1)?;
    let name_pos = v_start + v_len;
    let (n_len, n_start) = length(body, name_pos + 1)?;
    body.get(n_start..n_start + n_len).map(<[u8]>::to_vec)
}
