//! Load: 2,000 concurrent keep-alive connections doing 20 requests each
//! against the tokio and smol servers, on loopback, bounded in time.

mod support;

use std::net::SocketAddr;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wirestate_rt::http1::ServerConfig;

const CONNECTIONS: usize = 2000;
const REQUESTS: usize = 20;

async fn one_connection(addr: SocketAddr) -> Result<usize, String> {
    let mut stream = None;
    for attempt in 0..20 {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            // The accept backlog can overflow for a moment under 2,000 connects.
            Err(_) => tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await,
        }
    }
    let mut s = stream.ok_or("connect failed")?;
    let mut buf = Vec::with_capacity(256);
    let mut ok = 0;
    for _ in 0..REQUESTS {
        s.write_all(b"GET / HTTP/1.1\r\nHost: load\r\n\r\n")
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let mut slots = [httparse::EMPTY_HEADER; 16];
            let mut res = httparse::Response::new(&mut slots);
            if let Ok(httparse::Status::Complete(n)) = res.parse(&buf) {
                if res.code != Some(200) {
                    return Err(format!("status {:?}", res.code));
                }
                if buf.len() >= n + 5 {
                    if &buf[n..n + 5] != b"hello" {
                        return Err("wrong body".into());
                    }
                    buf.drain(..n + 5);
                    ok += 1;
                    break;
                }
            }
            let mut chunk = [0u8; 512];
            let got = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if got == 0 {
                return Err("server closed early".into());
            }
            buf.extend_from_slice(&chunk[..got]);
        }
    }
    Ok(ok)
}

fn load<T: TestRuntime>() {
    let srv = T::start(ServerConfig::default());
    let addr = srv.addr;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async move {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| tokio::spawn(one_connection(addr)))
            .collect();
        let all = async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.map_err(|e| e.to_string()).and_then(|r| r));
            }
            out
        };
        tokio::time::timeout(Duration::from_secs(120), all)
            .await
            .expect("load test timed out")
    });
    let errors: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        errors.is_empty(),
        "{}: {} connections failed, e.g. {:?}",
        T::NAME,
        errors.len(),
        errors.first()
    );
    let total: usize = results.iter().map(|r| *r.as_ref().unwrap()).sum();
    assert_eq!(total, CONNECTIONS * REQUESTS);
    assert!(srv.stop());
}

#[test]
fn tokio_server_2000_connections() {
    load::<Tokio>();
}

#[test]
fn smol_server_2000_connections() {
    load::<Smol>();
}
