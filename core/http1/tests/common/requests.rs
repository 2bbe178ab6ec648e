//! The request kinds shared by the criterion bench (`benches/server.rs`)
//! and the allocation test (`tests/alloc.rs`), so both measure the same bytes.
#![allow(dead_code)]

/// What `curl` sends for a plain GET.
pub const SMALL_GET: &[u8] = b"GET /api/v1/status HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: curl/8.5.0\r\n\
Accept: */*\r\n\
\r\n";

/// A top-level navigation as Chrome 124 on Windows sends it (18 fields).
pub const BROWSER_GET: &[u8] = b"GET /articles/sans-io-state-machines?ref=home HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Windows\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-User: ?1\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/articles\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n\
Cookie: session_id=4f9c2a7e1b3d4c5e8f60718293a4b5c6; _ga=GA1.1.1234567890.1712345678; theme=dark\r\n\
If-None-Match: W/\"5e1f-18c2b3a4d5e\"\r\n\
\r\n";

/// A JSON API call with a 1 KiB body.
pub const POST_HEAD: &[u8] = b"POST /api/v1/events HTTP/1.1\r\n\
Host: api.example.com\r\n\
User-Agent: python-requests/2.31.0\r\n\
Accept-Encoding: gzip, deflate\r\n\
Accept: application/json\r\n\
Connection: keep-alive\r\n\
Content-Type: application/json\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl\r\n\
Content-Length: 1024\r\n\
\r\n";

pub const POST_BODY_LEN: usize = 1024;

/// How many requests the pipelined case sends in one read.
pub const PIPELINED: usize = 16;
