//! `x2edit-serve`: a small static file server for the browser demo (std only, local use).
//!
//! ```sh
//! web/build.sh                                   # the wasm package into web/pkg
//! cargo run --release -p x2edit-web --bin x2edit-serve    # http://127.0.0.1:8080/
//! ```
//!
//! Serves the `web/` folder (`--root DIR`), `/` redirecting to the page in `www/`, with the
//! MIME types browsers insist on (`application/wasm` for streaming compilation, `text/javascript`
//! for modules) and no caching. GET and HEAD only; paths are confined to the root. `--port 0`
//! picks a free port; the first line on stdout is the URL.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

const USAGE: &str = "usage: x2edit-serve [--root DIR] [--host ADDR] [--port N]\n  --root  folder to serve (default: the web/ folder of this checkout)\n  --host  default 127.0.0.1\n  --port  default 8080; 0 picks a free port\n";

fn main() {
    let mut root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut host = "127.0.0.1".to_string();
    let mut port = "8080".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("x2edit-serve: {name} needs a value\n{USAGE}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--root" => root = PathBuf::from(val("--root")),
            "--host" => host = val("--host"),
            "--port" => port = val("--port"),
            "-h" | "--help" => {
                print!("{USAGE}");
                return;
            }
            _ => {
                eprintln!("x2edit-serve: unknown argument '{a}'\n{USAGE}");
                std::process::exit(2)
            }
        }
    }
    let root = match root.canonicalize() {
        Ok(r) if r.is_dir() => r,
        _ => {
            eprintln!("x2edit-serve: {} is not a folder", root.display());
            std::process::exit(1)
        }
    };
    if !root.join("pkg").join("x2edit_web_bg.wasm").is_file() {
        eprintln!("x2edit-serve: warning: {}/pkg has no wasm package yet (run web/build.sh)", root.display());
    }
    let listener = TcpListener::bind(format!("{host}:{port}")).unwrap_or_else(|e| {
        eprintln!("x2edit-serve: cannot listen on {host}:{port}: {e}");
        std::process::exit(1)
    });
    let addr = listener.local_addr().expect("bound address");
    println!("http://{addr}/");
    eprintln!("x2edit-serve: serving {} (Ctrl-C stops)", root.display());
    for stream in listener.incoming().flatten() {
        let root = root.clone();
        std::thread::spawn(move || {
            let _ = handle(stream, &root);
        });
    }
}

fn mime(p: &Path) -> &'static str {
    match p.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file a request path names, or None when it leaves the root or is not a plain path.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let path = percent_decode(path)?;
    let mut out = root.to_path_buf();
    for c in Path::new(path.trim_start_matches('/')).components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn handle(stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        // Skip the headers (no request bodies: GET and HEAD only).
        let mut keep_alive = true;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                break;
            }
            if h.to_ascii_lowercase().starts_with("connection:") && h.to_ascii_lowercase().contains("close") {
                keep_alive = false;
            }
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let head = method == "HEAD";
        if method != "GET" && !head {
            respond(&mut out, "405 Method Not Allowed", "text/plain", b"GET or HEAD only\n", head, &[])?;
        } else if target == "/" || target.starts_with("/?") {
            let loc = format!("/www/{}", &target[1..]);
            respond(&mut out, "302 Found", "text/plain", b"", head, &[("Location", &loc)])?;
        } else {
            match resolve(root, target).map(|p| (std::fs::read(&p), p)) {
                Some((Ok(body), p)) => respond(&mut out, "200 OK", mime(&p), &body, head, &[])?,
                Some((Err(_), _)) => respond(&mut out, "404 Not Found", "text/plain", b"not found\n", head, &[])?,
                None => respond(&mut out, "403 Forbidden", "text/plain", b"forbidden\n", head, &[])?,
            }
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

fn respond(out: &mut TcpStream, status: &str, ctype: &str, body: &[u8], head: bool, extra: &[(&str, &str)]) -> std::io::Result<()> {
    let mut h = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n", body.len());
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    out.write_all(h.as_bytes())?;
    if !head {
        out.write_all(body)?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        let root = Path::new("/srv/web");
        assert_eq!(resolve(root, "/www/main.js?x=1"), Some(PathBuf::from("/srv/web/www/main.js")));
        assert_eq!(resolve(root, "/pkg/a%20b.wasm"), Some(PathBuf::from("/srv/web/pkg/a b.wasm")));
        assert_eq!(resolve(root, "/www/../../etc/passwd"), None);
        assert_eq!(resolve(root, "/%2e%2e/secret"), None);
        assert_eq!(resolve(root, "/bad%zz"), None);
        assert_eq!(mime(Path::new("x.wasm")), "application/wasm");
        assert_eq!(mime(Path::new("x.js")), "text/javascript; charset=utf-8");
    }
}
